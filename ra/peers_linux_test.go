package ra_test

// Namespace acceptance test against real peers: the host kernel (SLAAC,
// default router and RFC 4191 routes), rdisc6, radvdump, tshark, and radvd
// as a second router with conflicting values.
//
//	netns vrtXXXXXXr                          netns vrtXXXXXXh
//	[vrtXXXXXXa]------------ veth ------------[vrtXXXXXXb]
//	 Advertiser (forwarding on/off)            kernel SLAAC, rdisc6, radvdump,
//	                                           tshark, radvd (second router),
//	                                           crafted RSs over AF_PACKET

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netns"
	"github.com/vrouter/vrouter/internal/netns/netnstest"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/ra/ratest"
)

// background runs a command in a namespace until the test ends (or stop),
// collecting its output.
type background struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
	cancel context.CancelFunc
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startBackground(t *testing.T, ns string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Second
	b := &background{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{}), cancel: cancel}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	go func() { _ = cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { b.stop() })
	return b
}

// stop interrupts the command and waits for it (bounded by WaitDelay).
func (b *background) stop() string {
	b.cancel()
	<-b.done
	return b.out.String()
}

// frameSender sends raw Ethernet frames on a link of another namespace.
type frameSender struct {
	fd    int
	index int
	mac   net.HardwareAddr
}

