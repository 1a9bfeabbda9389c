package router_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/router"
	"github.com/vrouter/vrouter/router/routertest"
)

// mutating returns the state-changing calls among calls.
func mutating(calls []string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, "Set") || strings.HasPrefix(c, "Replace") || strings.HasPrefix(c, "Delete") || strings.HasPrefix(c, "Solicit") {
			out = append(out, c)
		}
	}
	return out
}

// ownedV1 adds two addresses to eth1 and one to eth2.
func ownedV1() *config.Config {
	c := reference()
	c.Interfaces[1].Addresses = []netip.Prefix{pfx("2001:db8:0:2::1/64"), pfx("2001:db8:0:3::1/64")}
	c.Interfaces = append(c.Interfaces, config.Interface{Name: "eth2", Addresses: []netip.Prefix{pfx("2001:db8:7::1/64")}})
	return c
}

func readOwned(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, router.OwnedFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOwnershipAcrossRestart: each "restart" is a new Reconciler on the same
// kernel and state directory. Unchanged config: no call changes anything.
// An address dropped from the config while the router was down is removed;
// the operator's, SLAAC's and the link-local addresses are not.
func TestOwnershipAcrossRestart(t *testing.T) {
	f := slaacHost(t)
	dir := t.TempDir()
	ctx := context.Background()
	log, _ := newLogger(t)
	if err := router.New(f, log, router.WithStateDir(dir)).Apply(ctx, ownedV1()); err != nil {
		t.Fatalf("first process: %v", err)
	}
	f.AddKernelAddr("eth1", pfx("2001:db8:0:4::1/64")) // an operator's
	want := `{
  "version": 1,
  "addresses": {
    "eth1": [
      "2001:db8:0:2::1/64",
      "2001:db8:0:3::1/64"
    ],
    "eth2": [
      "2001:db8:7::1/64"
    ]
  }
}
`
	if diff := cmp.Diff(want, readOwned(t, dir)); diff != "" {
		t.Errorf("state file (-want +got):\n%s", diff)
	}

	// Restart, same config: nothing is touched, the file is not rewritten.
	before := f.Render()
	fi, err := os.Stat(filepath.Join(dir, router.OwnedFile))
	if err != nil {
		t.Fatal(err)
	}
	f.ResetCalls()
	log, logs := newLogger(t)
	r := router.New(f, log, router.WithStateDir(dir))
	if err := r.Apply(ctx, ownedV1()); err != nil {
		t.Fatalf("second process: %v", err)
	}
	if m := mutating(f.Calls()); len(m) != 0 {
		t.Errorf("restart with the same config made changes: %q", m)
	}
	if diff := cmp.Diff(before, f.Render()); diff != "" {
		t.Errorf("state changed (-before +after):\n%s", diff)
	}
	if fi2, err := os.Stat(filepath.Join(dir, router.OwnedFile)); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("state file rewritten without a change (%v)", err)
	}
	if !strings.Contains(logs.String(), `msg="restored address ownership"`) || !strings.Contains(logs.String(), "addresses=3") {
		t.Errorf("log lacks the restored ownership:\n%s", logs)
	}

	// Restart with :3::1 and eth2 dropped from the config while down.
	f.ResetCalls()
	log, _ = newLogger(t)
	if err := router.New(f, log, router.WithStateDir(dir)).Apply(ctx, reference()); err != nil {
		t.Fatalf("third process: %v", err)
	}
	if diff := cmp.Diff([]string{
		"DeleteAddr eth1 2001:db8:0:3::1/64",
		"DeleteAddr eth2 2001:db8:7::1/64",
	}, mutating(f.Calls())); diff != "" {
		t.Errorf("changes after the restart (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		"addr eth0 2001:db8:0:1:f816:3eff:fe11:1111/64", // SLAAC
		"addr eth0 fe80::f816:3eff:fe11:1111/64",
		"addr eth1 2001:db8:0:2::1/64",
		"addr eth1 2001:db8:0:4::1/64", // the operator's
		"addr eth1 fe80::f816:3eff:fe22:2222/64",
		"addr eth2 2001:db8:9::9/64", // there before vrouter
		"addr eth2 fe80::ff:fe00:4/64",
	}, grep(f.Render(), "addr ")); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if got := readOwned(t, dir); !strings.Contains(got, "2001:db8:0:2::1/64") || strings.Contains(got, "0:3::1") || strings.Contains(got, "eth2") {
		t.Errorf("state file after removal:\n%s", got)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != router.OwnedFile {
		t.Errorf("state directory holds %v, want only %s (no temporary files left)", ents, router.OwnedFile)
	}
	if fi, err := os.Stat(filepath.Join(dir, router.OwnedFile)); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("state file mode %v (%v), want 0640", fi.Mode(), err)
	}
}

