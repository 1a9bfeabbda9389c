package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Generators of a trial.
const (
	genRing = "v6gen-ring" // v6gen's TPACKET_V2 TX ring: skbs, what every datapath receives
	genC    = "c-ring"     // the minimal C TPACKET_V2 loop (txring.c), the bar v6gen must meet
	genLive = "v6gen-live" // v6gen's XDP live frames: XDP-based datapaths only
)

// Kinds of trial.
const (
	kindFixed = "fixed" // the fixed rate of -fixed (the cost figure)
	kindFlat  = "flat"  // the generator flat out
	kindSweep = "sweep" // around the delivered rate of an overloaded flat trial, for the peak
)

// trial is one measurement: offered is the generator's own count of frames
// handed to the kernel per second, delivered the sink's count per second,
// SinkDrops the frames per second the sink's ring had no room for (the
// measuring device's loss), NsPerPkt the router's CPU time per delivered
// packet (its tasks and the CPU's irq and softirq time, see sampleCPU),
// NsCPU1 all busy time of the router's CPU per delivered packet (which on a
// shared machine includes other work).
type trial struct {
	Round     int
	Forwarder string
	Gen       string
	Kind      string
	Offered   float64
	Delivered float64
	SinkDrops float64
	NsPerPkt  float64
	NsCPU1    float64
}

// otherLoad is the share of CPU1 that other work than the router took
// during a trial: all of CPU1's busy time less the router's, per second of
// the trial (both per delivered packet, times delivered per second). 0
// without a figure.
func (t trial) otherLoad() float64 {
	if t.NsCPU1 <= t.NsPerPkt || t.Delivered <= 0 {
		return 0
	}
	return (t.NsCPU1 - t.NsPerPkt) * t.Delivered / 1e9
}

// otherLoadLimit: a trial in which other work took at least this share of
// CPU1 is named in the report. The kernel's receive runs in softirqs that
// preempt other processes; the fast path's NAPI threads and workers share
// CPU1 with them, so such a trial understates the fast path.
const otherLoadLimit = 0.10

