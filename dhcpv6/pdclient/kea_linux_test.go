package pdclient_test

// Namespace integration tests: the client against the real kea-dhcp6 as the
// delegating router, and ISC dhclient -6 -P against the same kea.
//
//	netns pdtXXXXXXs                          netns pdtXXXXXXc
//	[pdtXXXXXXs]------------- veth ------------[pdtXXXXXXc]
//	 kea-dhcp6 -c kea.json (foreground;          pdclient.Client (its socket
//	 lease file, control socket, pid file         opened in this namespace),
//	 in t.TempDir()), pd-pool /48 → /56s;         dhclient -6 -P
//	 tshark counting what reaches it

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6/pdclient"
	"github.com/vrouter/vrouter/internal/netns/netnstest"
	"golang.org/x/sys/unix"
)

var (
	pool1 = netip.MustParsePrefix("2001:db8:100::/48")
	pool2 = netip.MustParsePrefix("2001:db8:200::/48")
)

// topo is a server and a client namespace joined by a veth pair.
type topo struct {
	srvNS, cliNS     string
	srvLink, cliLink string
	cliFD            int
	dir              string
	procs            []*proc // started in the namespaces
}

func newTopo(t *testing.T) *topo {
	t.Helper()
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	id := make([]byte, 6)
	for i := range id {
		id[i] = chars[rand.IntN(len(chars))]
	}
	base := "pdt" + string(id)
	tp := &topo{srvNS: base + "s", cliNS: base + "c", srvLink: base + "s", cliLink: base + "c", dir: t.TempDir()}
	for _, ns := range []string{tp.srvNS, tp.cliNS} {
		netnstest.Cmd(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
	}
	netnstest.Cmd(t, "ip", "-n", tp.cliNS, "link", "add", tp.cliLink, "type", "veth", "peer", "name", tp.srvLink, "netns", tp.srvNS)
	// No DAD: link-local addresses are usable as soon as the link is up.
	netnstest.Cmd(t, "ip", "netns", "exec", tp.cliNS, "sysctl", "-qw", "net.ipv6.conf."+tp.cliLink+".accept_dad=0")
	netnstest.Cmd(t, "ip", "netns", "exec", tp.srvNS, "sysctl", "-qw", "net.ipv6.conf."+tp.srvLink+".accept_dad=0")
	netnstest.Cmd(t, "ip", "-n", tp.srvNS, "addr", "add", "2001:db8:1::1/64", "dev", tp.srvLink)
	for _, l := range [][2]string{{tp.srvNS, tp.srvLink}, {tp.cliNS, tp.cliLink}, {tp.srvNS, "lo"}, {tp.cliNS, "lo"}} {
		netnstest.Cmd(t, "ip", "-n", l[0], "link", "set", l[1], "up")
	}
	for _, l := range [][2]string{{tp.srvNS, tp.srvLink}, {tp.cliNS, tp.cliLink}} {
		waitFor(t, 10*time.Second, "link-local address on "+l[1], func() (bool, string) {
			out := netnstest.Cmd(t, "ip", "-n", l[0], "-6", "addr", "show", "dev", l[1], "scope", "link")
			return strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative"), out
		})
	}
	fd, err := unix.Open("/run/netns/"+tp.cliNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	tp.cliFD = fd
	return tp
}

// diag describes both namespaces, for a failure.
func (tp *topo) diag() string {
	var b strings.Builder
	for _, p := range tp.procs {
		select {
		case <-p.done:
			fmt.Fprintf(&b, "%s: exited: %v\n", p.cmd.Args, p.cmd.ProcessState)
		default:
			fmt.Fprintf(&b, "%s: running\n", p.cmd.Args)
		}
	}
	for _, ns := range []string{tp.cliNS, tp.srvNS} {
		for _, args := range [][]string{{"ip", "-s", "-6", "addr"}, {"ss", "-uanpe"}, {"ip", "-6", "maddr"}, {"nstat", "-az", "Udp6*", "Ip6InMcast*", "Ip6InDiscards", "Ip6InNoRoutes"}} {
			out, _ := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
			fmt.Fprintf(&b, "%s: %s:\n%s\n", ns, strings.Join(args, " "), out)
		}
	}
	return b.String()
}

// inNetns runs fn on a thread switched into the namespace fd, then switches
// the thread back. It does not let the thread exit (as a goroutine that ends
// locked does): a process started with Pdeathsig from that thread earlier
// (kea, dhclient) would get SIGKILL when it does. Sockets fn opens stay in
// the namespace.
func inNetns(fd int, fn func() error) error {
	errC := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errC <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errC <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread, in the wrong namespace, exits
			// with the goroutine.
			errC <- fmt.Errorf("setns back: %w (after %v)", err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errC <- ferr
	}()
	return <-errC
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last state:\n%s", timeout, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// proc is a process started in a namespace, killed at cleanup.
type proc struct {
	cmd      *exec.Cmd
	out      *syncBuffer
	done     chan struct{}
	stopping atomic.Bool // the test stops it; otherwise an exit is an error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProc(t *testing.T, ns string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", args[0], err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
			if !p.stopping.Load() {
				t.Errorf("%s exited before the test stopped it: %v\n%s", args[0], p.cmd.ProcessState, lastLines(p.out.String(), 20))
			}
		default:
		}
		p.stop()
	})
	return p
}

