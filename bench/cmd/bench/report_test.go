package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// benchTrials is a two-round run: the kernel overloaded by v6gen, the XDP
// tier generator-capped by it and overloaded by live frames, AF_XDP
// overloaded by both.
func benchTrials() []trial {
	var ts []trial
	add := func(round int, fw, gen, kind string, off, del, ns float64) {
		ts = append(ts, trial{Round: round, Forwarder: fw, Gen: gen, Kind: kind, Offered: off, Delivered: del, NsPerPkt: ns})
	}
	for r, k := range []float64{1, 1.1} {
		round := r + 1
		add(round, "kernel", genRing, kindFixed, 300000, 300000, 1000*k)
		add(round, "kernel", genRing, kindFlat, 500000, 400000, 800)
		add(round, "kernel", genRing, kindSweep, 360000, 360000, 900)
		add(round, "kernel", genRing, kindSweep, 440000, 420000, 850)
		add(round, "kernel", genC, kindFlat, 520000, 401000, 800)
		add(round, "xdp", genRing, kindFixed, 300000, 300000, 400*k)
		add(round, "xdp", genRing, kindFlat, 500000, 499000, 350)
		add(round, "xdp", genC, kindFlat, 500000, 499500, 350)
		add(round, "xdp", genLive, kindFixed, 300000, 299000, 500*k)
		add(round, "xdp", genLive, kindFlat, 3000000, 1000000, 300)
		add(round, "xdp", genLive, kindSweep, 900000, 900000, 300)
		add(round, "xdp", genLive, kindSweep, 1100000, 1020000, 300)
		add(round, "af_xdp", genRing, kindFixed, 300000, 299000, 2500)
		add(round, "af_xdp", genRing, kindFlat, 500000, 350000, 2400)
		add(round, "af_xdp", genLive, kindFlat, 3000000, 400000, 2300)
	}
	return ts
}

func TestFigures(t *testing.T) {
	fig := figures(benchTrials())
	k := fig["kernel"][1]
	if k.fixed == nil || k.fixed.NsPerPkt != 1000 || k.flat[genRing].Offered != 500000 || k.flat[genC].Offered != 520000 {
		t.Fatalf("kernel round 1: %+v", k)
	}
	// The C generator's trials are not the router's peak.
	if diff := cmp.Diff(map[string]float64{genRing: 420000}, k.peak); diff != "" {
		t.Errorf("kernel peak (-want +got):\n%s", diff)
	}
	if got := k.overload[genRing]; got != 400000.0/420000 {
		t.Errorf("kernel overload %v, want 400/420", got)
	}
	x := fig["xdp"][2]
	if _, ok := x.overload[genRing]; ok || !x.flat[genRing].capped() {
		t.Errorf("xdp: flat trial %+v should be generator-capped and give no overload figure (%v)", x.flat[genRing], x.overload)
	}
	if got := x.overload[genLive]; got != 1000000.0/1020000 {
		t.Errorf("xdp live overload %v, want 1000/1020", got)
	}
}

func TestCapped(t *testing.T) {
	for _, c := range []struct {
		off, del float64
		want     bool
	}{{100, 95, true}, {100, 94.9, false}, {100, 100, true}, {0, 0, false}} {
		if got := (trial{Offered: c.off, Delivered: c.del}).capped(); got != c.want {
			t.Errorf("offered %v delivered %v: capped %v, want %v", c.off, c.del, got, c.want)
		}
	}
}

