package ndproxy_test

// Benchmarks in the namespace topology of netns_linux_test.go, comparing the
// proxy with kernel proxy entries (NTF_PROXY) and ndppd. Root only:
//
//	go test -run '^$' -bench Netns -benchtime 3000x ./ndproxy/
//
// Each reports latency percentiles (µs), answered NS/s or, under a flood of
// 60k bogus targets, the legit target's p99, loss and the proxy's RSS.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ndproxy/internal/probe"
)

var impls = []string{"vrouter", "kernel", "ndppd"}

// setupImpl starts implementation impl in tp's host namespace, proxying
// c009 (static) or, with auto, learning targets of 2001:db8::/112 from
// docker0. It returns the pid whose memory is measured (0 for the kernel).
func setupImpl(b testing.TB, tp *topo, impl string, auto bool) int {
	b.Helper()
	switch impl {
	case "vrouter":
		cfg := rule125
		if auto {
			cfg.Prefix, cfg.Mode = netip.MustParsePrefix("2001:db8::/112"), config.NDProxyAuto
		}
		pp := tp.startProxy(cfg)
		return pp.cmd.Process.Pid // ip netns exec execs the helper in place
	case "kernel":
		tp.in(tp.host, "sysctl", "-qw", "net.ipv6.conf.all.proxy_ndp=1", "net.ipv6.conf.eth0.proxy_ndp=1",
			"net.ipv6.neigh.eth0.proxy_delay=0")
		tp.must("ip", "-n", tp.host, "-6", "neigh", "add", "proxy", c009s, "dev", "eth0")
		return 0
	case "ndppd":
		path, err := exec.LookPath("ndppd")
		if err != nil {
			b.Skip("ndppd not installed")
		}
		rule := "rule 2001:db8::c008/125 { static }"
		if auto {
			rule = "rule 2001:db8::/112 { iface docker0 }"
		}
		conf := filepath.Join(b.TempDir(), "ndppd.conf")
		if err := os.WriteFile(conf, []byte("proxy eth0 {\n  "+rule+"\n}\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command("ip", "netns", "exec", tp.host, path, "-c", conf)
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		eventually(b, 5*time.Second, "ndppd started", func() bool {
			return strings.Contains(logs.String(), "Startup") || strings.Contains(logs.String(), "ndppd")
		})
		return cmd.Process.Pid
	}
	b.Fatalf("unknown implementation %q", impl)
	return 0
}

func rssKB(pid int) int {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[int(float64(len(d)-1)*p)].Nanoseconds()) / 1e3
}

var rtGUA = netip.MustParseAddr("2001:db8::1")

// warm waits until the implementation answers for c009.
func warm(b *testing.B, pr *probe.Prober) {
	b.Helper()
	eventually(b, 10*time.Second, "first answer", func() bool {
		_, _, err := pr.Solicit(context.Background(), probe.Multicast(rtGUA, netip.MustParseAddr(c009s)), 200*time.Millisecond)
		return err == nil
	})
}

func BenchmarkNetnsLatency(b *testing.B) {
	for _, impl := range impls {
		b.Run(impl, func(b *testing.B) {
			tp := newTopo(b, false)
			tp.addContainer(c009s)
			setupImpl(b, tp, impl, false)
			pr := openProber(b, tp.rt)
			warm(b, pr)
			ns := probe.Multicast(rtGUA, netip.MustParseAddr(c009s))
			lat := make([]time.Duration, 0, b.N)
			lost := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, rtt, err := pr.Solicit(context.Background(), ns, 100*time.Millisecond)
				if err != nil {
					lost++
					continue
				}
				lat = append(lat, rtt)
			}
			b.StopTimer()
			b.ReportMetric(pct(lat, 0.5), "p50-µs")
			b.ReportMetric(pct(lat, 0.99), "p99-µs")
			b.ReportMetric(100*float64(lost)/float64(b.N), "loss-%")
		})
	}
}

// BenchmarkNetnsSaturation sends b.N NS for c009 as fast as one sender can
// and counts the answers.
func BenchmarkNetnsSaturation(b *testing.B) {
	for _, impl := range impls {
		b.Run(impl, func(b *testing.B) {
			tp := newTopo(b, false)
			tp.addContainer(c009s)
			setupImpl(b, tp, impl, false)
			tx, rx := openProber(b, tp.rt), openProber(b, tp.rt)
			warm(b, rx)
			target := netip.MustParseAddr(c009s)
			var answered atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					na, err := rx.Read(time.Now().Add(200 * time.Millisecond))
					if err == nil && na.Target == target {
						answered.Add(1)
						continue
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}()
			ns := probe.Multicast(rtGUA, target)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := tx.Send(ns); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(100 * time.Millisecond) // answers still in flight
			elapsed := time.Since(start)
			close(stop)
			wg.Wait()
			b.StopTimer()
			n := answered.Load()
			b.ReportMetric(float64(n)/elapsed.Seconds(), "answered/s")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sent/s")
			b.ReportMetric(100*float64(n)/float64(b.N), "answered-%")
		})
	}
}

// BenchmarkNetnsFlood solicits 60k bogus targets (nobody downstream has
// them) at 20k NS/s from the upstream router while measuring a real
// target's answers, one every millisecond.
func BenchmarkNetnsFlood(b *testing.B) {
	for _, impl := range impls {
		b.Run(impl, func(b *testing.B) {
			tp := newTopo(b, false)
			tp.addContainer(c009s)
			pid := setupImpl(b, tp, impl, true)
			tx, pr := openProber(b, tp.rt), openProber(b, tp.rt)
			warm(b, pr)
			rss0 := rssKB(pid)
			done := make(chan struct{})
			go func() {
				defer close(done)
				const n, rate = 60000, 20000
				start := time.Now()
				for i := 0; i < n; i++ {
					for time.Since(start) < time.Duration(i)*time.Second/rate {
						time.Sleep(200 * time.Microsecond)
					}
					tg := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
					if tg == netip.MustParseAddr(c009s) || tg.As16()[15] < 2 || tg == netip.MustParseAddr("2001:db8::c001") {
						continue
					}
					tx.Send(probe.Multicast(rtGUA, tg))
				}
			}()
			ns := probe.Multicast(rtGUA, netip.MustParseAddr(c009s))
			var lat []time.Duration
			lost, sent := 0, 0
			rssMax := rss0
			b.ResetTimer()
			for flooding := true; flooding; {
				select {
				case <-done:
					flooding = false
				default:
				}
				sent++
				_, rtt, err := pr.Solicit(context.Background(), ns, 100*time.Millisecond)
				if err != nil {
					lost++
				} else {
					lat = append(lat, rtt)
				}
				if sent%100 == 0 {
					rssMax = max(rssMax, rssKB(pid))
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(pct(lat, 0.5), "p50-µs")
			b.ReportMetric(pct(lat, 0.99), "p99-µs")
			b.ReportMetric(100*float64(lost)/float64(sent), "loss-%")
			b.ReportMetric(float64(rss0)/1024, "rss0-MB")
			b.ReportMetric(float64(rssMax)/1024, "rssmax-MB")
			if tp.proxy != nil {
				st := tp.proxy.rule(b)
				b.Logf("vrouter: answered %d, probes %d, pending %d, dropped %v", st.Answered, st.Probes, st.Pending, st.Dropped)
			}
		})
	}
}
