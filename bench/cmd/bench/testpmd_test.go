package main

import (
	"slices"
	"strings"
	"testing"
)

func TestSelectForwarders(t *testing.T) {
	for _, c := range []struct {
		list    string
		have    bool
		want    []string
		wantErr bool
	}{
		{"", true, []string{"kernel", "xdp", "af_xdp", "af_packet"}, false},
		{"", false, []string{"kernel", "xdp", "af_xdp", "af_packet"}, false},
		{"af_packet,xdp", false, []string{"af_packet", "xdp"}, false},
		{"kernel,testpmd", true, []string{"kernel", "testpmd"}, false},
		{"fastpath", true, nil, true},
		{"kernel,testpmd", false, []string{"kernel"}, false},
		{"testpmd", false, nil, true},
		{"kernel,bogus", true, nil, true},
	} {
		got, err := selectForwarders(c.list, c.have)
		if (err != nil) != c.wantErr || !slices.Equal(got, c.want) {
			t.Errorf("selectForwarders(%q, %v) = %v, %v; want %v (error %v)", c.list, c.have, got, err, c.want, c.wantErr)
		}
	}
}

func TestTestpmdArgs(t *testing.T) {
	tp := &topo{rA: "xrA", rB: "xrB", macGA: "02:00:00:00:00:01", macSB: "02:00:00:00:00:02"}
	a := strings.Join(testpmdArgs("dpdk-testpmd", tp, "pfx"), " ")
	for _, w := range []string{
		"--lcores=0@1,1@1", "--no-huge", "--file-prefix=pfx",
		"--vdev=net_af_packet0,iface=xrA,", "--vdev=net_af_packet1,iface=xrB,",
		" -- ", "--forward-mode=mac", "--eth-peer=0,02:00:00:00:00:01", "--eth-peer=1,02:00:00:00:00:02", "--auto-start",
	} {
		if !strings.Contains(a, w) {
			t.Errorf("testpmd arguments %q lack %q", a, w)
		}
	}
}

func TestAccumulatedStats(t *testing.T) {
	out := `
  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++
  RX-packets: 738226         RX-dropped: 0             RX-total: 738226
  TX-packets: 738226         TX-dropped: 0             TX-total: 738226
  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++

Done.
`
	want := "RX-packets: 738226 RX-dropped: 0 RX-total: 738226; TX-packets: 738226 TX-dropped: 0 TX-total: 738226"
	if got := accumulatedStats(out); got != want {
		t.Errorf("accumulatedStats = %q, want %q", got, want)
	}
	if got := accumulatedStats("Bye..."); got != "no statistics" {
		t.Errorf("accumulatedStats without a summary = %q", got)
	}
}