// interrupt stops the process with SIGINT (a capture ends cleanly), then
// as stop does.
func (p *proc) interrupt() {
	p.stopping.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.stop()
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after 5s.
func (p *proc) stop() {
	p.stopping.Store(true)
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// keaConfig is what a kea run delegates.
type keaConfig struct {
	pool                     netip.Prefix
	preferred, valid, t1, t2 int // seconds
}

// kea is kea-dhcp6 running in the server namespace.
type kea struct {
	*proc
	leases string
}

func (tp *topo) startKea(t *testing.T, kc keaConfig) *kea {
	t.Helper()
	dir := filepath.Join(tp.dir, "kea")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	leases := filepath.Join(dir, "leases6.csv")
	cfg := map[string]any{"Dhcp6": map[string]any{
		"interfaces-config": map[string]any{"interfaces": []string{tp.srvLink}},
		"lease-database":    map[string]any{"type": "memfile", "persist": true, "name": leases, "lfc-interval": 0},
		"control-socket":    map[string]any{"socket-type": "unix", "socket-name": filepath.Join(dir, "kea.sock")},
		// A fixed server DUID, not written to a file: the same after a restart.
		"server-id":          map[string]any{"type": "EN", "enterprise-id": 2495, "identifier": "7672747374", "persist": false},
		"preferred-lifetime": kc.preferred, "valid-lifetime": kc.valid,
		"renew-timer": kc.t1, "rebind-timer": kc.t2,
		"subnet6": []any{map[string]any{
			"id": 1, "subnet": "2001:db8:1::/64", "interface": tp.srvLink,
			"pd-pools": []any{map[string]any{
				"prefix": kc.pool.Addr().String(), "prefix-len": kc.pool.Bits(), "delegated-len": 56,
			}},
		}},
		"loggers": []any{map[string]any{
			"name": "kea-dhcp6", "severity": "DEBUG", "debuglevel": 40,
			"output_options": []any{map[string]any{"output": "stdout"}},
		}},
	}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "kea.json")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	k := &kea{leases: leases}
	defer func() { tp.procs = append(tp.procs, k.proc) }()
	k.proc = startProc(t, tp.srvNS, []string{"KEA_PIDFILE_DIR=" + dir, "KEA_LOCKFILE_DIR=" + dir}, "kea-dhcp6", "-c", conf)
	waitFor(t, 15*time.Second, "kea-dhcp6 to serve", func() (bool, string) {
		select {
		case <-k.done:
			t.Fatalf("kea-dhcp6 exited:\n%s", k.out)
		default:
		}
		return strings.Contains(k.out.String(), "DHCP6_STARTED"), k.out.String()
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kea-dhcp6 output:\n%s", lastLines(k.out.String(), 80))
		}
	})
	out, _ := exec.Command("ip", "netns", "exec", tp.srvNS, "ss", "-uan").CombinedOutput()
	if !strings.Contains(string(out), ":547") {
		d, _ := exec.Command("ip", "netns", "exec", tp.srvNS, "sh", "-c", "ip -d link; ip -6 addr; sysctl -a 2>/dev/null | grep -E 'ipv6.conf.(all|default|"+tp.srvLink+")\\.(disable_ipv6|accept_dad|forwarding)'; dmesg 2>/dev/null | tail -5").CombinedOutput()
		t.Fatalf("kea started without its sockets:\n%s\n%s\n%s", out, d, k.out)
	}
	return k
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// keaLease is one row of kea's memfile.
type keaLease struct {
	prefix netip.Prefix
	duid   string
	valid  int
	expire int64
}

// pdLeases reads kea's lease file: every PD row, in the order written (kea
// appends a row for every change; valid 0 marks a deleted lease).
func (k *kea) pdLeases(t *testing.T) []keaLease {
	t.Helper()
	f, err := os.Open(k.leases)
	if err != nil {
		return nil
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil
	}
	col := make(map[string]int)
	for i, name := range rows[0] {
		col[name] = i
	}
	var out []keaLease
	for _, row := range rows[1:] {
		if row[col["lease_type"]] != "2" {
			continue
		}
		bits, _ := strconv.Atoi(row[col["prefix_len"]])
		a, err := netip.ParseAddr(row[col["address"]])
		if err != nil {
			t.Fatalf("kea lease file: %v", err)
		}
		valid, _ := strconv.Atoi(row[col["valid_lifetime"]])
		expire, _ := strconv.ParseInt(row[col["expire"]], 10, 64)
		out = append(out, keaLease{prefix: netip.PrefixFrom(a, bits), duid: row[col["duid"]], valid: valid, expire: expire})
	}
	return out
}

// client runs a pdclient.Client whose socket is in the client namespace.
type client struct {
	*pdclient.Client
	tp     *topo
	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	changes []pdclient.Change
	changed chan struct{}
}

var duid = []byte{0, 4, 0x76, 0x72, 0x6f, 0x75, 0x74, 0x65, 0x72, 0x2d, 0x70, 0x64, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x31}

// duidString is duid as kea writes it in its lease file.
const duidString = "00:04:76:72:6f:75:74:65:72:2d:70:64:2d:74:65:73:74:31"

func (tp *topo) startClient(t *testing.T, cfg config.PrefixDelegation, opts ...pdclient.Option) *client {
	t.Helper()
	var conn pdclient.Conn
	if err := inNetns(tp.cliFD, func() (err error) { conn, err = pdclient.Listen(tp.cliLink); return err }); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("PDCLIENT_RECORD_SEEDS") != "" {
		conn = &recordConn{Conn: conn, t: t}
	}
	c := &client{tp: tp, done: make(chan error, 1), changed: make(chan struct{}, 1)}
	opts = append([]pdclient.Option{
		pdclient.WithConn(conn), pdclient.WithStateDir(filepath.Join(tp.dir, "state")), pdclient.WithDUID(duid),
		pdclient.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		pdclient.WithMaxSubnetID(255),
		pdclient.WithNotify(func(ch pdclient.Change) {
			c.mu.Lock()
			c.changes = append(c.changes, ch)
			c.mu.Unlock()
			select {
			case c.changed <- struct{}{}:
			default:
			}
		}),
	}, opts...)
	c.Client = pdclient.New(tp.cliLink, cfg, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { c.done <- c.Run(ctx) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

func (c *client) stop(t *testing.T) {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Run did not return 10s after the stop")
	}
}

func (c *client) takeChanges() []pdclient.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.changes
	c.changes = nil
	return ch
}

// waitBound waits until the client is bound and returns its prefix.
func (c *client) waitBound(t *testing.T, timeout time.Duration) netip.Prefix {
	t.Helper()
	deadline := time.Now().Add(timeout)
	waitFor(t, timeout, "a delegation", func() (bool, string) {
		st := c.Status()
		if st.State == pdclient.StateBound {
			return true, ""
		}
		state := fmt.Sprintf("%+v", st)
		if time.Now().After(deadline) {
			state += "\n" + c.tp.diag()
		}
		return false, state
	})
	return c.Current().Prefix
}

func TestKeaDelegates(t *testing.T) {
	netnstest.RequireRoot(t, "kea-dhcp6")
	tp := newTopo(t)
	k := tp.startKea(t, keaConfig{pool: pool1, preferred: 300, valid: 600, t1: 150, t2: 240})
	c := tp.startClient(t, config.PrefixDelegation{Length: 56})
	start := time.Now()
	p := c.waitBound(t, 10*time.Second)
	t.Logf("delegated %v after %v", p, time.Since(start))
	if p.Bits() != 56 || !pool1.Contains(p.Addr()) {
		t.Fatalf("delegated %v, want a /56 of %v", p, pool1)
	}
	d := c.Current()
	if d.Preferred != 300*time.Second || d.Valid != 600*time.Second {
		t.Errorf("lifetimes %v/%v, want kea's 300s/600s", d.Preferred, d.Valid)
	}
	st := c.Status()
	if !st.T1.Equal(d.Obtained.Add(150*time.Second)) || !st.T2.Equal(d.Obtained.Add(240*time.Second)) {
		t.Errorf("T1/T2 %v/%v, want kea's 150s/240s after %v", st.T1, st.T2, d.Obtained)
	}
	if len(st.Refused) != 0 {
		t.Errorf("refusals against kea: %v", st.Refused)
	}
	if ls := k.pdLeases(t); len(ls) != 1 || ls[0].prefix != p || ls[0].duid != duidString || ls[0].valid != 600 {
		t.Errorf("kea leases %+v, want one of %v for 600s to DUID %s", ls, p, duidString)
	}
}

// Short lifetimes: the client renews at kea's T1 and kea extends the lease
// (a new row in its lease file, with a later expiry, each time).
func TestKeaRenew(t *testing.T) {
	netnstest.RequireRoot(t, "kea-dhcp6")
	tp := newTopo(t)
	k := tp.startKea(t, keaConfig{pool: pool1, preferred: 6, valid: 10, t1: 2, t2: 3})
	c := tp.startClient(t, config.PrefixDelegation{Length: 56})
	p := c.waitBound(t, 10*time.Second)
	waitFor(t, 10*time.Second, "two renewals in kea's lease file", func() (bool, string) {
		ls := k.pdLeases(t)
		return len(ls) >= 3, fmt.Sprintf("%+v", ls)
	})
	ls := k.pdLeases(t)
	for i, l := range ls {
		if l.prefix != p || l.duid != duidString || (i > 0 && l.expire <= ls[i-1].expire) {
			t.Errorf("kea lease rows %+v: want %v renewed with a later expiry each time", ls, p)
			break
		}
	}
	st := c.Status()
	if st.Sent["renew"] < 2 || st.Sent["rebind"] != 0 || st.Prefix != p || st.Delegations != 1 || len(st.Refused) != 0 {
		t.Errorf("status %+v: want renewals answered, no rebind, the same prefix", st)
	}
	for _, ch := range c.takeChanges() {
		if ch.Current.Prefix != p || len(ch.Gone) != 0 {
			t.Errorf("change %+v while renewing the same prefix", ch)
		}
	}
}

// kea restarted with another pd-pool and without the old lease: at the next
// Renew kea delegates a prefix of the new pool, and the client moves to it
// and reports the old one gone.
func TestKeaRenumbers(t *testing.T) {
	netnstest.RequireRoot(t, "kea-dhcp6")
	tp := newTopo(t)
	k := tp.startKea(t, keaConfig{pool: pool1, preferred: 20, valid: 40, t1: 4, t2: 8})
	c := tp.startClient(t, config.PrefixDelegation{Length: 56})
	old := c.waitBound(t, 10*time.Second)
	c.takeChanges()
	k.stop()
	for _, f := range []string{k.leases, k.leases + ".2"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	k = tp.startKea(t, keaConfig{pool: pool2, preferred: 20, valid: 40, t1: 4, t2: 8})
	waitFor(t, 20*time.Second, "a prefix of the new pool", func() (bool, string) {
		return pool2.Contains(c.Current().Prefix.Addr()), fmt.Sprintf("%+v", c.Status())
	})
	cur := c.Current()
	if cur.Prefix.Bits() != 56 {
		t.Errorf("new prefix %v, want a /56", cur.Prefix)
	}
	chs := c.takeChanges()
	if len(chs) == 0 {
		t.Fatal("no change notified")
	}
	last := chs[len(chs)-1]
	if last.Current.Prefix != cur.Prefix || len(last.Gone) != 1 || last.Gone[0].Prefix != old || last.Gone[0].Preferred != 0 ||
		last.Gone[0].Valid > 40*time.Second {
		t.Errorf("change %+v: want %v current and %v gone, deprecated, valid at most 40s", last, cur.Prefix, old)
	}
	t.Logf("renumbered %v -> %v; old one valid %v more", old, cur.Prefix, last.Gone[0].Valid)
	if st := c.Status(); st.Delegations != 2 || st.State != pdclient.StateBound {
		t.Errorf("status %+v", st)
	}
	if ls := k.pdLeases(t); len(ls) == 0 || ls[len(ls)-1].prefix != cur.Prefix {
		t.Errorf("kea leases %+v, want the last one %v", ls, cur.Prefix)
	}
}

// kea absent at start: the client solicits with the RFC 8415 back-off (seen
// and decoded by tshark on kea's link) and binds at its first Solicit after
// kea starts.
func TestKeaAbsentAtStart(t *testing.T) {
	netnstest.RequireRoot(t, "kea-dhcp6", "tshark", "dumpcap")
	tp := newTopo(t)
	capture := filepath.Join(tp.dir, "dhcpv6.pcapng")
	ts := startProc(t, tp.srvNS, nil, "dumpcap", "-q", "-i", tp.srvLink, "-f", "udp port 547", "-w", capture)
	waitFor(t, 30*time.Second, "dumpcap to capture", func() (bool, string) {
		return strings.Contains(ts.out.String(), "Capturing on"), ts.out.String()
	})
	time.Sleep(200 * time.Millisecond) // "Capturing on" comes just before the capture does
	c := tp.startClient(t, config.PrefixDelegation{Length: 56})
	time.Sleep(4500 * time.Millisecond)
	if st := c.Status(); st.State != pdclient.StateWaiting {
		t.Fatalf("state %q with no server, want waiting", st.State)
	}
	tp.startKea(t, keaConfig{pool: pool1, preferred: 300, valid: 600, t1: 150, t2: 240})
	keaUp := time.Now()
	c.waitBound(t, 15*time.Second)
	bound := time.Now()
	time.Sleep(time.Second) // dumpcap writes what it read in blocks; SIGINT does not drain the socket
	ts.interrupt()
	decoded := netnstest.Cmd(t, "tshark", "-n", "-r", capture, "-T", "fields", "-E", "separator=,",
		"-e", "frame.time_epoch", "-e", "dhcpv6.msgtype", "-e", "dhcpv6.xid")

	var sols []float64
	xids := map[string]bool{}
	for _, line := range strings.Split(decoded, "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) != 3 || f[1] != "1" {
			continue
		}
		at, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sols = append(sols, at)
		xids[f[2]] = true
	}
	if len(sols) < 3 {
		t.Fatalf("tshark decoded %d Solicits:\n%s\ndumpcap: %s", len(sols), decoded, ts.out)
	}
	rel := make([]string, len(sols))
	for i, at := range sols {
		rel[i] = fmt.Sprintf("%.3f", at-sols[0])
	}
	t.Logf("Solicits at +%vs; kea up at +%.3fs, bound at +%.3fs", rel, float64(keaUp.UnixNano())/1e9-sols[0], float64(bound.UnixNano())/1e9-sols[0])
	// The client's own count of Solicits (the one kea answered included):
	// tshark may have started too late for the first.
	sent := int(c.Status().Sent["solicit"])
	if len(sols) < 3 || len(sols) < sent-1 || len(xids) != 1 {
		t.Fatalf("tshark saw %d Solicits of %d transactions, the client sent %d: want all but maybe the first, one transaction",
			len(sols), len(xids), sent)
	}
	// RT1 in (1s, 1.1s], then each RT about twice the one before (RAND
	// ±10%; a wide margin for the scheduling of a loaded machine).
	rt := sols[1] - sols[0]
	if len(sols) == sent && (rt < 0.95 || rt > 1.35) {
		t.Errorf("first RT %.3fs, want 1-1.1s", rt)
	}
	for i := 2; i < len(sols); i++ {
		next := sols[i] - sols[i-1]
		if r := next / rt; r < 1.7 || r > 2.3 {
			t.Errorf("RT %d = %.3fs after %.3fs: ratio %.2f, want about 2 (1.9-2.1)", i, next, rt, r)
		}
		rt = next
	}
	last := sols[len(sols)-1]
	if keaAt := float64(keaUp.UnixNano()) / 1e9; last < keaAt || float64(bound.UnixNano())/1e9-last > 1.5 {
		t.Errorf("the last Solicit (%.3f) is not the one kea (up at %.3f) answered before the binding (%.3f)", last, keaAt, float64(bound.UnixNano())/1e9)
	}
}

// A restarted client has its prefix back at once, from its lease file, and
// kea confirms it to the Rebind.
func TestKeaClientRestart(t *testing.T) {
	netnstest.RequireRoot(t, "kea-dhcp6")
	tp := newTopo(t)
	k := tp.startKea(t, keaConfig{pool: pool1, preferred: 300, valid: 600, t1: 150, t2: 240})
	// Another client takes a prefix first, so that a client that forgot its
	// own would not get the same one by chance.
	other := tp.startClient(t, config.PrefixDelegation{Length: 56}, pdclient.WithDUID([]byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 9}),
		pdclient.WithStateDir(""))
	other.waitBound(t, 10*time.Second)
	other.stop(t)

	c := tp.startClient(t, config.PrefixDelegation{Length: 56})
	p := c.waitBound(t, 10*time.Second)
	c.stop(t)

	c = tp.startClient(t, config.PrefixDelegation{Length: 56})
	waitFor(t, time.Second, "the kept delegation", func() (bool, string) {
		return c.Current().Prefix == p, fmt.Sprintf("%+v", c.Status())
	})
	if got := c.waitBound(t, 10*time.Second); got != p {
		t.Errorf("after the restart %v, want %v", got, p)
	}
	if st := c.Status(); st.Sent["rebind"] == 0 || st.Sent["solicit"] != 0 || st.Delegations != 0 {
		t.Errorf("status %+v: want the lease confirmed by Rebind, no Solicit", st)
	}
	ls := k.pdLeases(t)
	if l := ls[len(ls)-1]; l.prefix != p || l.duid != duidString || l.valid != 600 {
		t.Errorf("kea's last lease %+v, want %v extended for %s", l, p, duidString)
	}
}

// release_on_stop: kea gets a Release and drops the lease.
func TestKeaRelease(t *testing.T) {
	netnstest.RequireRoot(t, "kea-dhcp6")
	tp := newTopo(t)
	k := tp.startKea(t, keaConfig{pool: pool1, preferred: 300, valid: 600, t1: 150, t2: 240})
	c := tp.startClient(t, config.PrefixDelegation{Length: 56, ReleaseOnStop: true})
	p := c.waitBound(t, 10*time.Second)
	c.stop(t)
	ls := k.pdLeases(t)
	if l := ls[len(ls)-1]; l.prefix != p || l.valid != 0 {
		t.Errorf("kea's last lease row %+v, want %v deleted (valid 0)", l, p)
	}
	if !strings.Contains(k.out.String(), "DHCP6_RELEASE_PD") {
		t.Error("kea logged no DHCP6_RELEASE_PD")
	}
}

// dhclient -6 -P obtains a prefix of kea's pool, and the client and dhclient
// decode kea the same way: the same length, lifetimes and T1/T2, different
// prefixes (two DUIDs); the pool, then exhausted, makes kea refuse a third
// asker with NoPrefixAvail.
func TestDhclientCrossCheck(t *testing.T) {
	netnstest.RequireRoot(t, "kea-dhcp6", "dhclient")
	tp := newTopo(t)
	// A /55 pool holds two /56s.
	pool := netip.MustParsePrefix("2001:db8:100::/55")
	tp.startKea(t, keaConfig{pool: pool, preferred: 300, valid: 600, t1: 150, t2: 240})
	c := tp.startClient(t, config.PrefixDelegation{Length: 56})
	c.waitBound(t, 10*time.Second)
	ours, st := c.Current(), c.Status()
	c.stop(t)

	// dhclient's verbose output shows what it decoded (its lease file may
	// be out of bounds for its AppArmor profile).
	dh := startProc(t, tp.cliNS, nil, "dhclient", "-6", "-P", "-d", "-v", "-lf", filepath.Join(tp.dir, "dhclient6.leases"),
		"-pf", filepath.Join(tp.dir, "dhclient6.pid"), "-sf", "/bin/true", tp.cliLink)
	waitFor(t, 20*time.Second, "dhclient to bind", func() (bool, string) {
		return strings.Contains(dh.out.String(), "PRC: Bound to lease"), dh.out.String()
	})
	dh.stop()
	out := dh.out.String()
	reply := out[strings.LastIndex(out, "RCV: Reply message"):]
	field := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(reply)
		if m == nil {
			t.Fatalf("dhclient output has no %q in its Reply:\n%s", re, reply)
		}
		return m[1]
	}
	theirs := netip.MustParsePrefix(field(`IAPREFIX ([0-9a-f:]+/[0-9]+)`))
	got := fmt.Sprintf("/%d preferred %ss valid %ss t1 %ss t2 %ss", theirs.Bits(),
		field(`Preferred lifetime ([0-9]+)`), field(`Max lifetime ([0-9]+)`), field(`t1 - renew\s+\+([0-9]+)`), field(`t2 - rebind\s+\+([0-9]+)`))
	want := fmt.Sprintf("/%d preferred %.0fs valid %.0fs t1 %.0fs t2 %.0fs", ours.Prefix.Bits(),
		ours.Preferred.Seconds(), ours.Valid.Seconds(), st.T1.Sub(ours.Obtained).Seconds(), st.T2.Sub(ours.Obtained).Seconds())
	t.Logf("pdclient: %v %s; dhclient -P: %v %s", ours.Prefix, want, theirs, got)
	if got != want {
		t.Errorf("dhclient decoded %q, pdclient %q", got, want)
	}
	if !pool.Contains(theirs.Addr()) || theirs == ours.Prefix {
		t.Errorf("dhclient got %v, pdclient %v: want two different prefixes of %v", theirs, ours.Prefix, pool)
	}

	// A third client finds the pool empty.
	third := tp.startClient(t, config.PrefixDelegation{Length: 56}, pdclient.WithDUID([]byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 7}),
		pdclient.WithStateDir(""))
	waitFor(t, 10*time.Second, "NoPrefixAvail from kea", func() (bool, string) {
		st := third.Status()
		return st.Refused[pdclient.RefusedNoPrefixAvail] > 0, fmt.Sprintf("%+v", st)
	})
	if st := third.Status(); st.State != pdclient.StateWaiting || st.Prefix.IsValid() {
		t.Errorf("third client %+v, want waiting for a delegation", st)
	}
}