// otherLoadNote lists the trials in which other work took CPU1 (see
// otherLoadLimit), or returns "".
func otherLoadNote(ts []trial) string {
	var names []string
	for _, t := range ts {
		if l := t.otherLoad(); l >= otherLoadLimit {
			names = append(names, fmt.Sprintf("%s %s %s round %d (%.0f %%)", t.Forwarder, t.Gen, t.Kind, t.Round, 100*l))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("\n**Other work on CPU1** (≥ %.0f %% of it, all of CPU1 less the router's time) in: %s. "+
		"The kernel's receive softirqs preempt other processes; the fast path's NAPI threads and workers share CPU1 with them, "+
		"so these trials understate what the fast path delivers: rerun them on a quiet machine.\n",
		100*otherLoadLimit, strings.Join(names, "; "))
}

// capThreshold: a flat-out trial that delivers at least this share of what
// was offered measured the generator, not the router.
const capThreshold = 0.95

// capped reports whether a flat-out trial was limited by the generator.
func (t trial) capped() bool { return t.Offered > 0 && t.Delivered >= capThreshold*t.Offered }

// roundFigures are one forwarder's figures of one round.
type roundFigures struct {
	fixed    *trial            // at the fixed rate
	live     *trial            // live frames at the fixed rate (XDP-based datapaths)
	flat     map[string]*trial // flat out, by generator
	peak     map[string]float64
	overload map[string]float64 // flat delivered ÷ peak, where the flat trial was not generator-capped
}

// figures sorts trials into per-forwarder, per-round figures.
func figures(trials []trial) map[string]map[int]*roundFigures {
	out := map[string]map[int]*roundFigures{}
	for i := range trials {
		t := &trials[i]
		byRound := out[t.Forwarder]
		if byRound == nil {
			byRound = map[int]*roundFigures{}
			out[t.Forwarder] = byRound
		}
		f := byRound[t.Round]
		if f == nil {
			f = &roundFigures{flat: map[string]*trial{}, peak: map[string]float64{}, overload: map[string]float64{}}
			byRound[t.Round] = f
		}
		switch t.Kind {
		case kindFixed:
			switch t.Gen {
			case genRing:
				f.fixed = t
			case genLive:
				f.live = t
			}
		case kindFlat:
			f.flat[t.Gen] = t
		}
		gen := t.Gen
		if gen == genC {
			continue // a reference for the generator, not the router's peak
		}
		f.peak[gen] = max(f.peak[gen], t.Delivered)
	}
	for _, byRound := range out {
		for _, f := range byRound {
			for gen, t := range f.flat {
				if gen != genC && !t.capped() && f.peak[gen] > 0 {
					f.overload[gen] = t.Delivered / f.peak[gen]
				}
			}
		}
	}
	return out
}

// stat is a median with its range, over rounds.
type stat struct {
	med, lo, hi float64
	n           int
}

func statOf(xs []float64) stat {
	m, lo, hi := median(xs)
	return stat{m, lo, hi, len(xs)}
}

func (s stat) String() string { return s.format("%.0f") }

func (s stat) format(f string) string {
	if s.n == 0 {
		return "–"
	}
	if lo, hi := fmt.Sprintf(f, s.lo), fmt.Sprintf(f, s.hi); s.n == 1 || lo == hi {
		return fmt.Sprintf(f, s.med)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.med, s.lo, s.hi)
}

// collect returns f's value for each round of fw where ok.
func collect(fig map[string]map[int]*roundFigures, fw string, f func(*roundFigures) (float64, bool)) []float64 {
	var rounds []int
	for r := range fig[fw] {
		rounds = append(rounds, r)
	}
	slices.Sort(rounds)
	var xs []float64
	for _, r := range rounds {
		if v, ok := f(fig[fw][r]); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			xs = append(xs, v)
		}
	}
	return xs
}

// ratioTo returns, per round where both have it, f(fw) ÷ f(base).
func ratioTo(fig map[string]map[int]*roundFigures, fw, base string, f func(*roundFigures) (float64, bool)) []float64 {
	var xs []float64
	for r, a := range fig[fw] {
		b := fig[base][r]
		if b == nil {
			continue
		}
		va, oka := f(a)
		vb, okb := f(b)
		if oka && okb && vb > 0 {
			xs = append(xs, va/vb)
		}
	}
	slices.Sort(xs)
	return xs
}

// liveCostRatio is, per round, fw's router ns per packet with live frames
// at the fixed rate over base's with v6gen's ring at the fixed rate.
func liveCostRatio(fig map[string]map[int]*roundFigures, fw, base string) []float64 {
	var xs []float64
	for r, a := range fig[fw] {
		b := fig[base][r]
		if b == nil || a.live == nil || b.fixed == nil || b.fixed.NsPerPkt <= 0 {
			continue
		}
		if a.live.Offered < capThreshold*b.fixed.Offered {
			continue // the live trial did not reach the fixed rate
		}
		xs = append(xs, a.live.NsPerPkt/b.fixed.NsPerPkt)
	}
	slices.Sort(xs)
	return xs
}

// goal is one row of the goals table.
type goal struct {
	Figure, Target, Measured, Verdict string
}

func fixedNs(f *roundFigures) (float64, bool) {
	return valueOf(f.fixed, func(t *trial) float64 { return t.NsPerPkt })
}

func fixedShare(f *roundFigures) (float64, bool) {
	return valueOf(f.fixed, func(t *trial) float64 {
		if t.Offered == 0 {
			return math.NaN()
		}
		return min(1, t.Delivered/t.Offered)
	})
}

func valueOf(t *trial, f func(*trial) float64) (float64, bool) {
	if t == nil {
		return 0, false
	}
	return f(t), true
}

func flatDelivered(gen string) func(*roundFigures) (float64, bool) {
	return func(f *roundFigures) (float64, bool) {
		t := f.flat[gen]
		if t == nil {
			return 0, false
		}
		return t.Delivered, true
	}
}

func flatOffered(gen string) func(*roundFigures) (float64, bool) {
	return func(f *roundFigures) (float64, bool) {
		t := f.flat[gen]
		if t == nil {
			return 0, false
		}
		return t.Offered, true
	}
}

func cappedRounds(fig map[string]map[int]*roundFigures, fw, gen string) (capped, all int) {
	for _, f := range fig[fw] {
		if t := f.flat[gen]; t != nil {
			all++
			if t.capped() {
				capped++
			}
		}
	}
	return capped, all
}

// writeReport renders the results of a run as Markdown: the per-forwarder
// table, the generators' comparison and the goals with verdicts.
// header says how the run was made.
func writeReport(trials []trial, forwarders []string, header string, fixedRate float64) string {
	fig := figures(trials)
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "| forwarder | router ns/pkt @%.0fk | ×kernel | all of CPU1 | delivered @%.0fk (sink ring drops) | skb flat out: offered / delivered | ×kernel | own peak (skb) | overloaded ÷ peak | live frames: offered / delivered | ÷ own peak |\n", fixedRate/1000, fixedRate/1000)
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, fw := range forwarders {
		if fig[fw] == nil {
			continue
		}
		ns := statOf(collect(fig, fw, fixedNs))
		nsRatio := "1"
		if fw != "kernel" {
			nsRatio = statOf(ratioTo(fig, fw, "kernel", fixedNs)).format("%.2f")
		}
		cpu1 := statOf(collect(fig, fw, func(f *roundFigures) (float64, bool) {
			return valueOf(f.fixed, func(t *trial) float64 { return t.NsCPU1 })
		}))
		share := statOf(collect(fig, fw, func(f *roundFigures) (float64, bool) {
			v, ok := fixedShare(f)
			return 100 * v, ok
		})).format("%.2f %%")
		share += " (" + statOf(collect(fig, fw, func(f *roundFigures) (float64, bool) {
			return valueOf(f.fixed, func(t *trial) float64 {
				if t.Offered == 0 {
					return math.NaN()
				}
				return 100 * t.SinkDrops / t.Offered
			})
		})).format("%.2f %%") + ")"
		flat := statOf(collect(fig, fw, flatOffered(genRing))).String() + " / " + statOf(collect(fig, fw, flatDelivered(genRing))).String()
		capped, all := cappedRounds(fig, fw, genRing)
		flatRatio := "1"
		if fw != "kernel" {
			flatRatio = statOf(ratioTo(fig, fw, "kernel", flatDelivered(genRing))).format("%.2f")
		}
		if capped > 0 {
			flatRatio = fmt.Sprintf("generator-capped in %d of %d rounds", capped, all)
			if fw == "kernel" {
				flatRatio = "1 (" + flatRatio + ")"
			}
		}
		peak := statOf(collect(fig, fw, func(f *roundFigures) (float64, bool) { v := f.peak[genRing]; return v, v > 0 })).String()
		over := statOf(collect(fig, fw, func(f *roundFigures) (float64, bool) { v, ok := f.overload[genRing]; return v, ok })).format("%.2f")
		if over == "–" {
			over = "not overloaded (generator-capped)"
		}
		live, liveOver := "–", "–"
		if d := collect(fig, fw, flatDelivered(genLive)); len(d) > 0 {
			live = statOf(collect(fig, fw, flatOffered(genLive))).String() + " / " + statOf(d).String()
			liveOver = statOf(collect(fig, fw, func(f *roundFigures) (float64, bool) { v, ok := f.overload[genLive]; return v, ok })).format("%.2f")
			if liveOver == "–" {
				liveOver = "not overloaded"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", fw, ns, nsRatio, cpu1, share, flat, flatRatio, peak, over, live, liveOver)
	}
	b.WriteString("\nMedian (min–max) over rounds; ratios per round against the kernel (or AF_XDP) of the same round. " +
		"Offered = the generator's own count of frames handed to the kernel, delivered = the sink's XDP counter, sink ring drops = frames the sink's veth ring had no room for (the measuring device's loss, counted in delivered's shortfall). " +
		"Router ns/pkt = CPU1's irq and softirq time plus the router's threads, NAPI threads and ksoftirqd/1, per delivered packet; all of CPU1 = its whole busy time (user, system, irq, softirq), which on this shared machine includes other work. " +
		"A flat-out trial that delivered ≥ 95 % of what was offered is generator-capped: it measured the generator, and gives no ratio and no overload figure. " +
		"Own peak = the most a datapath delivered in any trial of the round with that generator; overloaded = its flat-out trial when that was not generator-capped.\n")
	b.WriteString(otherLoadNote(trials))

	// The generators side by side, flat out, per forwarder.
	b.WriteString("\n### Generators (flat out, same rounds)\n\n| forwarder | v6gen ring offered | C TX ring offered | v6gen ÷ C | v6gen live offered |\n|---|---|---|---|---|\n")
	for _, fw := range forwarders {
		if fig[fw] == nil {
			continue
		}
		ring := statOf(collect(fig, fw, flatOffered(genRing)))
		c := statOf(collect(fig, fw, flatOffered(genC)))
		var ratios []float64
		for _, f := range fig[fw] {
			if a, b := f.flat[genRing], f.flat[genC]; a != nil && b != nil && b.Offered > 0 {
				ratios = append(ratios, a.Offered/b.Offered)
			}
		}
		live := statOf(collect(fig, fw, flatOffered(genLive)))
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", fw, ring, c, statOf(ratios).format("%.2f"), live)
	}

	b.WriteString("\n### Goals (issue 11)\n\n| figure | goal | measured | verdict |\n|---|---|---|---|\n")
	for _, g := range goals(fig, forwarders, fixedRate) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.Figure, g.Target, g.Measured, g.Verdict)
	}
	return b.String()
}

