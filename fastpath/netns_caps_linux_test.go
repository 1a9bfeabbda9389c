package fastpath_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/images"
)

// setpriv returns the command prefix that runs a program with only caps
// (bounding, inheritable and ambient sets; still uid 0, so that files and
// sysfs stay writable as for root), or nothing for nil caps.
func setpriv(caps []string) []string {
	if caps == nil {
		return nil
	}
	set := "-all"
	for _, c := range caps {
		set += ",+" + c
	}
	return []string{"setpriv", "--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set}
}

// unitCaps returns the capabilities the systemd unit grants, with the
// fast path's drop-in, in setpriv's spelling ("net_admin").
func unitCaps(t *testing.T) []string {
	t.Helper()
	var caps []string
	for _, f := range [][]byte{images.Unit(), images.XDPDropIn()} {
		for _, l := range strings.Split(string(f), "\n") {
			v, ok := strings.CutPrefix(strings.TrimSpace(l), "AmbientCapabilities=")
			if !ok {
				continue
			}
			for _, c := range strings.Fields(v) {
				caps = append(caps, strings.ToLower(strings.TrimPrefix(c, "CAP_")))
			}
		}
	}
	if !slices.Contains(caps, "bpf") || !slices.Contains(caps, "net_admin") {
		t.Fatalf("capabilities of the unit and its drop-in %q: want bpf and net_admin among them", caps)
	}
	return caps
}

// TestNamespaceUnitCapabilities runs the XDP tier with the capabilities
// the systemd unit and its fast-path drop-in grant, not root's: it must
// load and forward. Without CAP_PERFMON the verifier refuses the tier's
// program (pointer arithmetic "prohibited for !root"), which is why the
// drop-in grants it.
func TestNamespaceUnitCapabilities(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed (Debian package util-linux)")
	}
	caps := unitCaps(t)
	// The veth peers get NAPI (so that they take redirected frames) from
	// an XDP program of their own: the router cannot turn GRO on in their
	// namespaces without CAP_SYS_ADMIN, as a service VM's virtio-net NICs
	// need neither.
	t.Run("unit", func(t *testing.T) { tierForwardsWith(t, caps, "") })
	// fastpath.cpus: the workers and the tier's NAPI threads pinned, the
	// threads at a nice value below 0 (CAP_SYS_NICE, which the drop-in
	// grants with the syscalls @resources holds).
	t.Run("unit_cpus", func(t *testing.T) { tierForwardsWith(t, caps, "0") })
	t.Run("without_perfmon", func(t *testing.T) {
		tp := newTopo(t)
		without := slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return c == "perfmon" })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", append(append([]string{"netns", "exec", tp.r}, setpriv(without)...),
			os.Args[0], "-test.run=^TestHelperRouter$", "-test.v=false")...)
		cmd.Env = append(os.Environ(), helperEnv+"="+tp.rA+","+tp.rB, helperIOEnv+"="+config.FastpathIOXDP)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "prohibited for !root") {
			t.Errorf("XDP tier without CAP_PERFMON (%q): %v, want the verifier's refusal\n%s", without, err, out)
		}
	})
}

// tierForwardsWith runs the XDP tier with only caps and fastpath.cpus cpu
// ("": none) and pings through it.
func tierForwardsWith(t *testing.T, caps []string, cpu string) {
	tp := newTopo(t)
	tp.io = config.FastpathIOXDP
	tp.caps = caps
	tp.cpu = cpu
	attachQueueSink(t, tp.g, tp.gA)
	attachQueueSink(t, tp.s, tp.sB)
	stop := tp.startRouter()
	for i := range 3 {
		if out, err := exec.Command("ip", "netns", "exec", tp.g, "ping", "-6", "-c", "1", "-W", "2", tp.sAddr.String()).CombinedOutput(); err != nil {
			t.Errorf("ping %d through the router: %v\n%s", i, err, out)
		}
	}
	if s := stop(); s.Forwarded == 0 {
		t.Errorf("XDP tier with the unit's capabilities %q (cpus %q) forwarded nothing: %+v", caps, cpu, s)
	}
}
