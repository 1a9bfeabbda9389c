package dhcpv6_test

// Namespace tests: the server against real DHCPv6 clients.
//
//	netns d6XXXXXXs                         netns d6XXXXXXc (and more clients)
//	[eth1 2001:db8:0:2::1/64]---- veth ----[eth0 fa:16:3e:33:33:33]
//	 Server (in this process, or a          ISC dhclient -6 (-S, -N, -D LL),
//	 re-executed test binary for kill -9)   dhcpcd
//
// Every name carries a random prefix; namespaces are deleted in
// t.Cleanup; clients write their lease and script output to t.TempDir()
// and touch nothing of the host (their script only records its
// environment).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vrouter/vrouter/config"
	vdhcp "github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/internal/netns"
)

func TestMain(m *testing.M) {
	if os.Getenv("DHCPV6_HELPER") == "server" {
		os.Exit(helperServer())
	}
	os.Exit(m.Run())
}

// helperServer runs a server on eth1 of the current namespace with the
// config in $DHCPV6_CONFIG and the state in $DHCPV6_STATE, writing its
// Status to $DHCPV6_STATE/status.json every 20 ms, until SIGTERM.
func helperServer() int {
	var cfg config.DHCPv6
	if err := json.Unmarshal([]byte(os.Getenv("DHCPV6_CONFIG")), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "helper: config:", err)
		return 2
	}
	dir := os.Getenv("DHCPV6_STATE")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := vdhcp.NewServer("eth1", cfg, vdhcp.WithStateDir(dir), vdhcp.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		for ctx.Err() == nil {
			b, _ := json.Marshal(s.Status())
			os.WriteFile(filepath.Join(dir, "status.tmp"), b, 0o644)
			os.Rename(filepath.Join(dir, "status.tmp"), filepath.Join(dir, "status.json"))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "helper: run:", err)
		return 1
	}
	return 0
}

func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: namespace test needs root (run as root, e.g. in CI via make test)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not installed (see DEB_PKGS in the Makefile)", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// link is the server namespace and the client namespaces on one bridge.
type link struct {
	t      *testing.T
	prefix string
	srv    string
	n      int
}

const serverMAC = "02:00:00:00:00:01"

func newLink(t *testing.T, tools ...string) *link {
	needRoot(t, tools...)
	b := make([]byte, 3)
	rand.Read(b)
	l := &link{t: t, prefix: "d6" + hex.EncodeToString(b)}
	l.srv = l.addNS("s")
	run(t, "ip", "-n", l.srv, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", l.srv, "link", "set", "br0", "address", serverMAC, "up")
	run(t, "ip", "-n", l.srv, "link", "set", "br0", "name", "eth1")
	run(t, "ip", "-n", l.srv, "addr", "add", "2001:db8:0:2::1/64", "dev", "eth1", "nodad")
	return l
}

func (l *link) addNS(name string) string {
	ns := l.prefix + name
	run(l.t, "ip", "netns", "add", ns)
	l.t.Cleanup(func() {
		exec.Command("ip", "netns", "pids", ns).Run()
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			l.t.Errorf("cleanup: %v %s", err, out)
		}
	})
	run(l.t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	run(l.t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// addClient adds a client namespace whose eth0 has mac, on the server's
// bridge, and waits until its link-local address is usable.
func (l *link) addClient(mac string) string {
	l.n++
	ns := l.addNS(fmt.Sprintf("c%d", l.n))
	port := fmt.Sprintf("p%d", l.n)
	run(l.t, "ip", "-n", l.srv, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run(l.t, "ip", "-n", l.srv, "link", "set", port, "master", "eth1", "up")
	run(l.t, "ip", "-n", ns, "link", "set", "eth0", "address", mac, "up")
	eventually(l.t, 10*time.Second, "client link-local address", func() bool {
		out, _ := exec.Command("ip", "-n", ns, "-6", "addr", "show", "dev", "eth0", "scope", "link").CombinedOutput()
		return strings.Contains(string(out), "fe80") && !strings.Contains(string(out), "tentative")
	})
	return ns
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, d)
}

// startServer runs a server on eth1 of the server namespace in this
// process until the test ends.
func (l *link) startServer(cfg config.DHCPv6, opts ...vdhcp.Option) *vdhcp.Server {
	l.t.Helper()
	s, _ := l.startServerIn(l.srv, cfg, opts...)
	return s
}

// startServerIn runs a server on eth1 of namespace ns until stop is
// called or the test ends.
func (l *link) startServerIn(ns string, cfg config.DHCPv6, opts ...vdhcp.Option) (s *vdhcp.Server, stop func()) {
	l.t.Helper()
	listen := func(iface string) (c vdhcp.Conn, err error) {
		err = netns.Do(ns, func() error { c, err = vdhcp.ListenConn(iface); return err })
		return c, err
	}
	opts = append([]vdhcp.Option{vdhcp.WithListen(listen), vdhcp.WithStateDir(l.t.TempDir()),
		vdhcp.WithLogger(slog.New(slog.NewTextHandler(tlog{l.t}, nil)))}, opts...)
	s, err := vdhcp.NewServer("eth1", cfg, opts...)
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				l.t.Errorf("server: %v", err)
			}
		})
	}
	l.t.Cleanup(stop)
	eventually(l.t, 5*time.Second, "server running", func() bool { return s.Status().Running })
	return s, stop
}

