package daemon

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vrouter/vrouter/config"
)

func TestNotify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notify.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	t.Setenv("NOTIFY_SOCKET", path)
	if err := notify("READY=1\nSTATUS=2/2 interfaces configured"); err != nil {
		t.Fatalf("notify: %v", err)
	}
	buf := make([]byte, 256)
	_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := l.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(buf[:n]), "READY=1\nSTATUS=2/2 interfaces configured"; got != want {
		t.Errorf("datagram = %q, want %q", got, want)
	}

	t.Setenv("NOTIFY_SOCKET", "")
	if err := notify("READY=1"); err != nil {
		t.Errorf("notify without NOTIFY_SOCKET must be a no-op, got %v", err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(dir, "absent.sock"))
	if err := notify("READY=1"); err == nil {
		t.Error("notify to a missing socket: want error")
	}
}

func TestStatusSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "vrouter.sock")
	on := true
	want := Status{
		Config:     "/etc/vrouter/vrouter.yaml",
		Started:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Forwarding: &on,
		Interfaces: []InterfaceStatus{{Name: "eth1", Role: "downstream", Configured: true, Advertise: true, Advertising: true}},
	}
	l, err := listenStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	go serveStatus(l, func() Status { return want })

	got, err := QueryStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	// A second daemon must not steal a live socket.
	if _, err := listenStatus(path); err == nil || !strings.Contains(err.Error(), "another vrouter is running") {
		t.Errorf("listen on a live socket: err = %v, want 'another vrouter is running'", err)
	}

	// A stale socket (daemon gone, file left) is replaced. Closing a unix
	// listener removes its file, so recreate a dead one by hand.
	l.Close()
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket file should exist: %v", err)
	}
	l2, err := listenStatus(path)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	l2.Close()
}

func TestQueryStatusNoDaemon(t *testing.T) {
	_, err := QueryStatus(filepath.Join(t.TempDir(), "none.sock"))
	if err == nil || !strings.Contains(err.Error(), "no vrouter running") {
		t.Errorf("err = %v, want 'no vrouter running'", err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("forwarding: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(good)
	if err != nil || c.Source != good || c.ForwardingOn() {
		t.Fatalf("LoadConfig(good) = %+v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("forwarding: maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(bad)
	var errs config.Errors
	if !errors.As(err, &errs) || errs[0].Line != 1 {
		t.Errorf("LoadConfig(bad) err = %v, want config.Errors at line 1", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an explicit missing file must be an error, got %v", err)
	}
	if _, err := os.Stat(config.DefaultPath); errors.Is(err, os.ErrNotExist) {
		c, err := LoadConfig("")
		if err != nil || c.Source != "<default>" {
			t.Errorf("LoadConfig(\"\") without %s = %v, %v; want the embedded default", config.DefaultPath, c, err)
		}
	}
}

func TestValidateAdvertise(t *testing.T) {
	c := config.Default()
	if err := Validate(c); err != nil {
		t.Errorf("default config: %v", err)
	}
}

func TestCollector(t *testing.T) {
	on := true
	st := Status{
		Config: "x", Forwarding: &on,
		Interfaces: []InterfaceStatus{{Name: "eth1", Role: "downstream", Configured: true, Advertise: true, Advertising: true}},
		Fastpath:   &FastpathStatus{Running: true, Received: 10, Forwarded: 7, ToKernel: map[string]uint64{"hop_limit": 3}},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newCollector(func() Status { return st }))
	want := `
# HELP vrouter_fastpath_forwarded_total Frames forwarded by the fast path.
# TYPE vrouter_fastpath_forwarded_total counter
vrouter_fastpath_forwarded_total 7
# HELP vrouter_fastpath_to_kernel_total Frames left to the kernel, by reason.
# TYPE vrouter_fastpath_to_kernel_total counter
vrouter_fastpath_to_kernel_total{reason="hop_limit"} 3
# HELP vrouter_router_interface_configured 1 when the interface exists and was fully configured on the last pass.
# TYPE vrouter_router_interface_configured gauge
vrouter_router_interface_configured{iface="eth1"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"vrouter_fastpath_forwarded_total", "vrouter_fastpath_to_kernel_total", "vrouter_router_interface_configured"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n < 8 {
		t.Errorf("gathered %d metrics, err %v", n, err)
	}
}