func TestGoals(t *testing.T) {
	got := goals(figures(benchTrials()), []string{"kernel", "xdp", "af_xdp"}, 300000)
	byFigure := map[string]goal{}
	for _, g := range got {
		byFigure[g.Figure] = g
	}
	want := map[string][2]string{ // figure → measured, verdict
		"router-CPU ns per delivered packet at the fixed rate":                                          {"0.40×", "met"},
		"router-CPU ns per delivered packet at the fixed rate, the tier fed live frames (kernel: skbs)": {"0.50×", "met"},
		"delivered with the skb generator flat out":                                                     {"all offered (generator-capped in 2 of 2 rounds); 1.25× kernel", "met"},
		"delivered at the fixed rate: af_xdp":                                                           {"99.67 %", "missed"},
		"delivered at the fixed rate: xdp":                                                              {"100.00 %", "met"},
		"delivered ÷ own peak when overloaded: kernel (v6gen-ring)":                                     {"0.95", "met"},
		"delivered ÷ own peak when overloaded: xdp (v6gen-live)":                                        {"0.98", "met"},
		"delivered ÷ own peak when overloaded: af_xdp (v6gen-ring)":                                     {"1.00", "met"},
		"peak with live frames":                                                                         {"2.55×", "met"},
		"v6gen ÷ C TX ring, flat out into kernel":                                                       {"0.96", "missed"},
		"v6gen ÷ C TX ring, flat out into xdp":                                                          {"1.00", "met"},
		"delivered at the fixed rate: kernel":                                                           {"100.00 %", "met"},
		"delivered ÷ own peak when overloaded: af_xdp (v6gen-live)":                                     {"1.00", "met"},
	}
	for fig, w := range want {
		g, ok := byFigure[fig]
		if !ok {
			t.Errorf("no goal %q in %+v", fig, got)
			continue
		}
		if g.Measured != w[0] || g.Verdict != w[1] {
			t.Errorf("%s: measured %q, verdict %q; want %q, %q", fig, g.Measured, g.Verdict, w[0], w[1])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d goals, want %d: %+v", len(got), len(want), got)
	}
}

func TestWriteReport(t *testing.T) {
	md := writeReport(benchTrials(), []string{"kernel", "xdp", "af_xdp", "testpmd"}, "# run", 300000)
	for _, want := range []string{
		"| kernel | 1050 (1000–1100) | 1 | 0 | 100.00 % (0.00 %) | 500000 / 400000 | 1 | 420000 | 0.95 | – | – |",
		"| xdp | 420 (400–440) | 0.40 | 0 | 100.00 % (0.00 %) | 500000 / 499000 | generator-capped in 2 of 2 rounds | 499000 | not overloaded (generator-capped) | 3000000 / 1000000 | 0.98 |",
		"| kernel | 500000 | 520000 | 0.96 | – |",
		"| peak with live frames | XDP tier ≥ 2× AF_XDP | 2.55× | met |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| testpmd |") {
		t.Errorf("report has a row for testpmd, which was not measured:\n%s", md)
	}
}

// TestGoalsShortOfFixedRate: fixed-rate trials whose generator offered
// less than the fixed rate give no verdict on the fixed-rate goals.
func TestGoalsShortOfFixedRate(t *testing.T) {
	var ts []trial
	for _, tr := range benchTrials() {
		if tr.Forwarder == "xdp" && tr.Kind == kindFixed {
			tr.Offered, tr.Delivered = 90000, 90000
		}
		ts = append(ts, tr)
	}
	for _, g := range goals(figures(ts), []string{"kernel", "xdp"}, 300000) {
		switch g.Figure {
		case "router-CPU ns per delivered packet at the fixed rate", "delivered at the fixed rate: xdp":
			if g.Verdict != "not at the fixed rate: xdp offered 90000 pps" {
				t.Errorf("%s: verdict %q, want that xdp was not measured at the fixed rate", g.Figure, g.Verdict)
			}
		case "delivered at the fixed rate: kernel":
			if g.Verdict != "met" {
				t.Errorf("%s: verdict %q, want met", g.Figure, g.Verdict)
			}
		}
	}
}

// TestOtherLoadNote: a trial whose CPU1 was busy with other work beyond
// the router's is named, one with the router alone is not.
func TestOtherLoadNote(t *testing.T) {
	if n := otherLoadNote(benchTrials()); n != "" {
		t.Errorf("note for trials without other work: %q", n)
	}
	busy := trial{Round: 2, Forwarder: "xdp", Gen: genRing, Kind: kindFlat, Offered: 111000, Delivered: 100000, NsPerPkt: 2800, NsCPU1: 9800}
	quiet := trial{Round: 1, Forwarder: "kernel", Gen: genRing, Kind: kindFixed, Offered: 100000, Delivered: 100000, NsPerPkt: 2300, NsCPU1: 2900}
	if got := busy.otherLoad(); got < 0.6999 || got > 0.7001 {
		t.Errorf("other load %v, want 0.70 (7000 ns of 10000 per packet at 100 kpps)", got)
	}
	n := otherLoadNote([]trial{quiet, busy})
	if !strings.Contains(n, "xdp v6gen-ring flat round 2 (70 %)") || strings.Contains(n, "kernel v6gen-ring") {
		t.Errorf("note %q: want the xdp trial (70 %%) and not the kernel's (6 %%)", n)
	}
	if md := writeReport([]trial{quiet, busy}, []string{"kernel", "xdp"}, "# run", 100000); !strings.Contains(md, n) {
		t.Errorf("report lacks the note %q:\n%s", n, md)
	}
}
