package main

import (
	"encoding/json"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vrouter/vrouter/dhcpv6"
)

func TestParsePerfdhcp(t *testing.T) {
	f, err := os.Open("testdata/perfdhcp-kea.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := parsePerfdhcp(f)
	if err != nil {
		t.Fatal(err)
	}
	want := perfdhcpResult{
		Rate: 3552.57,
		SA:   exchangeStats{Sent: 7471, Received: 7122, Drops: 349, MinMS: 0.075, AvgMS: 5.109, MaxMS: 29.944, StdMS: 5.595},
		RR:   exchangeStats{Sent: 7122, Received: 7112, Drops: 10, MinMS: 0.067, AvgMS: 3.625, MaxMS: 26.926, StdMS: 3.345},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParsePerfdhcpIncomplete(t *testing.T) {
	b, err := os.ReadFile("testdata/perfdhcp-kea.txt")
	if err != nil {
		t.Fatal(err)
	}
	cut := strings.Index(string(b), "***Statistics for: REQUEST-REPLY***")
	if _, err := parsePerfdhcp(strings.NewReader(string(b[:cut]))); err == nil {
		t.Error("a report without REQUEST-REPLY parsed")
	}
	if _, err := parsePerfdhcp(strings.NewReader("ERROR: running perfdhcp: Packets exchange not specified\n")); err == nil {
		t.Error("perfdhcp's error parsed as a report")
	}
}

func key(duid, addr string) string { return duid + " " + netip.MustParseAddr(addr).String() }

func TestParseKeaLeases(t *testing.T) {
	csv := `address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source
2001:db8:0:2::1000,00:03:00:01:02:01:00:00:00:00,7200,1796199019,1,3600,0,1,128,0,0,,,0,,1,2
2001:db8:0:2::1001,00:03:00:01:02:01:00:00:00:01,7200,1796199019,1,3600,0,1,128,0,0,,,0,,1,2
2001:db8:0:2::1002,00:03:00:01:02:01:00:00:00:02,7200,1796199019,1,3600,0,1,128,0,0,,,0,,1,2
2001:db8:0:2::1001,00:03:00:01:02:01:00:00:00:01,0,1796199019,1,3600,0,1,128,0,0,,,0,,1,2
2001:db8:0:2::1002,00:03:00:01:02:01:00:00:00:02,7200,1796199019,1,3600,0,1,128,0,0,,,1,,1,2
2001:db8:1::,00:03:00:01:02:01:00:00:00:03,7200,1796199019,1,3600,2,1,56,0,0,,,0,,1,2
2001:db8:0:2::1000,00:03:00:01:02:01:00:00:00:09,7200,1796199030,1,3600,0,1,128,0,0,,,0,,1,2
2001:db8:0:2::1003,00:03:00:01:02:01:00:00:00:04,7200,1796199019,1,3600,0,1,128,0,0,,,0,,1,2
2001:db8:0:2::1004,00:03:00:01:02:01:00:00:00:05,7200,17961`
	got, err := parseKeaLeases(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	// 1000 moved to another client, 1001 released, 1002 declined (state
	// 1), the prefix is not an address, 1004 was cut short by a crash.
	want := map[string]bool{
		key("00030001020100000009", "2001:db8:0:2::1000"): true,
		key("00030001020100000004", "2001:db8:0:2::1003"): true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseKeaLeases(strings.NewReader("addr,duid\n")); err == nil {
		t.Error("a CSV without Kea's columns parsed")
	}
}

func TestParseDnsmasqLeases(t *testing.T) {
	file := `duid 00:01:00:01:32:a2:73:a9:de:ab:a4:46:97:9a
1796199253 1 2001:db8:0:2::2312:e7a1 * 00:03:00:01:02:01:00:00:00:01
1796199253 52:54:00:12:34:56 192.0.2.10 host 01:52:54:00:12:34:56
1796199253 1 2001:db8:0:2::2312:e7a2 vm2 00:03:00:01:02:01:00:00:00:02
1796199253 1 2001:db8:0:2::2312:e7a3 * 00:03:00:01:02:01`
	got, err := parseDnsmasqLeases(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		key("00030001020100000001", "2001:db8:0:2::2312:e7a1"): true,
		key("00030001020100000002", "2001:db8:0:2::2312:e7a2"): true,
		// The last line, cut short, has a shorter DUID: dnsmasq reads
		// it as such.
		key("000300010201", "2001:db8:0:2::2312:e7a3"): true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDnsmasqLeaseFile: the leases written for the RSS measurement are
// distinct, inside the pool, read back as written, and belong to the
// clients d6load uses with the same seed (DUID-LL 02:SEED:n).
func TestDnsmasqLeaseFile(t *testing.T) {
	got, err := parseDnsmasqLeases(strings.NewReader(dnsmasqLeaseFile(10000, 3, time.Unix(1796199253, 0))))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10000 {
		t.Fatalf("%d leases, want 10000", len(got))
	}
	start, end := netip.MustParseAddr(poolStart), netip.MustParseAddr(poolEnd)
	addrs := map[netip.Addr]bool{}
	for k := range got {
		d, a, _ := strings.Cut(k, " ")
		addr := netip.MustParseAddr(a)
		if addr.Less(start) || end.Less(addr) {
			t.Errorf("%s outside the pool", addr)
		}
		addrs[addr] = true
		if !strings.HasPrefix(d, "0003000102"+"03") || len(d) != 20 {
			t.Errorf("DUID %s is not d6load's DUID-LL with seed 3", d)
		}
	}
	if len(addrs) != 10000 {
		t.Errorf("%d distinct addresses", len(addrs))
	}
	if !got[key("00030001020300000000", poolStart)] || !got[key("00030001020300000001", "2001:db8:0:2::1001")] {
		t.Error("client n does not have pool start + n")
	}
}

func TestParseVrouterLeases(t *testing.T) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, l := range []dhcpv6.Lease{
		{Addr: netip.MustParseAddr("2001:db8:0:2::1000"), DUID: []byte{0, 3, 0, 1, 2, 1, 0, 0, 0, 1}, IAID: 1, Expires: time.Unix(1796199253, 0)},
		{Addr: netip.MustParseAddr("2001:db8:0:2::1001"), Expires: time.Unix(1796199253, 0)}, // declined
	} {
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := parseVrouterLeases(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{key("00030001020100000001", "2001:db8:0:2::1000"): true}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseVrouterLeases(strings.NewReader(`{"address":`)); err == nil {
		t.Error("a cut JSON line parsed")
	}
}

func pt(target, offered, achieved float64, capped bool) trial {
	return trial{Server: "vrouter", Mode: "4way", Client: "d6load", Round: 1, Target: target, Offered: offered, Achieved: achieved, Capped: capped}
}

func TestLadderNext(t *testing.T) {
	for _, tc := range []struct {
		name string
		pts  []trial
		want float64
	}{
		{"none", nil, 0},
		{"served: double", []trial{pt(1000, 1000, 1000, false)}, 2000},
		{"below 2.5× the best: go on", []trial{pt(1000, 1000, 1000, false), pt(2000, 2000, 1200, false)}, 4000},
		{"2.5× the best: done", []trial{pt(1000, 1000, 1000, false), pt(2000, 2000, 1200, false), pt(4000, 4000, 900, false)}, 0},
		{"client-capped: done", []trial{pt(1000, 1000, 1000, false), pt(2000, 1500, 1500, true)}, 0},
		{"capped points are no peak", []trial{pt(1000, 1000, 1000, false), pt(2000, 1990, 1500, true), pt(2000, 2000, 1000, false)}, 4000},
		{"max points", []trial{pt(1, 1, 1, false), pt(2, 2, 2, false), pt(4, 4, 4, false)}, 0},
	} {
		max := 8
		if tc.name == "max points" {
			max = 3
		}
		if got := ladderNext(tc.pts, max); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	trials := []trial{
		pt(1000, 1000, 1000, false),
		pt(2000, 2000, 1900, false),
		pt(4000, 4000, 1800, false),
		pt(8000, 8000, 1500, false),
		pt(16000, 12000, 3000, true), // client-capped: no peak, no overload point
	}
	other := pt(1000, 1000, 999, false)
	other.Round = 2
	trials = append(trials, other)
	s := summarize(trials, "vrouter", "d6load-4way", 1)
	if s.Peak != 1900 || s.Overload.Target != 8000 {
		t.Errorf("peak %v at overload %v, want 1900 and the 8000 point", s.Peak, s.Overload.Target)
	}
	if s := summarize(trials, "vrouter", "perfdhcp-4way", 1); s.Peak != 0 || s.Overload.Target != 0 {
		t.Errorf("another series: %+v", s)
	}
}

func TestCapped(t *testing.T) {
	for _, tc := range []struct {
		target, offered, cpu float64
		want                 bool
	}{
		{1000, 1000, 0.5, false},
		{1000, 1000, 0.95, true},
		{1000, 900, 0.5, true},
		{1000, 960, 0.5, false},
	} {
		if got := capped(tc.target, tc.offered, tc.cpu); got != tc.want {
			t.Errorf("capped(%v, %v, %v) = %t", tc.target, tc.offered, tc.cpu, got)
		}
	}
}

func TestMedian(t *testing.T) {
	m, lo, hi := median([]float64{3, 1, 2})
	if m != 2 || lo != 1 || hi != 3 {
		t.Errorf("median of 3: %v %v %v", m, lo, hi)
	}
	if m, _, _ := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median of 4: %v", m)
	}
	if m, _, _ := median(nil); !math.IsNaN(m) {
		t.Errorf("median of none: %v", m)
	}
	if got := fmtRange([]float64{1.234, 2, 0.5}, "%.2f"); got != "1.23 (0.50–2.00)" {
		t.Errorf("fmtRange: %q", got)
	}
	if got := fmtRange(nil, "%.2f"); got != "–" {
		t.Errorf("fmtRange of none: %q", got)
	}
}

func TestServerNames(t *testing.T) {
	got := serverNames([]trial{{Server: "dnsmasq"}, {Server: "kea"}, {Server: "vrouter"}, {Server: "kea"}})
	if !slices.Equal(got, []string{"vrouter", "kea", "dnsmasq"}) {
		t.Errorf("%v", got)
	}
}

func TestByRateTable(t *testing.T) {
	kea := func(target, offered, achieved float64, round int) trial {
		p := pt(target, offered, achieved, false)
		p.Server, p.Round = "kea", round
		return p
	}
	r2 := pt(2000, 1990, 1500, false)
	r2.Round = 2
	trials := []trial{
		kea(2000, 2000, 1800, 1),
		pt(2000, 2000, 2000, false),
		r2,
		pt(4000, 3000, 3000, true),
		kea(4000, 4000, 900, 1),
		{Server: "dnsmasq", Mode: "rapid", Client: "d6load", Round: 1, Target: 2000, Offered: 2000, Achieved: 100}, // another series
	}
	got := byRateTable(trials, "d6load-4way")
	want := "| target/s | vrouter offered → answered/s | kea offered → answered/s |\n" +
		"|---|---|---|\n" +
		"| 2000 | 1995 → 1750 (1500–2000) | 2000 → 1800 |\n" +
		"| 4000 | 3000 → 3000 capped 1/1 | 4000 → 900 |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := byRateTable(trials, "perfdhcp-4way"); got != "" {
		t.Errorf("a series without points: %q", got)
	}
}

func TestReadPoints(t *testing.T) {
	in := "server,mode,client,round,target,offered,achieved,client_cpu,capped,kind\n" +
		"vrouter,4way,perfdhcp,2,16000,15800,15000,0.7,false,ladder\n" +
		"kea,rapid,d6load,1,8000,7000,7000,0.95,true,ladder\n" +
		"kea,4way,d6load,1,3000,3000,3000,0.2,false,latency\n"
	got, err := readPoints(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []trial{
		{Server: "vrouter", Mode: "4way", Client: "perfdhcp", Round: 2, Target: 16000, Offered: 15800, Achieved: 15000},
		{Server: "kea", Mode: "rapid", Client: "d6load", Round: 1, Target: 8000, Offered: 7000, Achieved: 7000, Capped: true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	for _, bad := range []string{
		"",
		"server,mode,client,round,target,offered,achieved\n",                                     // no capped column
		"server,mode,client,round,target,offered,achieved,capped\nk,4way,d6load,1,x,1,1,false\n", // not a number
		"server,mode,client,round,target,offered,achieved,capped\nk,4way,d6load,1,1\n",           // short row
	} {
		if _, err := readPoints(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