// addRouter adds a namespace whose eth1 is on the link beside the server's.
func (l *link) addRouter(name, mac, addr string) string {
	ns := l.addNS(name)
	port := "r" + name
	run(l.t, "ip", "-n", l.srv, "link", "add", port, "type", "veth", "peer", "name", "eth1", "netns", ns)
	run(l.t, "ip", "-n", l.srv, "link", "set", port, "master", "eth1", "up")
	run(l.t, "ip", "-n", ns, "link", "set", "eth1", "address", mac, "up")
	run(l.t, "ip", "-n", ns, "addr", "add", addr, "dev", "eth1", "nodad")
	return ns
}

type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// dhclient is ISC dhclient -6 running in the foreground in a namespace.
type dhclient struct {
	t      *testing.T
	ns     string
	dir    string
	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan struct{}
	events string // the script's record
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

// recordScript records each call's reason and DHCPv6 variables, one line
// per call: "reason=X new_ip6_address=Y ...". It configures nothing.
const recordScript = `#!/bin/sh
line="reason=$reason"
for v in $(env | grep -E '^(old|new|cur)_(ip6|dhcp6)' | sort); do line="$line $v"; done
echo "$line" >> "$(dirname "$0")/events"
exit 0
`

func startDHClient(t *testing.T, ns string, dir string, args ...string) *dhclient {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte(recordScript), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &dhclient{t: t, ns: ns, dir: dir, out: &syncBuffer{}, done: make(chan struct{}), events: filepath.Join(dir, "events")}
	full := append([]string{"netns", "exec", ns, "dhclient", "-6", "-d", "-v", "-lf", filepath.Join(dir, "leases"),
		"-pf", filepath.Join(dir, "pid"), "-sf", script}, args...)
	full = append(full, "eth0")
	c.cmd = exec.Command("ip", full...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			ev, _ := os.ReadFile(c.events)
			ls, _ := exec.Command("ls", "-la", dir).CombinedOutput()
			t.Logf("dhclient %v output:\n%s\nevents:\n%s\n%s", args, c.out, ev, ls)
		}
	})
	return c
}

func (c *dhclient) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// event waits for a script call with one of the reasons (separated by
// "|") and returns the variables of the last one.
func (c *dhclient) event(reason string, d time.Duration) map[string]string {
	c.t.Helper()
	var got map[string]string
	reasons := strings.Split(reason, "|")
	eventually(c.t, d, "dhclient "+reason, func() bool {
		b, err := os.ReadFile(c.events)
		if err != nil {
			return false
		}
		// Whole lines only: the script may be writing the last one.
		sc := bufio.NewScanner(bytes.NewReader(b[:bytes.LastIndexByte(b, '\n')+1]))
		for sc.Scan() {
			vars := map[string]string{}
			for _, kv := range strings.Fields(sc.Text()) {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = v
			}
			if slices.Contains(reasons, vars["reason"]) {
				got = vars
			}
		}
		return got != nil
	})
	return got
}

