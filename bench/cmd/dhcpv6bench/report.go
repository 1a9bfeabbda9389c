package main

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// median returns the median, minimum and maximum of xs (NaN for none).
func median(xs []float64) (med, lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med = s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return med, s[0], s[len(s)-1]
}

// fmtRange formats median (min–max) with the given verb, "–" for none.
func fmtRange(xs []float64, verb string) string {
	if len(xs) == 0 {
		return "–"
	}
	m, lo, hi := median(xs)
	if len(xs) == 1 {
		return fmt.Sprintf(verb, m)
	}
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", m, lo, hi)
}

// summary is one server's figures for one exchange in one round.
type summary struct {
	Peak float64
	// Overload is the point with the highest offered rate, at least twice
	// the peak, that was not client-capped (zero Target: none).
	Overload trial
}

func summarize(trials []trial, server, series string, round int) summary {
	var pts []trial
	for _, t := range trials {
		if t.Server == server && t.series() == series && t.Round == round {
			pts = append(pts, t)
		}
	}
	s := summary{Peak: peak(pts)}
	for _, p := range pts {
		if !p.Capped && s.Peak > 0 && p.Offered >= 2*s.Peak && p.Offered > s.Overload.Offered {
			s.Overload = p
		}
	}
	return s
}

func serverNames(trials []trial) []string {
	var names []string
	for _, t := range trials {
		if !slices.Contains(names, t.Server) {
			names = append(names, t.Server)
		}
	}
	order := map[string]int{"vrouter": 0, "vrouter-base": 1, "d6server": 2, "kea": 3, "dnsmasq": 4}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(order[a], order[b]) })
	return names
}

