package main

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPlotFromCSV(t *testing.T) {
	dir := t.TempDir()
	csv := pointsHeader + "\n1,kernel,v6gen-ring,fixed,300000,299990,0,900,950\n1,kernel,v6gen-ring,flat,500000,430000,0,700,720\n" +
		"1,kernel,c-ring,flat,520000,431000,0,690,700\n1,xdp,v6gen-ring,flat,500000,499000,0,300,310\n1,xdp,v6gen-live,flat,3000000,900000,0,250,260\n"
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

// TestReadPointsOldFormat: the three columns of earlier reports read as
// v6gen TX-ring trials.
func TestReadPointsOldFormat(t *testing.T) {
	ts, err := readPoints(strings.NewReader("forwarder,offered_pps,delivered_pps\nkernel,100000,99000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []trial{{Forwarder: "kernel", Gen: genRing, Offered: 100000, Delivered: 99000}}; !slices.Equal(ts, want) {
		t.Errorf("got %+v, want %+v", ts, want)
	}
}

func TestPointsRoundTrip(t *testing.T) {
	in := []trial{{Round: 2, Forwarder: "xdp", Gen: genLive, Kind: kindSweep, Offered: 1e6, Delivered: 9e5, SinkDrops: 12, NsPerPkt: 250, NsCPU1: 300}}
	out, err := readPoints(strings.NewReader(pointsCSV(in)))
	if err != nil || !slices.Equal(out, in) {
		t.Errorf("round trip: %+v, %v; want %+v", out, err, in)
	}
}

func TestReadPointsRejects(t *testing.T) {
	for _, in := range []string{"", "a,b,c\n", "forwarder,offered_pps,delivered_pps\nkernel,x,1\n", "forwarder,offered_pps,delivered_pps\nkernel,1\n",
		pointsHeader + "\nx,kernel,v6gen-ring,flat,1,1,1,1,1\n", pointsHeader + "\n1,kernel,v6gen-ring,flat,1,1,1,1\n"} {
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