func shortCfg() config.DHCPv6 {
	return config.DHCPv6{
		Mode:       config.DHCPv6Stateful,
		DNSServers: []netip.Addr{netip.MustParseAddr("2001:db8:0:2::53")}, Domains: []string{"tenant.example"},
		RapidCommit: false,
		T1:          2 * time.Second, T2: 3 * time.Second, PreferredLifetime: 4 * time.Second, ValidLifetime: 30 * time.Second,
		InformationRefreshTime: 600 * time.Second,
		Pools:                  []config.DHCPv6Pool{{Start: netip.MustParseAddr("2001:db8:0:2::1000"), End: netip.MustParseAddr("2001:db8:0:2::1fff")}},
		Hosts: []config.DHCPv6Host{
			{MAC: mustMAC("fa:16:3e:33:33:33"), Address: netip.MustParseAddr("2001:db8:0:2::33")},
		},
	}
}

func TestNetnsDHClientStateless(t *testing.T) {
	l := newLink(t, "dhclient")
	cfg := shortCfg()
	cfg.Mode, cfg.Pools, cfg.Hosts = config.DHCPv6Stateless, nil, nil
	s := l.startServer(cfg)
	ns := l.addClient("fa:16:3e:33:33:33")
	c := startDHClient(t, ns, "", "-S")
	ev := c.event("INFORM6|RENEW6", 20*time.Second)
	if ev["new_dhcp6_name_servers"] != "2001:db8:0:2::53" || ev["new_dhcp6_domain_search"] != "tenant.example." {
		t.Fatalf("dhclient got %v", ev)
	}
	if st := s.Status(); st.Received["information_request"] == 0 || st.Sent["reply"] == 0 {
		t.Fatalf("status %+v", st)
	}
}

func mustMAC(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestNetnsDHClientStateful: ISC dhclient -6 -N gets the address reserved
// for its MAC whatever its DUID type (DUID-LLT by default, DUID-LL with
// -D LL, a DUID-UUID put in its lease file, which leaves the frame's
// source as the only place the MAC is found), a pool address otherwise;
// it renews at T1 and releases with -r.
func TestNetnsDHClientStateful(t *testing.T) {
	l := newLink(t, "dhclient")
	s := l.startServer(shortCfg())
	reserved := netip.MustParseAddr("2001:db8:0:2::33")
	uuidDUID := `default-duid "\000\004\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020";` + "\n"
	tests := []struct {
		name, mac string
		args      []string
		leases    string // initial lease file
		want      netip.Addr
		duidType  string // prefix of the DUID the server saw
	}{
		{"duid-llt by mac", "fa:16:3e:33:33:33", []string{"-N"}, "", reserved, "0:1:"},
		{"duid-ll by mac", "fa:16:3e:33:33:33", []string{"-N", "-D", "LL"}, "", reserved, "0:3:"},
		{"duid-uuid by frame source", "fa:16:3e:33:33:33", []string{"-N"}, uuidDUID, reserved, "0:4:"},
		{"unreserved mac gets a pool address", "fa:16:3e:55:55:55", []string{"-N"}, "", netip.Addr{}, "0:1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := l.addClient(tt.mac)
			dir := t.TempDir()
			if tt.leases != "" {
				os.WriteFile(filepath.Join(dir, "leases"), []byte(tt.leases), 0o644)
			}
			c := startDHClient(t, ns, dir, tt.args...)
			ev := c.event("BOUND6", 20*time.Second)
			got, err := netip.ParseAddr(ev["new_ip6_address"])
			if err != nil {
				t.Fatalf("bound without address: %v", ev)
			}
			if tt.want.IsValid() && got != tt.want {
				t.Fatalf("got %s, want the reservation %s", got, tt.want)
			}
			if !tt.want.IsValid() && (got == reserved || got.Compare(netip.MustParseAddr("2001:db8:0:2::1000")) < 0) {
				t.Fatalf("got %s, want a pool address", got)
			}
			if !strings.HasPrefix(ev["new_dhcp6_client_id"], tt.duidType) {
				t.Fatalf("client id %s, want type %s", ev["new_dhcp6_client_id"], tt.duidType)
			}
			if ev["new_dhcp6_name_servers"] != "2001:db8:0:2::53" {
				t.Fatalf("name servers %q", ev["new_dhcp6_name_servers"])
			}
			// T1 is 2 s: the client renews and keeps its address.
			before := s.Status().Received["renew"]
			re := c.event("RENEW6", 15*time.Second)
			if re["new_ip6_address"] != got.String() {
				t.Fatalf("renewed %v", re)
			}
			if s.Status().Received["renew"] <= before {
				t.Fatal("server saw no renew")
			}
			if !hasLease(s, got) {
				t.Fatalf("server does not hold %s", got)
			}
			// Release.
			c.stop()
			run(t, "ip", "netns", "exec", ns, "dhclient", "-6", "-r", "-v", "-lf", filepath.Join(dir, "leases"),
				"-pf", filepath.Join(dir, "pid2"), "-sf", filepath.Join(dir, "script"), "eth0")
			eventually(t, 5*time.Second, "lease released", func() bool { return !hasLease(s, got) })
		})
	}
}