// recordConn saves what kea sends as seeds of FuzzReceive (run the kea tests
// with PDCLIENT_RECORD_SEEDS=1 to refresh testdata/fuzz/FuzzReceive), each
// with the fuzz state of the message it answers.
type recordConn struct {
	pdclient.Conn
	t *testing.T

	mu   sync.Mutex
	last byte // message type last sent
}

func (r *recordConn) WriteTo(b []byte, dst netip.AddrPort) error {
	if len(b) > 0 {
		r.mu.Lock()
		r.last = b[0]
		r.mu.Unlock()
	}
	return r.Conn.WriteTo(b, dst)
}

// recorded numbers the seeds of each kind.
var recorded = struct {
	sync.Mutex
	n map[string]int
}{n: make(map[string]int)}

func (r *recordConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	n, src, err := r.Conn.ReadFrom(b)
	if err != nil || n == 0 {
		return n, src, err
	}
	r.mu.Lock()
	last := r.last
	r.mu.Unlock()
	// The fuzz states of fuzz_test.go by the message answered.
	state, ok := map[byte]byte{1: 0, 3: 2, 5: 3, 6: 4, 8: 6}[last]
	if ok {
		recorded.Lock()
		key := fmt.Sprintf("kea-%s-to-%s", strings.ToLower(dhcpv6.MessageType(b[0]).String()), strings.ToLower(dhcpv6.MessageType(last).String()))
		recorded.n[key]++
		name := filepath.Join("testdata", "fuzz", "FuzzReceive", fmt.Sprintf("%s-%d", key, recorded.n[key]))
		recorded.Unlock()
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbyte(%q)\nbool(true)\n", b[:n], rune(state))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err == nil {
			if err := os.WriteFile(name, []byte(seed), 0o644); err != nil {
				r.t.Errorf("record seed: %v", err)
			}
		}
	}
	return n, src, err
}