// TestForeignAddressNeverOwned: an address that was on the link before
// the router (an operator's) is never removed, even though a config asked
// for it and then dropped it, in the same process or after a restart.
func TestForeignAddressNeverOwned(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "reload", true: "restart"}[restart], func(t *testing.T) {
			f := slaacHost(t)
			f.AddKernelAddr("eth1", pfx("2001:db8:0:3::1/64"))
			dir := t.TempDir()
			log, _ := newLogger(t)
			r := router.New(f, log, router.WithStateDir(dir))
			if err := r.Apply(context.Background(), ownedV1()); err != nil {
				t.Fatal(err)
			}
			if restart {
				r = router.New(f, log, router.WithStateDir(dir))
			}
			f.ResetCalls()
			if err := r.Apply(context.Background(), reference()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"DeleteAddr eth2 2001:db8:7::1/64"}, mutating(f.Calls())); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if got := grep(f.Render(), "addr eth1 2001:db8:0:3::1/64"); len(got) != 1 {
				t.Errorf("the operator's address was removed")
			}
		})
	}
}

// TestOwnedStateFileBad: a state file that cannot be read or proven right
// is logged and counts as owning nothing: no crash, and an address dropped
// from the config while down is left in place (it cannot be proven ours).
// The next write replaces the bad file with the truth.
func TestOwnedStateFileBad(t *testing.T) {
	for _, tt := range []struct {
		name, content string
		dir           bool // a directory where the file should be
	}{
		{name: "empty", content: ""},
		{name: "truncated", content: `{"version": 1, "addresses": {"eth1": ["2001:db8:0:3::1/64"`},
		{name: "not json", content: "\x00\xff garbage"},
		{name: "other version", content: `{"version": 2, "addresses": {"eth1": ["2001:db8:0:3::1/64"]}}`},
		{name: "no addresses", content: `{"version": 1}`},
		{name: "bad prefix", content: `{"version": 1, "addresses": {"eth1": ["2001:db8:0:3::1/64", "2001:db8::zz/64"]}}`},
		{name: "ipv4", content: `{"version": 1, "addresses": {"eth1": ["2001:db8:0:3::1/64", "192.0.2.1/24"]}}`},
		{name: "multicast", content: `{"version": 1, "addresses": {"eth1": ["ff02::1/64"]}}`},
		{name: "bad interface name", content: `{"version": 1, "addresses": {"../eth1": ["2001:db8:0:3::1/64"]}}`},
		{name: "wrong types", content: `{"version": "1", "addresses": ["eth1"]}`},
		{name: "unreadable", dir: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := slaacHost(t)
			if err := f.SetLinkUp("eth1"); err != nil {
				t.Fatal(err)
			}
			// Left by the previous process, which added :3::1 and wrote
			// a file that is now bad.
			f.AddKernelAddr("eth1", pfx("2001:db8:0:2::1/64"))
			f.AddKernelAddr("eth1", pfx("2001:db8:0:3::1/64"))
			dir := t.TempDir()
			path := filepath.Join(dir, router.OwnedFile)
			var err error
			if tt.dir {
				err = os.Mkdir(path, 0o755)
			} else {
				err = os.WriteFile(path, []byte(tt.content), 0o640)
			}
			if err != nil {
				t.Fatal(err)
			}
			f.ResetCalls()
			log, logs := newLogger(t)
			r := router.New(f, log, router.WithStateDir(dir))
			if err := r.Apply(context.Background(), reference()); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if m := slices.DeleteFunc(mutating(f.Calls()), func(c string) bool { return !strings.Contains(c, "Addr") }); len(m) != 0 {
				t.Errorf("address changes with a bad state file: %q", m)
			}
			if !strings.Contains(logs.String(), "ignoring the address ownership file") {
				t.Errorf("bad state file not logged:\n%s", logs)
			}
			if tt.dir {
				if !strings.Contains(logs.String(), "cannot save address ownership") {
					t.Errorf("failed save not logged:\n%s", logs)
				}
				return
			}
			// Rewritten with what this process knows: it owns nothing.
			if got := readOwned(t, dir); got != "{\n  \"version\": 1,\n  \"addresses\": {}\n}\n" {
				t.Errorf("state file not replaced by the truth:\n%s", got)
			}
		})
	}
}