func hasLease(s *vdhcp.Server, a netip.Addr) bool {
	for _, l := range s.Leases() {
		if l.Addr == a && l.DUID != nil {
			return true
		}
	}
	return false
}

// dhcpcd runs dhcpcd in a namespace, in a private mount namespace whose
// /var/lib/dhcpcd (DUID, leases) and /run are the test's, so nothing of
// the host is touched.
func startDHCPCD(t *testing.T, ns string, conf string) (events string, stop func()) {
	t.Helper()
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	os.Mkdir(lib, 0o755)
	events = filepath.Join(dir, "events")
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte(recordScriptDHCPCD), 0o755)
	os.WriteFile(filepath.Join(dir, "conf"), []byte(conf), 0o644)
	out := &syncBuffer{}
	cmd := exec.Command("ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private", "sh", "-c",
		"mount --bind \"$1\" /var/lib/dhcpcd && mount -t tmpfs none /run && exec dhcpcd -f \"$2\" -c \"$3\" -B -d eth0",
		"sh", lib, filepath.Join(dir, "conf"), script)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: dhcpcd forks privilege-separation proxies
	// that outlive a killed parent, so stop signals the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	pgid := cmd.Process.Pid
	stop = func() {
		defer syscall.Kill(-pgid, syscall.SIGKILL) // the proxies, whatever happened
		select {
		case <-done:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			ev, _ := os.ReadFile(events)
			t.Logf("dhcpcd output:\n%s\nevents:\n%s", out, ev)
		}
	})
	return events, stop
}

const recordScriptDHCPCD = `#!/bin/sh
line="reason=$reason"
for v in $(env | grep -E '^(old|new)_dhcp6' | sort); do line="$line $v"; done
echo "$line" >> "$(dirname "$0")/events"
exit 0
`

// TestNetnsDHCPCD: dhcpcd as a second client gets a pool address with DNS
// and domain, configures it, and releases it when it stops.
func TestNetnsDHCPCD(t *testing.T) {
	l := newLink(t, "dhcpcd", "unshare")
	s := l.startServer(shortCfg())
	ns := l.addClient("fa:16:3e:55:55:56")
	conf := "ipv6only\nnoipv6rs\nia_na 1\nrelease\noption dhcp6_name_servers, dhcp6_domain_search\n" +
		"nohook resolv.conf, timesyncd, ntp.conf, hostname, mtu, 50-ypbind, 30-hostname\n"
	events, stop := startDHCPCD(t, ns, conf)
	c := &dhclient{t: t, events: events}
	ev := c.event("BOUND6", 20*time.Second)
	a, err := netip.ParseAddr(ev["new_dhcp6_ia_na1_ia_addr1"])
	if err != nil || a.Compare(netip.MustParseAddr("2001:db8:0:2::1000")) < 0 || a.Compare(netip.MustParseAddr("2001:db8:0:2::1fff")) > 0 {
		t.Fatalf("bound %v", ev)
	}
	if ev["new_dhcp6_name_servers"] != "2001:db8:0:2::53" || ev["new_dhcp6_domain_search"] != "tenant.example" {
		t.Fatalf("configuration %v", ev)
	}
	eventually(t, 5*time.Second, "address on eth0", func() bool {
		out, _ := exec.Command("ip", "-n", ns, "-6", "addr", "show", "dev", "eth0").CombinedOutput()
		return strings.Contains(string(out), a.String())
	})
	if !hasLease(s, a) {
		t.Fatal("server does not hold the lease")
	}
	c.event("RENEW6", 15*time.Second)
	stop()
	eventually(t, 5*time.Second, "lease released", func() bool { return !hasLease(s, a) })
}

