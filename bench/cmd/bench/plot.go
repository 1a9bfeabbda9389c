package main

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// pointsHeader is the header of points.csv.
const pointsHeader = "round,forwarder,generator,kind,offered_pps,delivered_pps,sink_dropped_pps,router_ns_per_pkt,cpu1_busy_ns_per_pkt"

// pointsCSV renders every trial as a line of points.csv.
func pointsCSV(ts []trial) string {
	var b strings.Builder
	b.WriteString(pointsHeader + "\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "%d,%s,%s,%s,%.0f,%.0f,%.0f,%.0f,%.0f\n", t.Round, t.Forwarder, t.Gen, t.Kind, t.Offered, t.Delivered, t.SinkDrops, t.NsPerPkt, t.NsCPU1)
	}
	return b.String()
}

// readPoints reads a points.csv: the current format, or the three columns
// of earlier reports (forwarder, offered, delivered; v6gen's TX ring).
func readPoints(r io.Reader) ([]trial, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	old := len(rows) > 0 && strings.Join(rows[0], ",") == "forwarder,offered_pps,delivered_pps"
	if len(rows) == 0 || (!old && strings.Join(rows[0], ",") != pointsHeader) {
		return nil, fmt.Errorf("points: want the header %s", pointsHeader)
	}
	var ts []trial
	for i, row := range rows[1:] {
		var t trial
		var errs [6]error
		if old {
			t.Forwarder, t.Gen, t.Kind = row[0], genRing, ""
			t.Offered, errs[0] = strconv.ParseFloat(row[1], 64)
			t.Delivered, errs[1] = strconv.ParseFloat(row[2], 64)
		} else {
			if len(row) != 9 {
				return nil, fmt.Errorf("points: line %d: %d fields, want 9", i+2, len(row))
			}
			t.Round, errs[0] = strconv.Atoi(row[0])
			t.Forwarder, t.Gen, t.Kind = row[1], row[2], row[3]
			t.Offered, errs[1] = strconv.ParseFloat(row[4], 64)
			t.Delivered, errs[2] = strconv.ParseFloat(row[5], 64)
			t.SinkDrops, errs[3] = strconv.ParseFloat(row[6], 64)
			t.NsPerPkt, errs[4] = strconv.ParseFloat(row[7], 64)
			t.NsCPU1, errs[5] = strconv.ParseFloat(row[8], 64)
		}
		for _, err := range errs {
			if err != nil {
				return nil, fmt.Errorf("points: line %d: %q: %w", i+2, row, err)
			}
		}
		ts = append(ts, t)
	}
	return ts, nil
}

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, // blue
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, // red
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, // green
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, // orange
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, // purple
	color.RGBA{0x8c, 0x56, 0x4b, 0xff}, // brown
}

// glyphs marks the generator of a point.
var glyphs = map[string]draw.GlyphDrawer{genRing: draw.CircleGlyph{}, genLive: draw.TriangleGlyph{}, genC: draw.SquareGlyph{}}

// writePlot draws delivered against offered load in kpps: every trial of
// every round is a point, its colour the forwarder, its shape the
// generator; lines join, per forwarder and generator, the median delivered
// rate per bin of offered load. The loss-free diagonal is dashed.
func writePlot(ts []trial, title, path string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "offered load (kpps)"
	p.Y.Label.Text = "delivered at the sink (kpps)"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())

	var names, gens []string
	maxX := 0.0
	for _, t := range ts {
		if !slices.Contains(names, t.Forwarder) {
			names = append(names, t.Forwarder)
		}
		if !slices.Contains(gens, t.Gen) {
			gens = append(gens, t.Gen)
		}
		maxX = max(maxX, t.Offered/1000, t.Delivered/1000)
	}
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: maxX, Y: maxX}})
	if err != nil {
		return err
	}
	diag.Color = color.Gray{Y: 0x90}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(diag)
	p.Legend.Add("delivered = offered", diag)
	bin := max(25, maxX/40)
	for i, name := range names {
		c := palette[i%len(palette)]
		for _, gen := range gens {
			var xys plotter.XYs
			bins := map[int][]float64{}
			for _, t := range ts {
				if t.Forwarder != name || t.Gen != gen {
					continue
				}
				x, y := t.Offered/1000, t.Delivered/1000
				xys = append(xys, plotter.XY{X: x, Y: y})
				bins[int(x/bin)] = append(bins[int(x/bin)], y)
			}
			if len(xys) == 0 {
				continue
			}
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return err
			}
			sc.GlyphStyle.Color = c
			sc.GlyphStyle.Radius = vg.Points(2.5)
			sc.GlyphStyle.Shape = glyphs[gen]
			if sc.GlyphStyle.Shape == nil {
				sc.GlyphStyle.Shape = draw.CrossGlyph{}
			}
			keys := make([]int, 0, len(bins))
			for k := range bins {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var line plotter.XYs
			for _, k := range keys {
				m, _, _ := median(bins[k])
				line = append(line, plotter.XY{X: (float64(k) + 0.5) * bin, Y: m})
			}
			l, err := plotter.NewLine(line)
			if err != nil {
				return err
			}
			l.Color = c
			l.Width = vg.Points(1)
			p.Add(l, sc)
			p.Legend.Add(name+" · "+gen, l, sc)
		}
	}
	p.X.Min, p.Y.Min = 0, 0
	if err := p.Save(9*vg.Inch, 5.5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// plotFile redraws the plot from a points.csv (bench -plot CSV -out DIR).
func plotFile(csvPath, out string) error {
	f, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	ts, err := readPoints(f)
	if err != nil {
		return fmt.Errorf("%s: %w", csvPath, err)
	}
	return writePlot(ts, "IPv6 forwarding, veth gen → router → sink", out)
}
