package main

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlotFromCSV(t *testing.T) {
	dir := t.TempDir()
	csv := "forwarder,offered_pps,delivered_pps\nkernel,100000,100000\nkernel,300000,290000\nfastpath,100000,99990\nfastpath,300000,70000\n"
	in := filepath.Join(dir, "points.csv")
	if err := os.WriteFile(in, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "plot.png")
	if err := plotFile(in, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("plot.png: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 400 || r.Dy() < 200 {
		t.Errorf("plot is %v", r)
	}
}

func TestReadPointsRejects(t *testing.T) {
	for _, in := range []string{"", "a,b,c\n", "forwarder,offered_pps,delivered_pps\nkernel,x,1\n", "forwarder,offered_pps,delivered_pps\nkernel,1\n"} {
		if _, err := readPoints(strings.NewReader(in)); err == nil {
			t.Errorf("readPoints(%q) succeeded", in)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in          []float64
		med, lo, hi float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 2, 3}, 2.5, 1, 4},
		{[]float64{7}, 7, 7, 7},
	} {
		m, lo, hi := median(tc.in)
		if m != tc.med || lo != tc.lo || hi != tc.hi {
			t.Errorf("median(%v) = %v %v %v, want %v %v %v", tc.in, m, lo, hi, tc.med, tc.lo, tc.hi)
		}
	}
	if m, _, _ := median(nil); !math.IsNaN(m) {
		t.Errorf("median(nil) = %v, want NaN", m)
	}
}