// The real socket tells a link that is down (a passing send error) from one
// that is gone (ErrInterfaceGone, which ends Run).
func TestListenInterfaceGone(t *testing.T) {
	netnstest.RequireRoot(t)
	tp := newTopo(t)
	var conn pdclient.Conn
	if err := inNetns(tp.cliFD, func() (err error) { conn, err = pdclient.Listen(tp.cliLink); return err }); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst := netip.AddrPortFrom(pdclient.AllServers, pdclient.ServerPort)
	if err := conn.WriteTo([]byte{1, 0, 0, 1}, dst); err != nil {
		t.Fatalf("send on the link: %v", err)
	}
	netnstest.Cmd(t, "ip", "-n", tp.cliNS, "link", "set", tp.cliLink, "down")
	if err := conn.WriteTo([]byte{1, 0, 0, 2}, dst); err == nil || errors.Is(err, pdclient.ErrInterfaceGone) {
		t.Errorf("send on the link down: %v, want an error that is not ErrInterfaceGone", err)
	}
	netnstest.Cmd(t, "ip", "-n", tp.cliNS, "link", "del", tp.cliLink)
	if err := conn.WriteTo([]byte{1, 0, 0, 3}, dst); !errors.Is(err, pdclient.ErrInterfaceGone) {
		t.Errorf("send on the deleted link: %v, want ErrInterfaceGone", err)
	}
}