// goals evaluates the goals on the medians of the run. A goal at
// the fixed rate gets no verdict for a forwarder whose generator did not
// offer that rate (median below capThreshold of fixedRate): it was
// measured at another rate.
func goals(fig map[string]map[int]*roundFigures, forwarders []string, fixedRate float64) []goal {
	var out []goal
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "missed"
	}
	has := func(fw string) bool { return fig[fw] != nil }
	// short says why fw's fixed-rate trials do not measure fixedRate, or "".
	short := func(fw string) string {
		off := statOf(collect(fig, fw, func(f *roundFigures) (float64, bool) {
			return valueOf(f.fixed, func(t *trial) float64 { return t.Offered })
		}))
		if off.n > 0 && off.med < capThreshold*fixedRate {
			return fmt.Sprintf("not at the fixed rate: %s offered %.0f pps", fw, off.med)
		}
		return ""
	}
	if has("xdp") && has("kernel") {
		r := statOf(ratioTo(fig, "xdp", "kernel", fixedNs))
		g := goal{Figure: "router-CPU ns per delivered packet at the fixed rate", Target: "XDP tier ≤ 0.6× kernel", Measured: r.format("%.2f×")}
		g.Verdict = "n/a"
		if r.n > 0 {
			g.Verdict = verdict(r.med <= 0.6)
		}
		var whys []string
		for _, fw := range []string{"xdp", "kernel"} {
			if why := short(fw); why != "" {
				whys = append(whys, why)
			}
		}
		if len(whys) > 0 {
			g.Verdict = strings.Join(whys, "; ")
		}
		out = append(out, g)

		// The same cost with the tier fed XDP frames, as a NIC or
		// virtio-net feeds it, instead of skbs that veth first copies
		// into page-pool pages for XDP; the kernel is fed skbs (live
		// frames barely reach its stack).
		lr := statOf(liveCostRatio(fig, "xdp", "kernel"))
		if lr.n > 0 {
			g = goal{Figure: "router-CPU ns per delivered packet at the fixed rate, the tier fed live frames (kernel: skbs)", Target: "XDP tier ≤ 0.6× kernel", Measured: lr.format("%.2f×")}
			g.Verdict = verdict(lr.med <= 0.6)
			if why := short("kernel"); why != "" {
				g.Verdict = why
			}
			out = append(out, g)
		}

		g = goal{Figure: "delivered with the skb generator flat out", Target: "XDP tier ≥ 1.3× kernel, or all that is offered"}
		capped, all := cappedRounds(fig, "xdp", genRing)
		r = statOf(ratioTo(fig, "xdp", "kernel", flatDelivered(genRing)))
		switch {
		case all == 0:
			g.Measured, g.Verdict = "–", "n/a"
		case capped*2 > all:
			g.Measured = fmt.Sprintf("all offered (generator-capped in %d of %d rounds); %s× kernel", capped, all, r.format("%.2f"))
			g.Verdict = "met"
		default:
			g.Measured = r.format("%.2f×")
			g.Verdict = verdict(r.med >= 1.3)
		}
		out = append(out, g)
	}
	for _, fw := range forwarders {
		if !has(fw) {
			continue
		}
		s := statOf(collect(fig, fw, fixedShare))
		g := goal{Figure: "delivered at the fixed rate: " + fw, Target: "≥ 99.9 %", Measured: statOf(scale(collect(fig, fw, fixedShare), 100)).format("%.2f %%"), Verdict: "n/a"}
		if s.n > 0 {
			g.Verdict = verdict(s.med >= 0.999)
		}
		if why := short(fw); why != "" {
			g.Verdict = why
		}
		out = append(out, g)
	}
	for _, fw := range forwarders {
		if !has(fw) {
			continue
		}
		for _, gen := range []string{genRing, genLive} {
			xs := collect(fig, fw, func(f *roundFigures) (float64, bool) { v, ok := f.overload[gen]; return v, ok })
			if len(xs) == 0 {
				continue
			}
			s := statOf(xs)
			out = append(out, goal{Figure: fmt.Sprintf("delivered ÷ own peak when overloaded: %s (%s)", fw, gen), Target: "≥ 0.95", Measured: s.format("%.2f"), Verdict: verdict(s.med >= 0.95)})
		}
	}
	if has("xdp") && has("af_xdp") {
		r := statOf(ratioTo(fig, "xdp", "af_xdp", func(f *roundFigures) (float64, bool) { v := f.peak[genLive]; return v, v > 0 }))
		g := goal{Figure: "peak with live frames", Target: "XDP tier ≥ 2× AF_XDP", Measured: r.format("%.2f×"), Verdict: "n/a"}
		if r.n > 0 {
			g.Verdict = verdict(r.med >= 2)
		}
		out = append(out, g)
	}
	for _, fw := range forwarders {
		var ratios []float64
		for _, f := range fig[fw] {
			if a, b := f.flat[genRing], f.flat[genC]; a != nil && b != nil && b.Offered > 0 {
				ratios = append(ratios, a.Offered/b.Offered)
			}
		}
		if len(ratios) == 0 {
			continue
		}
		s := statOf(ratios)
		out = append(out, goal{Figure: "v6gen ÷ C TX ring, flat out into " + fw, Target: "≥ 1: v6gen matches the C loop (median ≥ 0.97, the noise of one run)", Measured: s.format("%.2f"), Verdict: verdict(s.med >= 0.97)})
	}
	return out
}

func scale(xs []float64, k float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = k * x
	}
	return out
}