func versions() string {
	v := func(args ...string) string {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	kernel := v("uname", "-r")
	return fmt.Sprintf("kernel %s, %s, kea-dhcp6 %s, perfdhcp %s, %s, vrouter %s",
		kernel, runtime.Version(), v("kea-dhcp6", "-v"), v("perfdhcp", "-v"), v("dnsmasq", "--version"), v("git", "describe", "--always", "--dirty"))
}

// write writes results.md, points.csv and the plots into -out.
func (b *bench) write(took time.Duration) error {
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# vrouter bench-dhcpv6 — %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&md, "%s. %d rounds of %s points, server on CPU1, client on CPU0, %d distinct clients per point, every point on an empty state directory; took %s. Median (min–max) over rounds.\n\n",
		versions(), *rounds, *trialDur, *clients, took.Round(time.Second))
	names := serverNames(b.trials)
	for _, x := range b.series {
		client, mode, _ := strings.Cut(x, "-")
		fmt.Fprintf(&md, "## %s, offered by %s\n\n", modeName(mode), client)
		md.WriteString("| server | peak exchanges/s | ×kea | overload point (offered ÷ peak) | delivered there ÷ own peak | client-capped points |\n|---|---|---|---|---|---|\n")
		for _, name := range names {
			var peaks, ratios, over, overAt []float64
			ncap := 0
			for round := 1; round <= *rounds; round++ {
				s := summarize(b.trials, name, x, round)
				k := summarize(b.trials, "kea", x, round)
				if s.Peak > 0 {
					peaks = append(peaks, s.Peak)
					if k.Peak > 0 {
						ratios = append(ratios, s.Peak/k.Peak)
					}
				}
				if s.Overload.Target > 0 {
					over = append(over, s.Overload.Achieved/s.Peak)
					overAt = append(overAt, s.Overload.Offered/s.Peak)
				}
			}
			for _, t := range b.trials {
				if t.Server == name && t.series() == x && t.Capped {
					ncap++
				}
			}
			fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %d |\n", name, fmtRange(peaks, "%.0f"), fmtRange(ratios, "%.2f"),
				fmtRange(overAt, "%.1f"), fmtRange(over, "%.2f"), ncap)
		}
		md.WriteString("\nEach offered rate, every server: offered → answered exchanges/s, median (min–max) over the rounds' points (a point run again after a client hold-up counts twice):\n\n")
		md.WriteString(byRateTable(b.trials, x))
		md.WriteString("\n")
	}
	if len(b.lats) > 0 {
		md.WriteString("## Latency of the whole exchange (d6load, kernel timestamps) at half of Kea's peak (dnsmasq: of its own)\n\n")
		md.WriteString("| server | exchange | offered/s | achieved/s | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|\n")
		for _, name := range names {
			for _, mode := range []string{"4way", "rapid"} {
				var off, ach, p50, p99, mx []float64
				for _, t := range b.lats {
					if t.Server == name && t.Mode == mode {
						off, ach = append(off, t.Offered), append(ach, t.Achieved)
						p50, p99, mx = append(p50, float64(t.P50US)/1000), append(p99, float64(t.P99US)/1000), append(mx, float64(t.MaxUS)/1000)
					}
				}
				if len(off) > 0 {
					fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %s | %s |\n", name, mode, fmtRange(off, "%.0f"), fmtRange(ach, "%.0f"),
						fmtRange(p50, "%.2f"), fmtRange(p99, "%.2f"), fmtRange(mx, "%.1f"))
				}
			}
		}
		md.WriteString("\n")
	}
	if len(b.kills) > 0 {
		md.WriteString("## kill -9 under load (four-message exchange at half the server's own peak, killed after 2 s of 4 s)\n\n")
		md.WriteString("| server | round | offered/s | leases acknowledged to the client | lost after restart | leases after restart |\n|---|---|---|---|---|---|\n")
		for _, k := range b.kills {
			fmt.Fprintf(&md, "| %s | %d | %.0f | %d | %d | %d %s |\n", k.Server, k.Round, k.Rate, k.Acked, k.Lost, k.LeasesBefore, k.Note)
		}
		md.WriteString("\n")
	}
	if len(b.rss) > 0 {
		md.WriteString("## RSS (VmRSS) with 10,000 leases\n\n| server | leases | RSS empty MiB | RSS MiB | VmHWM MiB |\n|---|---|---|---|---|\n")
		for _, name := range names {
			var n, e, r, h []float64
			for _, x := range b.rss {
				if x.Server == name {
					n, r, h = append(n, float64(x.Leases)), append(r, float64(x.RSSKB)/1024), append(h, float64(x.HWMKB)/1024)
					if x.EmptyKB > 0 {
						e = append(e, float64(x.EmptyKB)/1024)
					}
				}
			}
			if len(n) > 0 {
				fmt.Fprintf(&md, "| %s | %s | %s | %s | %s |\n", name, fmtRange(n, "%.0f"), fmtRange(e, "%.1f"), fmtRange(r, "%.1f"), fmtRange(h, "%.1f"))
			}
		}
		md.WriteString("\n")
	}
	md.WriteString("## Every point\n\n| server | exchange | client | round | target/s | offered/s | achieved/s | client CPU | server CPU | CPU1 others | CPU1 irq | CPU1 idle | rcvbuf drops | p99 ms | note |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	all := append(slices.Clone(b.trials), b.lats...)
	for _, t := range all {
		note := t.Note
		if t.Capped {
			note = strings.TrimSpace("client-capped " + note)
		}
		p99 := "–"
		if t.Client == "d6load" {
			p99 = fmt.Sprintf("%.2f", float64(t.P99US)/1000)
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %s | %s |\n",
			t.Server, t.Mode, t.Client, t.Round, t.Target, t.Offered, t.Achieved, t.ClientCPU, t.ServerCPU, t.OtherCPU, t.SoftirqCPU, t.IdleCPU, t.RcvbufErrors, p99, note)
	}
	if err := os.WriteFile(filepath.Join(*outDir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	var csv strings.Builder
	csv.WriteString("server,mode,client,round,target,offered,achieved,client_cpu,server_cpu,cpu1_others,cpu1_irq,cpu1_idle,capped,rcvbuf_drops,p50_us,p99_us,max_us,kind\n")
	for i, t := range all {
		kind := "ladder"
		if i >= len(b.trials) {
			kind = "latency"
		}
		fmt.Fprintf(&csv, "%s,%s,%s,%d,%.0f,%.0f,%.0f,%.3f,%.3f,%.3f,%.3f,%.3f,%t,%d,%d,%d,%d,%s\n", t.Server, t.Mode, t.Client, t.Round,
			t.Target, t.Offered, t.Achieved, t.ClientCPU, t.ServerCPU, t.OtherCPU, t.SoftirqCPU, t.IdleCPU, t.Capped, t.RcvbufErrors, t.P50US, t.P99US, t.MaxUS, kind)
	}
	if err := os.WriteFile(filepath.Join(*outDir, "points.csv"), []byte(csv.String()), 0o644); err != nil {
		return err
	}
	for _, x := range b.series {
		if err := writePlot(b.trials, x, filepath.Join(*outDir, "plot-"+x+".png")); err != nil {
			return err
		}
	}
	fmt.Print(md.String())
	fmt.Fprintf(os.Stderr, "wrote results.md, points.csv and plots into %s\n", *outDir)
	return nil
}

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff},
}