func newFrameSender(t *testing.T, nsFD int, link string) *frameSender {
	t.Helper()
	s := &frameSender{fd: -1}
	err := netns.DoFD(nsFD, func() error {
		ifi, err := net.InterfaceByName(link)
		if err != nil {
			return err
		}
		s.index, s.mac = ifi.Index, ifi.HardwareAddr
		// Protocol 0: send only, receive nothing.
		s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatalf("AF_PACKET socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *frameSender) send(t *testing.T, frame []byte) {
	t.Helper()
	sa := &unix.SockaddrLinklayer{Ifindex: s.index, Protocol: htons(unix.ETH_P_IPV6), Halen: 6}
	copy(sa.Addr[:], frame[0:6])
	if err := unix.Sendto(s.fd, frame, 0, sa); err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

func linkLocalOf(t *testing.T, ns, link string) string {
	t.Helper()
	for _, line := range strings.Split(netnstest.Cmd(t, "ip", "-n", ns, "-6", "-o", "addr", "show", "dev", link, "scope", "link"), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			ll, _, _ := strings.Cut(f[3], "/")
			return ll
		}
	}
	t.Fatalf("%s has no link-local address", link)
	return ""
}

func peersConfig() config.Advertise {
	return config.Advertise{
		MinInterval:    200 * time.Second,
		MaxInterval:    600 * time.Second,
		RouterLifetime: 1800 * time.Second,
		Preference:     config.PreferenceHigh,
		Managed:        true,
		OtherConfig:    true,
		HopLimit:       64,
		ReachableTime:  30 * time.Second,
		RetransTimer:   time.Second,
		LinkMTU:        1400,
		Prefixes: []config.Prefix{{
			Prefix: netip.MustParsePrefix("2001:db8:0:2::/64"), OnLink: true, Autonomous: true,
			ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second,
		}},
		Routes:        []config.Route{{Prefix: netip.MustParsePrefix("2001:db8:ff::/48"), Preference: config.PreferenceHigh, Lifetime: 1800 * time.Second}},
		RDNSS:         []config.RDNSS{{Servers: []netip.Addr{netip.MustParseAddr("2001:db8:0:2::53")}, Lifetime: 1800 * time.Second}},
		DNSSL:         []config.DNSSL{{Domains: []string{"example.org"}, Lifetime: 1800 * time.Second}},
		PREF64:        []config.PREF64{{Prefix: netip.MustParsePrefix("64:ff9b::/96"), Lifetime: 1800 * time.Second}},
		CaptivePortal: "https://portal.example.org/api",
	}
}

func TestAdvertiserRealPeers(t *testing.T) {
	netnstest.RequireRoot(t, "ip", "rdisc6", "radvdump", "tshark", "radvd")
	p := newNetPair(t)
	host := func(args ...string) string {
		return netnstest.Cmd(t, append([]string{"ip", "netns", "exec", p.hostNS}, args...)...)
	}
	netnstest.Cmd(t, "ip", "netns", "exec", p.routerNS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	rx := listenRAs(t, p)
	pcap := filepath.Join(t.TempDir(), "ra.pcap")
	shark := startBackground(t, p.hostNS, "tshark", "-q", "-i", p.hostLink, "-f", "icmp6", "-w", pcap)
	dump := startBackground(t, p.hostNS, "radvdump")
	waitFor(t, 60*time.Second, "tshark to capture", func() (bool, string) {
		out := shark.out.String()
		return strings.Contains(out, "Capturing on"), out
	})

	reg := prometheus.NewRegistry()
	logs := &logRecorder{}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	cfg := peersConfig()
	adv := ra.NewAdvertiser(p.routerLink, cfg, slog.New(teeHandler{log.Handler(), logs}),
		ra.WithSystem(newNSSystem(t, p.routerFD)), ra.WithStateDir(t.TempDir()), ra.WithMetrics(ra.NewMetrics(reg)))
	ctx, cancel := context.WithCancel(context.Background())
	errC := make(chan error, 1)
	began := time.Now()
	go func() { errC <- adv.Run(ctx) }()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if !stopped {
			<-errC
		}
	})
	select {
	case <-adv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("no RA within 10s")
	}
	routerLL := linkLocalOf(t, p.routerNS, p.routerLink)
	t.Logf("first RA %s after Run", time.Since(began).Round(time.Millisecond))

	// Kernel: SLAAC address, default route and RFC 4191 route with their
	// preference and expiry.
	waitFor(t, 10*time.Second, "SLAAC address, default route and route information on the host", func() (bool, string) {
		addr := host("ip", "-6", "addr", "show", "dev", p.hostLink)
		def := host("ip", "-6", "route", "show", "default")
		rt := host("ip", "-6", "route", "show", "2001:db8:ff::/48")
		ok := strings.Contains(addr, "2001:db8:0:2:f816:3eff:fe33:3333/64") &&
			strings.Contains(def, "via "+routerLL) && strings.Contains(def, "pref high") && strings.Contains(def, "expires 17") &&
			strings.Contains(rt, "via "+routerLL) && strings.Contains(rt, "pref high") && strings.Contains(rt, "expires 17")
		return ok, addr + def + rt
	})

	// rdisc6 right after the start: radvd answers an RS in its first 16s
	// only after 16s; we within MAX_RA_DELAY_TIME, by unicast.
	waitFor(t, 5*time.Second, "host link-local address to leave DAD", func() (bool, string) {
		out := host("ip", "-6", "addr", "show", "dev", p.hostLink, "scope", "link")
		return strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative"), out
	})
	hostLL := netip.MustParseAddr(linkLocalOf(t, p.hostNS, p.hostLink))
	solicited := time.Now()
	out := host("rdisc6", "-1", "-w", "1000", p.hostLink)
	if d := time.Since(solicited); d > 2*time.Second {
		t.Errorf("rdisc6 got its answer after %s, want within 1s", d)
	}
	for _, want := range []string{
		"Hop limit                 :           64",
		"Stateful address conf.    :          Yes",
		"Stateful other conf.      :          Yes",
		"Router preference         :         high",
		"Router lifetime           :         1800",
		"Reachable time            :        30000",
		"Retransmit time           :         1000",
		"MTU                      :         1400",
		"Prefix                   : 2001:db8:0:2::/64",
		"Valid time              :        86400",
		"Pref. time              :        14400",
		"Route                    : 2001:db8:ff::/48",
		"Route preference        :         high",
		"Recursive DNS server     : 2001:db8:0:2::53",
		"DNS search list          : example.org",
		"Source link-layer address: FA:16:3E:22:22:22",
		"from " + routerLL,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rdisc6 output lacks %q:\n%s", want, out)
		}
	}
	var unicast bool
	for _, r := range rx.since(solicited) {
		unicast = unicast || r.dst == hostLL
	}
	if !unicast {
		t.Errorf("no unicast RA to %s after rdisc6 solicited", hostLL)
	}

	// Crafted RSs: an RS from "::" gets a multicast reply; invalid ones are
	// dropped and counted. The first multicast RAs were a few seconds ago,
	// so the reply may wait for MIN_DELAY_BETWEEN_RAS.
	fs := newFrameSender(t, p.hostFD, p.hostLink)
	allRouters := netip.IPv6LinkLocalAllRouters()
	rs, _ := ndp.MarshalMessage(&ndp.RouterSolicitation{})
	rsSLLA, _ := ndp.MarshalMessage(&ndp.RouterSolicitation{Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: fs.mac}}})
	code := append([]byte(nil), rsSLLA...)
	code[1] = 1
	zero := append(append([]byte(nil), rs...), 1, 0, 0, 0, 0, 0, 0, 0)
	before := adv.Status()
	fs.send(t, ratest.ICMPv6Frame(fs.mac, hostLL, allRouters, 64, rsSLLA))                   // hop limit 64
	fs.send(t, ratest.ICMPv6Frame(fs.mac, hostLL, allRouters, 255, code))                    // code 1
	fs.send(t, ratest.ICMPv6Frame(fs.mac, hostLL, allRouters, 255, zero))                    // zero-length option
	fs.send(t, ratest.ICMPv6Frame(fs.mac, netip.IPv6Unspecified(), allRouters, 255, rsSLLA)) // :: with SLLA
	waitFor(t, 5*time.Second, "four invalid RSs counted", func() (bool, string) {
		st := adv.Status()
		d := st.SolicitationsDropped
		ok := d["bad_hop_limit"] == before.SolicitationsDropped["bad_hop_limit"]+1 && d["bad_code"] == 1 &&
			d["zero_length_option"] == 1 && d["unspecified_source_with_slla"] == 1
		return ok, fmt.Sprint(d)
	})
	fromUnspec := time.Now()
	fs.send(t, ratest.ICMPv6Frame(fs.mac, netip.IPv6Unspecified(), allRouters, 255, rs))
	waitFor(t, 5*time.Second, "a multicast reply to the RS from ::", func() (bool, string) {
		for _, r := range rx.since(fromUnspec) {
			if r.dst == netip.IPv6LinkLocalAllNodes() {
				return true, ""
			}
		}
		return false, fmt.Sprint(rx.since(fromUnspec))
	})
	for _, r := range rx.since(fromUnspec.Add(-5 * time.Second)) {
		if r.dst == hostLL && r.at.After(solicited.Add(2*time.Second)) {
			t.Errorf("unicast RA at %s answered an invalid RS", r.at)
		}
	}

	// A second router with conflicting values: each field logged once.
	radvdConf := filepath.Join(t.TempDir(), "radvd.conf")
	if err := os.WriteFile(radvdConf, []byte(fmt.Sprintf(`interface %s {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 4;
	AdvCurHopLimit 32;
	AdvManagedFlag off;
	AdvDefaultLifetime 0;
	AdvLinkMTU 1500;
	prefix 2001:db8:0:2::/64 { AdvValidLifetime 3600; AdvPreferredLifetime 1800; };
	RDNSS 2001:db8::99 { };
};
`, p.hostLink)), 0o644); err != nil {
		t.Fatal(err)
	}
	netnstest.Cmd(t, "ip", "netns", "exec", p.hostNS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	radvd := startBackground(t, p.hostNS, "radvd", "-n", "-m", "stderr", "-C", radvdConf, "-p", filepath.Join(t.TempDir(), "radvd.pid"))
	waitFor(t, 15*time.Second, "inconsistencies of radvd's RAs counted", func() (bool, string) {
		inc := adv.Status().Inconsistencies
		ok := true
		for _, f := range []string{"hop_limit", "managed", "mtu", "prefix_valid_lifetime", "prefix_preferred_lifetime", "rdnss"} {
			ok = ok && inc[f] >= 2
		}
		return ok, fmt.Sprint(inc) + "\n" + radvd.out.String()
	})
	radvd.stop()
	for _, f := range []string{"hop_limit", "managed", "mtu", "prefix_valid_lifetime", "prefix_preferred_lifetime", "rdnss"} {
		n := 0
		for _, m := range logs.records() {
			if m.msg == "another router advertises an inconsistent value (RFC 4861 §6.2.7)" && m.attrs["field"] == f {
				n++
			}
		}
		if n != 1 {
			t.Errorf("inconsistent %s logged %d times, want once", f, n)
		}
	}
	netnstest.Cmd(t, "ip", "netns", "exec", p.hostNS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0",
		"net.ipv6.conf."+p.hostLink+".accept_ra=2")

	// Forwarding off on the router: router lifetime 0, the host drops the
	// default route; on again: it comes back.
	netnstest.Cmd(t, "ip", "netns", "exec", p.routerNS, "sysctl", "-qw", "net.ipv6.conf."+p.routerLink+".forwarding=0")
	adv.Notify()
	waitFor(t, 10*time.Second, "default route to go with forwarding off", func() (bool, string) {
		out := host("ip", "-6", "route", "show", "default")
		return !strings.Contains(out, routerLL), out
	})
	if out := host("rdisc6", "-1", "-w", "1000", p.hostLink); !strings.Contains(out, "Router lifetime           :            0") {
		t.Errorf("rdisc6 with forwarding off:\n%s", out)
	}
	netnstest.Cmd(t, "ip", "netns", "exec", p.routerNS, "sysctl", "-qw", "net.ipv6.conf."+p.routerLink+".forwarding=1")
	adv.Notify()
	waitFor(t, 10*time.Second, "default route back with forwarding on", func() (bool, string) {
		out := host("ip", "-6", "route", "show", "default")
		return strings.Contains(out, routerLL), out
	})

	// Withdrawal (RFC 9096): the prefix and the route are replaced. The
	// host deprecates its address at once and drops the route; radvd would
	// just stop announcing them.
	cfg2 := peersConfig()
	cfg2.Prefixes[0].Prefix = netip.MustParsePrefix("2001:db8:0:3::/64")
	cfg2.Routes = nil
	adv.Update(cfg2)
	waitFor(t, 10*time.Second, "old address deprecated, new one formed, route gone", func() (bool, string) {
		addr := host("ip", "-6", "addr", "show", "dev", p.hostLink)
		rt := host("ip", "-6", "route", "show", "2001:db8:ff::/48")
		var old string
		for _, l := range strings.Split(addr, "\n") {
			if strings.Contains(l, "2001:db8:0:2:") {
				old = l + "\n"
			}
		}
		sc := bufio.NewScanner(strings.NewReader(addr))
		deprecated := false
		for sc.Scan() {
			if strings.Contains(sc.Text(), "2001:db8:0:2:") {
				deprecated = strings.Contains(sc.Text(), "deprecated")
			}
		}
		return deprecated && strings.Contains(addr, "2001:db8:0:3:f816:3eff:fe33:3333/64") && strings.TrimSpace(rt) == "", old + addr + rt
	})

	// Shutdown: the final RA has router lifetime 0 and Prf=00, route, DNS
	// and PREF64 lifetimes 0.
	cancel()
	select {
	case err := <-errC:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	stopped = true
	waitFor(t, 5*time.Second, "default route to go after the final RA", func() (bool, string) {
		out := host("ip", "-6", "route", "show", "default")
		return strings.TrimSpace(out) == "", out
	})

	// radvdump decoded every RA; check the first and the last (final) one.
	time.Sleep(200 * time.Millisecond)
	dumped := dump.stop()
	blocks := strings.Split(dumped, "\ninterface "+p.hostLink)
	if len(blocks) < 3 {
		t.Fatalf("radvdump decoded %d RAs:\n%s", len(blocks)-1, dumped)
	}
	first, last := blocks[1], blocks[len(blocks)-1]
	for _, want := range []string{
		"AdvManagedFlag on;", "AdvOtherConfigFlag on;", "AdvReachableTime 30000;", "AdvRetransTimer 1000;",
		"AdvCurHopLimit 64;", "AdvDefaultLifetime 1800;", "AdvDefaultPreference high;", "AdvSourceLLAddress on;",
		"AdvLinkMTU 1400;", "prefix 2001:db8:0:2::/64", "AdvValidLifetime 86400;", "AdvPreferredLifetime 14400;",
		"route 2001:db8:ff::/48", "AdvRoutePreference high;", "AdvRouteLifetime 1800;",
		"RDNSS 2001:db8:0:2::53", "AdvRDNSSLifetime 1800;", "DNSSL example.org", "AdvDNSSLLifetime 1800;",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("radvdump of the first RA lacks %q:\n%s", want, first)
		}
	}
	for _, want := range []string{
		"AdvDefaultLifetime 0;", "AdvDefaultPreference medium;", "AdvRDNSSLifetime 0;", "AdvDNSSLLifetime 0;",
		"prefix 2001:db8:0:2::/64", "prefix 2001:db8:0:3::/64", "route 2001:db8:ff::/48", "AdvRouteLifetime 0;",
	} {
		if !strings.Contains(last, want) {
			t.Errorf("radvdump of the final RA lacks %q:\n%s", want, last)
		}
	}

	// tshark: every RA of ours has hop limit 255 and a link-local source;
	// multicast ones are at least 3s apart; PREF64 and captive portal are
	// on the wire.
	shark.stop()
	fields := netnstest.Cmd(t, "tshark", "-r", pcap, "-Y", "icmpv6.type == 134 && ipv6.src == "+routerLL, "-T", "fields",
		"-e", "frame.time_epoch", "-e", "ipv6.hlim", "-e", "ipv6.dst", "-e", "icmpv6.opt.type")
	var lastMulti float64
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(fields), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 4 {
			continue
		}
		n++
		if f[1] != "255" {
			t.Errorf("RA with hop limit %s: %s", f[1], line)
		}
		if !strings.Contains(","+f[3]+",", ",37,") || !strings.Contains(","+f[3]+",", ",38,") {
			t.Errorf("RA without captive portal (37) and PREF64 (38) options: %s", line)
		}
		if f[2] == "ff02::1" {
			at, _ := strconv.ParseFloat(f[0], 64)
			if lastMulti != 0 && at-lastMulti < 2.99 {
				t.Errorf("multicast RAs %.3fs apart on the wire, want >= 3s: %s", at-lastMulti, line)
			}
			lastMulti = at
		}
	}
	if n < 5 {
		t.Errorf("tshark saw %d RAs from %s:\n%s", n, routerLL, fields)
	}
	pref64 := netnstest.Cmd(t, "tshark", "-r", pcap, "-Y", "icmpv6.type == 134 && ipv6.src == "+routerLL, "-V")
	for _, want := range []string{"PREF64", "64:ff9b::", "Captive Portal", "https://portal.example.org/api"} {
		if !strings.Contains(pref64, want) {
			t.Errorf("tshark -V lacks %q", want)
		}
	}
}