// TestOwnedSaveFailure: a state directory that cannot be written does not
// stop the router; the failure is logged once, and the file is written once
// the directory works again.
func TestOwnedSaveFailure(t *testing.T) {
	f := slaacHost(t)
	dir := filepath.Join(t.TempDir(), "missing")
	log, logs := newLogger(t)
	r := router.New(f, log, router.WithStateDir(dir))
	for range 3 {
		if err := r.Apply(context.Background(), ownedV1()); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "cannot save address ownership"); n != 1 {
		t.Errorf("save failure logged %d times, want once:\n%s", n, logs)
	}
	if len(grep(f.Render(), "addr eth1 2001:db8:0:3::1/64")) != 1 {
		t.Error("address not added while the state directory is broken")
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(context.Background(), ownedV1()); err != nil {
		t.Fatal(err)
	}
	if got := readOwned(t, dir); !strings.Contains(got, "2001:db8:0:3::1/64") {
		t.Errorf("state file after the directory came back:\n%s", got)
	}
}

// recordingOS checks, at every ReplaceAddr, that the address is already in
// the state file: a crash right after the add cannot leave it unrecorded.
type recordingOS struct {
	*routertest.OS
	t    *testing.T
	path string
}

func (o recordingOS) ReplaceAddr(name string, p netip.Prefix) error {
	b, err := os.ReadFile(o.path)
	if err != nil || !strings.Contains(string(b), `"`+p.String()+`"`) {
		o.t.Errorf("ReplaceAddr %s %s before it was recorded (%v):\n%s", name, p, err, b)
	}
	return o.OS.ReplaceAddr(name, p)
}

func TestOwnedRecordedBeforeAdded(t *testing.T) {
	f := slaacHost(t)
	dir := t.TempDir()
	log, _ := newLogger(t)
	osys := recordingOS{OS: f, t: t, path: filepath.Join(dir, router.OwnedFile)}
	if err := router.New(osys, log, router.WithStateDir(dir)).Apply(context.Background(), ownedV1()); err != nil {
		t.Fatal(err)
	}
	if n := len(grep(f.Render(), "addr eth1 2001:db8:0:3::1/64", "addr eth2 2001:db8:7::1/64")); n != 2 {
		t.Errorf("%d of 2 addresses added", n)
	}
}

// TestOwnedFailedAddNotOwned: an address the kernel refused is not ours;
// if an operator adds it later and the config drops it, it stays.
func TestOwnedFailedAddNotOwned(t *testing.T) {
	f := slaacHost(t)
	dir := t.TempDir()
	f.Fail("ReplaceAddr eth1 2001:db8:0:3::1/64", errors.New("injected"))
	log, _ := newLogger(t)
	r := router.New(f, log, router.WithStateDir(dir))
	if err := r.Apply(context.Background(), ownedV1()); err == nil {
		t.Fatal("Apply succeeded despite the injected failure")
	}
	if got := readOwned(t, dir); strings.Contains(got, "0:3::1") {
		t.Errorf("refused address recorded as owned:\n%s", got)
	}
	f.Fail("ReplaceAddr eth1 2001:db8:0:3::1/64", nil)
	f.AddKernelAddr("eth1", pfx("2001:db8:0:3::1/64"))
	r = router.New(f, log, router.WithStateDir(dir))
	f.ResetCalls()
	if err := r.Apply(context.Background(), reference()); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(f.Calls(), "DeleteAddr eth1 2001:db8:0:3::1/64") {
		t.Error("removed an address the router never added")
	}
}