// writePlot draws achieved against offered exchanges per second (log-log)
// for one exchange: every point of every round, the line through the
// medians per offered rate, client-capped points hollow.
func writePlot(trials []trial, series, path string) error {
	client, mode, _ := strings.Cut(series, "-")
	p := plot.New()
	p.Title.Text = "DHCPv6 " + modeName(mode) + " by " + client + ", server on one CPU"
	p.X.Label.Text = "offered Solicits/s"
	p.Y.Label.Text = "completed exchanges/s"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	maxX, minX := 1.0, math.Inf(1)
	for _, t := range trials {
		if t.series() == series && t.Offered > 0 {
			maxX, minX = math.Max(maxX, t.Offered), math.Min(minX, t.Offered)
		}
	}
	if math.IsInf(minX, 1) {
		return nil
	}
	diag, err := plotter.NewLine(plotter.XYs{{X: minX, Y: minX}, {X: maxX, Y: maxX}})
	if err != nil {
		return err
	}
	diag.Color = color.Gray{Y: 0x90}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(diag)
	p.Legend.Add("completed = offered", diag)
	for i, name := range serverNames(trials) {
		var xys, capXYs plotter.XYs
		byTarget := map[float64][]trial{}
		for _, t := range trials {
			if t.Server != name || t.series() != series || t.Offered <= 0 {
				continue
			}
			y := math.Max(t.Achieved, 1)
			if t.Capped {
				capXYs = append(capXYs, plotter.XY{X: t.Offered, Y: y})
			} else {
				xys = append(xys, plotter.XY{X: t.Offered, Y: y})
			}
			byTarget[t.Target] = append(byTarget[t.Target], t)
		}
		if len(xys)+len(capXYs) == 0 {
			continue
		}
		c := palette[i%len(palette)]
		var line plotter.XYs
		targets := make([]float64, 0, len(byTarget))
		for k := range byTarget {
			targets = append(targets, k)
		}
		slices.Sort(targets)
		for _, k := range targets {
			var xs, ys []float64
			for _, t := range byTarget[k] {
				xs, ys = append(xs, t.Offered), append(ys, math.Max(t.Achieved, 1))
			}
			mx, _, _ := median(xs)
			my, _, _ := median(ys)
			line = append(line, plotter.XY{X: mx, Y: my})
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return err
		}
		l.Color, l.Width = c, vg.Points(1.2)
		p.Add(l)
		shape := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}}[i%4]
		if len(xys) > 0 {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return err
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = c, vg.Points(2.5), shape
			p.Add(sc)
			p.Legend.Add(name, l, sc)
		}
		if len(capXYs) > 0 {
			sc, err := plotter.NewScatter(capXYs)
			if err != nil {
				return err
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = c, vg.Points(2.5), draw.RingGlyph{}
			p.Add(sc)
			p.Legend.Add(name+" (client-capped)", sc)
		}
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// byRateTable is one exchange's points side by side: a row per target
// rate, a column per server with the offered and answered rates (median
// over the rounds' points at that target, then min–max of the answered
// rate) and how many of them were client-capped ("capped k/n").
func byRateTable(trials []trial, series string) string {
	names := []string{}
	targets := []float64{}
	for _, t := range trials {
		if t.series() != series {
			continue
		}
		if !slices.Contains(names, t.Server) {
			names = append(names, t.Server)
		}
		if !slices.Contains(targets, t.Target) {
			targets = append(targets, t.Target)
		}
	}
	if len(targets) == 0 {
		return ""
	}
	slices.Sort(targets)
	names = serverNames(trialsNamed(names))
	var b strings.Builder
	b.WriteString("| target/s |")
	for _, n := range names {
		fmt.Fprintf(&b, " %s offered → answered/s |", n)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(names)) + "\n")
	for _, tg := range targets {
		fmt.Fprintf(&b, "| %.0f |", tg)
		for _, n := range names {
			var off, ach []float64
			ncap := 0
			for _, t := range trials {
				if t.Server == n && t.series() == series && t.Target == tg {
					off, ach = append(off, t.Offered), append(ach, t.Achieved)
					if t.Capped {
						ncap++
					}
				}
			}
			if len(off) == 0 {
				b.WriteString(" |")
				continue
			}
			mo, _, _ := median(off)
			fmt.Fprintf(&b, " %.0f → %s", mo, fmtRange(ach, "%.0f"))
			if ncap > 0 {
				fmt.Fprintf(&b, " capped %d/%d", ncap, len(off))
			}
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func trialsNamed(names []string) []trial {
	ts := make([]trial, len(names))
	for i, n := range names {
		ts[i].Server = n
	}
	return ts
}

// readPoints reads the ladder points of a points.csv written by write.
func readPoints(r io.Reader) ([]trial, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("points.csv: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("points.csv: empty")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"server", "mode", "client", "round", "target", "offered", "achieved", "capped"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("points.csv: no column %q", h)
		}
	}
	var ts []trial
	for i, row := range rows[1:] {
		// The latency points (kind latency) are no ladder's; a file
		// without the column has only ladder points, or the caller
		// removed the others.
		if k, ok := col["kind"]; ok && row[k] != "ladder" {
			continue
		}
		num := func(h string) float64 {
			v, e := strconv.ParseFloat(row[col[h]], 64)
			if e != nil && err == nil {
				err = fmt.Errorf("points.csv line %d: %s: %w", i+2, h, e)
			}
			return v
		}
		t := trial{Server: row[col["server"]], Mode: row[col["mode"]], Client: row[col["client"]],
			Round: int(num("round")), Target: num("target"), Offered: num("offered"), Achieved: num("achieved"),
			Capped: row[col["capped"]] == "true"}
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}
