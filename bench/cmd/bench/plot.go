package main

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// readPoints reads a points.csv written by writeResults.
func readPoints(r io.Reader) ([]point, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || len(rows[0]) != 3 || rows[0][0] != "forwarder" {
		return nil, fmt.Errorf("points: want the header forwarder,offered_pps,delivered_pps")
	}
	var pts []point
	for i, row := range rows[1:] {
		off, err1 := strconv.ParseFloat(row[1], 64)
		del, err2 := strconv.ParseFloat(row[2], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("points: line %d: %q", i+2, row)
		}
		pts = append(pts, point{row[0], off, del})
	}
	return pts, nil
}

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, // blue
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, // red
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, // green
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, // orange
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, // purple
}

// writePlot draws delivered against offered load in kpps, one series per
// forwarder (every trial of every round is a point; the line joins the
// median delivered rate per 25 kpps bin of offered load), with the
// loss-free diagonal, as a PNG.
func writePlot(pts []point, title, path string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "offered load (kpps)"
	p.Y.Label.Text = "delivered at the sink (kpps)"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())

	var names []string
	maxX := 0.0
	for _, pt := range pts {
		if !slices.Contains(names, pt.Forwarder) {
			names = append(names, pt.Forwarder)
		}
		maxX = max(maxX, pt.Offered/1000, pt.Delivered/1000)
	}
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: maxX, Y: maxX}})
	if err != nil {
		return err
	}
	diag.Color = color.Gray{Y: 0x90}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(diag)
	p.Legend.Add("delivered = offered", diag)

	for i, name := range names {
		var xys plotter.XYs
		bins := map[int][]float64{}
		for _, pt := range pts {
			if pt.Forwarder != name {
				continue
			}
			x, y := pt.Offered/1000, pt.Delivered/1000
			xys = append(xys, plotter.XY{X: x, Y: y})
			bins[int(x/25)] = append(bins[int(x/25)], y)
		}
		c := palette[i%len(palette)]
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color = c
		sc.GlyphStyle.Radius = vg.Points(2.5)
		sc.GlyphStyle.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}}[i%4]
		var line plotter.XYs
		keys := make([]int, 0, len(bins))
		for k := range bins {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			m, _, _ := median(bins[k])
			line = append(line, plotter.XY{X: (float64(k) + 0.5) * 25, Y: m})
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return err
		}
		l.Color = c
		l.Width = vg.Points(1.2)
		p.Add(l, sc)
		p.Legend.Add(name, l, sc)
	}
	p.X.Min, p.Y.Min = 0, 0
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
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
	pts, err := readPoints(f)
	if err != nil {
		return fmt.Errorf("%s: %w", csvPath, err)
	}
	return writePlot(pts, "IPv6 forwarding, veth gen → router → sink", out)
}