// TestNetnsHAPassive: the Backup of an HA pair, passive on the same link
// with the shared DUID, learns the lease a real client takes from the
// Active, sends nothing, and after taking over renews the client's address.
func TestNetnsHAPassive(t *testing.T) {
	l := newLink(t, "dhclient")
	backupNS := l.addRouter("b", "02:00:00:00:00:02", "2001:db8:0:2::2/64")
	cfg := shortCfg()
	cfg.T1, cfg.T2, cfg.PreferredLifetime = 3*time.Second, 5*time.Second, 6*time.Second
	duid := vdhcp.VirtualDUID(51)
	active, stopActive := l.startServerIn(l.srv, cfg, vdhcp.WithDUID(duid))
	backup, _ := l.startServerIn(backupNS, cfg, vdhcp.WithDUID(duid), vdhcp.WithPassive())
	ns := l.addClient("fa:16:3e:55:55:10")
	c := startDHClient(t, ns, "", "-N")
	a := netip.MustParseAddr(c.event("BOUND6", 20*time.Second)["new_ip6_address"])
	if !hasLease(active, a) {
		t.Fatal("active does not hold the lease")
	}
	eventually(t, 5*time.Second, "backup learns the lease", func() bool { return hasLease(backup, a) })
	if st := backup.Status(); len(st.Sent) != 0 || st.Suppressed == 0 || st.Active {
		t.Fatalf("passive backup status %+v", st)
	}
	// Failover: the Active stops, the Backup answers.
	stopActive()
	backup.SetActive(true)
	n := countEvents(c, "RENEW6") + countEvents(c, "REBIND6")
	eventually(t, 15*time.Second, "client renews with the new active", func() bool {
		return countEvents(c, "RENEW6")+countEvents(c, "REBIND6") > n && backup.Status().Sent["reply"] > 0
	})
	if got := c.event("RENEW6|REBIND6", time.Second)["new_ip6_address"]; got != a.String() {
		t.Fatalf("after failover the client has %s, had %s", got, a)
	}
}

// TestNetnsRelay: a client behind a real relay agent (dnsmasq
// --dhcp-relay) gets the address reserved for its MAC although its DUID
// (a DUID-UUID) holds none: the MAC comes from the relay's RFC 6939
// option, the Relay-reply finds its way back through the relay.
//
//	[server eth1 2001:db8:0:2::1]--bridge--[eth1 ::fe  relay  eth0 2001:db8:0:3::1]----[eth0 client]
func TestNetnsRelay(t *testing.T) {
	l := newLink(t, "dhclient", "dnsmasq")
	s := l.startServer(shortCfg())
	relay := l.addRouter("r", "02:00:00:00:00:fe", "2001:db8:0:2::fe/64")
	l.n++
	client := l.addNS("c")
	run(t, "ip", "-n", relay, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", client)
	run(t, "ip", "-n", relay, "link", "set", "eth0", "up")
	run(t, "ip", "-n", relay, "addr", "add", "2001:db8:0:3::1/64", "dev", "eth0", "nodad")
	run(t, "ip", "-n", client, "link", "set", "eth0", "address", "fa:16:3e:33:33:33", "up")
	dir := t.TempDir()
	out := &syncBuffer{}
	dm := exec.Command("ip", "netns", "exec", relay, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--pid-file="+filepath.Join(dir, "pid"), "--dhcp-leasefile="+filepath.Join(dir, "leases"),
		"--dhcp-relay=2001:db8:0:3::1,2001:db8:0:2::1", "--log-dhcp", "--log-facility=-")
	dm.Stdout, dm.Stderr = out, out
	dm.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := dm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dm.Process.Kill()
		dm.Wait()
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", out)
		}
	})
	eventually(t, 10*time.Second, "client link-local address", func() bool {
		o, _ := exec.Command("ip", "-n", client, "-6", "addr", "show", "dev", "eth0", "scope", "link").CombinedOutput()
		return strings.Contains(string(o), "fe80") && !strings.Contains(string(o), "tentative")
	})
	cdir := t.TempDir()
	os.WriteFile(filepath.Join(cdir, "leases"), []byte(`default-duid "\000\004\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\021";`+"\n"), 0o644)
	c := startDHClient(t, client, cdir, "-N")
	ev := c.event("BOUND6", 20*time.Second)
	if ev["new_ip6_address"] != "2001:db8:0:2::33" {
		t.Fatalf("through the relay the client got %v, want the reservation of its MAC", ev)
	}
	if st := s.Status(); st.Relayed < 2 || st.Received["request"] == 0 {
		t.Fatalf("status %+v", st)
	}
}
