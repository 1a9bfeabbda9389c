package daemon

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrouter/vrouter/fastpath/fastpathtest"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/router"
)

// mutations returns the state-changing calls the router fake saw.
func (f *fakes) mutations() []string {
	var out []string
	for _, c := range f.os.Calls() {
		if !strings.HasPrefix(c, "Link ") && !strings.HasPrefix(c, "Addrs ") && !strings.HasPrefix(c, "Sysctl ") {
			out = append(out, c)
		}
	}
	return out
}

// TestRunRestart stops the daemon for a restart (ErrRestart) and starts a
// new one on the same systems and state directory, as `systemctl restart`
// with RestartKillSignal=SIGUSR2 does:
//   - the stop sends no final RA and leaves the proxy's route;
//   - the start with an unchanged config (and the runtime address restored
//     before the first apply) changes nothing: no router call mutates, the
//     proxy adopts its route;
//   - a start after the config and the runtime fact dropped addresses
//     removes exactly those, the router having recorded them as its own;
//   - a real stop still sends the final RA and removes the route.
func TestRunRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakes(t, fakeConfig, &fastpathtest.System{Interfaces: map[string]fastpathtest.Interface{}})
		f.stateDir = t.TempDir()
		f.nd.SetLink(ndproxy.Link{Index: 2, Name: "eth0", MAC: ndproxy.MAC{0xfa, 0x16, 0x3e, 0x11, 0x11, 0x11}, Up: true})
		f.nd.SetLink(ndproxy.Link{Index: 3, Name: "eth1", MAC: ndproxy.MAC{0xfa, 0x16, 0x3e, 0x22, 0x22, 0x22}, Up: true})
		pd := netip.MustParsePrefix("2001:db8:77:2::1/64")
		f.facts = &Facts{Addresses: map[string][]netip.Prefix{"eth1": {pd}}}
		f.run()
		c := f.conn()
		const route = "route 2001:db8:0:2::c000/125 dev 3"
		if !slices.Contains(f.nd.State(), route) || !slices.Contains(f.os.Render(), "addr eth1 "+pd.String()) {
			t.Fatalf("first start: proxy %v, router:\n%s", f.nd.State(), f.os)
		}
		owned, err := os.ReadFile(filepath.Join(f.stateDir, router.OwnedFile))
		if err != nil || !strings.Contains(string(owned), pd.String()) || !strings.Contains(string(owned), "2001:db8:0:2::1/64") {
			t.Errorf("owned addresses (%v):\n%s", err, owned)
		}
		time.Sleep(time.Minute)
		n := len(c.Packets())

		f.stopWith(ErrRestart)
		if got := c.Packets()[n:]; len(got) != 0 {
			t.Errorf("stop for a restart sent %d RAs (first router lifetime %v), want none", len(got), raOf(got[0]).RouterLifetime)
		}
		if diff := cmp.Diff([]string{route}, f.nd.State()); diff != "" {
			t.Errorf("proxy state left for the next run (-want +got):\n%s", diff)
		}

		// Same config: nothing changes.
		f.os.ResetCalls()
		f.run()
		if m := f.mutations(); len(m) != 0 {
			t.Errorf("restart with an unchanged config changed the kernel: %q", m)
		}
		c2 := f.conn()
		if p := c2.Packets(); len(p) == 0 || raOf(p[0]).RouterLifetime == 0 {
			t.Errorf("after the restart: %d RAs", len(p))
		}
		if st := f.status(); len(st.NDProxy) != 1 || !st.NDProxy[0].Active {
			t.Errorf("proxy after the restart (re-adding its route fails on the fake): %+v", st.NDProxy)
		}
		for _, cs := range f.status().Components {
			if cs.State != StateReady || cs.Restarts != 0 {
				t.Errorf("component after the restart: %+v", cs)
			}
		}

		// Down again; meanwhile the config drops nothing but the runtime
		// fact is gone (the delegation ended) and a config address is
		// replaced.
		f.stopWith(ErrRestart)
		f.facts = nil
		f.write(strings.Replace(fakeConfig, "addresses: [2001:db8:0:2::1/64]", "addresses: [2001:db8:0:2::2/64]", 1))
		f.os.ResetCalls()
		f.run()
		if diff := cmp.Diff([]string{
			"ReplaceAddr eth1 2001:db8:0:2::2/64",
			"DeleteAddr eth1 2001:db8:0:2::1/64",
			"DeleteAddr eth1 " + pd.String(),
		}, f.mutations()); diff != "" {
			t.Errorf("restart with dropped addresses (-want +got):\n%s", diff)
		}

		// A real stop withdraws.
		c3 := f.conn()
		n = len(c3.Packets())
		f.stop()
		if got := c3.Packets()[n:]; len(got) != 1 || raOf(got[0]).RouterLifetime != 0 {
			t.Errorf("real stop: %d RAs, want 1 final", len(got))
		}
		if s := f.nd.State(); len(s) != 0 {
			t.Errorf("real stop left proxy state: %v", s)
		}
	})
}

func TestRestarting(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	if Restarting(child) {
		t.Error("Restarting before cancel")
	}
	cancel(ErrRestart)
	if !Restarting(child) {
		t.Error("a child of a context canceled for a restart does not say so")
	}
	stopped, stop := context.WithCancelCause(context.Background())
	stop(nil)
	if Restarting(stopped) {
		t.Error("Restarting after a plain stop")
	}
}
