//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/scenario"
)

// fastpathConfig is the embedded default plus the fast path on both links,
// with fastpath.io io ("": not set, auto).
func fastpathConfig(io string) []byte {
	cfg := config.DefaultYAML()
	if len(cfg) > 0 && cfg[len(cfg)-1] != '\n' {
		cfg = append(cfg, '\n')
	}
	cfg = append(cfg, "fastpath:\n  enabled: true\n  interfaces: [eth0, eth1]\n"...)
	if io != "" {
		cfg = append(cfg, "  io: "+io+"\n"...)
	}
	return cfg
}

// fastpathStatus is the part of `vrouter status --json` this test reads.
type fastpathStatus struct {
	Running   bool              `json:"running"`
	Received  uint64            `json:"received"`
	Forwarded uint64            `json:"forwarded"`
	ToKernel  map[string]uint64 `json:"to_kernel"`
	Dropped   map[string]uint64 `json:"dropped"`
	IO        map[string]string `json:"io"`
}

// fastpath runs `vrouter status --json` against the scenario's socket and
// returns its fast-path section.
func (e *env) fastpath() (fastpathStatus, error) {
	out, err := exec.CommandContext(e.t.Context(), vrouterBin, "status", "--json", "--socket", e.s.VRouterSocket()).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return fastpathStatus{}, fmt.Errorf("vrouter status: %w", err)
	}
	var st struct {
		Fastpath *fastpathStatus `json:"fastpath"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return fastpathStatus{}, fmt.Errorf("vrouter status --json: %w\n%s", err, out)
	}
	if st.Fastpath == nil {
		return fastpathStatus{}, fmt.Errorf("vrouter status --json has no fastpath section:\n%s", out)
	}
	return *st.Fastpath, nil
}

// waitFastpathRunning polls the status until the engine forwards.
func (e *env) waitFastpathRunning(timeout time.Duration) fastpathStatus {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := e.fastpath()
		if err == nil && st.Running {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("fast path not running %v after start: %+v, %v\n%s", timeout, st, err, e.vr.Output())
		}
		select {
		case <-e.t.Context().Done():
			e.t.Fatal(e.t.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestReferenceScenarioFastpath runs the reference scenario with the fast
// path on eth0 and eth1 (issue 5): SLAAC on both VMs, ping from both to the
// ipv6-router, traceroute through the vRouter (hop limit 1 goes to the
// kernel, which sends Time Exceeded), and proof that the fast path, not the
// kernel, forwarded the echo traffic: its forwarded counter grows by at
// least one per echo request and reply, and ping reports no duplicate
// replies (the kernel forwarding a copy of what the fast path forwards
// would show as "DUP!").
// TestReferenceScenarioFastpath runs the reference scenario with the fast
// path on both links, on the default datapath (auto: the XDP tier with
// native XDP on veth), on AF_XDP and on AF_PACKET.
func TestReferenceScenarioFastpath(t *testing.T) {
	for _, tc := range []struct{ io, want string }{
		{"", "xdp (xdp-native)"},
		{config.FastpathIOAFXDP, "af_xdp (xdp-native)"},
		{config.FastpathIOPacket, "af_packet (tc-ingress)"},
	} {
		name := tc.io
		if name == "" {
			name = "auto"
		}
		t.Run(name, func(t *testing.T) { testReferenceScenarioFastpath(t, tc.io, tc.want) })
	}
}

func testReferenceScenarioFastpath(t *testing.T, io, wantIO string) {
	e := newEnv(t, scenario.Options{VRouterConfig: fastpathConfig(io)})
	e.start()
	e.waitConverged()
	st := e.waitFastpathRunning(shortTimeout)
	for _, l := range []string{"eth0", "eth1"} {
		if st.IO[l] != wantIO {
			t.Errorf("fast path io of %s = %q, want %q (status %+v)", l, st.IO[l], wantIO, st)
		}
	}
	t.Run("vm_slaac_and_default_route", e.checkVMs)

	// One echo first, so that the next hops are resolved: the XDP tier
	// leaves a packet whose neighbour is not known yet to the kernel.
	for _, vm := range []scenario.Node{scenario.VM1, scenario.VM2} {
		if res, err := e.s.Ping(t.Context(), vm, scenario.UpstreamAddr.Addr(), 1); err != nil {
			t.Errorf("first ping from %s: %v\n%s", vm.Title(), err, res.Output)
		}
	}
	const count = 3
	before, err := e.fastpath()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ping_upstream", func(t *testing.T) {
		for _, vm := range []scenario.Node{scenario.VM1, scenario.VM2} {
			res, err := e.s.Ping(t.Context(), vm, scenario.UpstreamAddr.Addr(), count)
			if err != nil {
				t.Errorf("%v\n%s", err, res.Output)
				continue
			}
			if strings.Contains(res.Output, "DUP!") {
				t.Errorf("%s -> %v: duplicate echo replies (the kernel forwards too):\n%s", vm.Title(), scenario.UpstreamAddr.Addr(), res.Output)
			}
			t.Logf("%s -> %v: %s", vm.Title(), scenario.UpstreamAddr.Addr(), res.Summary)
		}
	})
	after, err := e.fastpath()
	if err != nil {
		t.Fatal(err)
	}
	// Each VM: count requests out through eth0 and count replies out
	// through eth1, all by the fast path.
	if got, want := after.Forwarded-before.Forwarded, uint64(2*2*count); got < want {
		t.Errorf("fast path forwarded %d frames during the pings, want at least %d (status before %+v, after %+v)", got, want, before, after)
	}
	t.Logf("fast path status after the pings: %+v", after)

	t.Run("traceroute", func(t *testing.T) {
		hops, out, err := e.s.Traceroute(t.Context(), scenario.VM1, scenario.UpstreamAddr.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if len(hops) == 0 || hops[0] != scenario.VRouterEth1Addr.Addr() {
			t.Errorf("traceroute first hop = %v, want the vRouter %v:\n%s", hops, scenario.VRouterEth1Addr.Addr(), out)
		}
		if len(hops) == 0 || hops[len(hops)-1] != scenario.UpstreamAddr.Addr() {
			t.Errorf("traceroute did not reach %v:\n%s", scenario.UpstreamAddr.Addr(), out)
		}
		t.Logf("traceroute from VM1:\n%s", out)
	})
	if st, err := e.fastpath(); err != nil {
		t.Error(err)
	} else if st.Forwarded == 0 || st.ToKernel["hop_limit"] == 0 {
		t.Errorf("fast path status %+v: want forwarded > 0 and hop-limit frames left to the kernel (traceroute's first probe)", st)
	}
	if e.vr.Exited() {
		t.Errorf("vrouter exited during the test: %s", e.vr.Status())
	}
}
