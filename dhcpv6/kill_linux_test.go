package dhcpv6_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/vrouter/vrouter/config"
	vdhcp "github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/internal/netns"
)

// serverProc is the server as a child process (the re-executed test
// binary) in the server namespace, so that it can be killed with SIGKILL.
type serverProc struct {
	cmd   *exec.Cmd
	done  chan struct{}
	logs  *syncBuffer
	state string
}

func (l *link) startServerProc(cfg config.DHCPv6, state string) *serverProc {
	l.t.Helper()
	b, _ := json.Marshal(cfg)
	self, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	os.Remove(filepath.Join(state, "status.json"))
	p := &serverProc{logs: &syncBuffer{}, done: make(chan struct{}), state: state}
	p.cmd = exec.Command("ip", "netns", "exec", l.srv, self, "-test.run=^$")
	p.cmd.Env = append(os.Environ(), "DHCPV6_HELPER=server", "DHCPV6_CONFIG="+string(b), "DHCPV6_STATE="+state)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	l.t.Cleanup(func() {
		p.kill(syscall.SIGTERM)
		if l.t.Failed() {
			l.t.Logf("server log:\n%s", p.logs)
		}
	})
	eventually(l.t, 10*time.Second, "server process running", func() bool {
		st, ok := p.status()
		return ok && st.Running
	})
	return p
}

func (p *serverProc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *serverProc) status() (vdhcp.Status, bool) {
	var st vdhcp.Status
	b, err := os.ReadFile(filepath.Join(p.state, "status.json"))
	return st, err == nil && json.Unmarshal(b, &st) == nil
}

// loadClient sends Rapid Commit Solicits from many DUIDs out of eth0 of a
// namespace and records every address a Reply committed.
type loadClient struct {
	conn  *net.UDPConn
	zone  string // eth0's index in the client namespace
	mu    sync.Mutex
	acked map[netip.Addr]string // address -> DUID
	sent  atomic.Int64
}

func newLoadClient(t *testing.T, ns string) *loadClient {
	t.Helper()
	var c *net.UDPConn
	var zone string
	err := netns.Do(ns, func() (err error) {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		zone = strconv.Itoa(ifi.Index)
		c, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: vdhcp.ClientPort})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lc := &loadClient{conn: c, zone: zone, acked: map[netip.Addr]string{}}
	t.Cleanup(func() { c.Close() })
	go lc.read()
	return lc
}

func (lc *loadClient) read() {
	buf := make([]byte, 2048)
	for {
		n, _, err := lc.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		m, err := dhcpv6.MessageFromBytes(buf[:n])
		if err != nil || m.MessageType != dhcpv6.MessageTypeReply || m.GetOneOption(dhcpv6.OptionRapidCommit) == nil {
			continue
		}
		for _, ia := range m.Options.IANA() {
			for _, a := range ia.Options.Addresses() {
				if ad, ok := netip.AddrFromSlice(a.IPv6Addr); ok && a.ValidLifetime > 0 {
					lc.mu.Lock()
					lc.acked[ad] = m.Options.ClientID().String()
					lc.mu.Unlock()
				}
			}
		}
	}
}

// burst sends n Solicits from DUIDs numbered from first, one every gap.
func (lc *loadClient) burst(first, n int, gap time.Duration) {
	dst := &net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: vdhcp.ServerPort, Zone: lc.zone}
	for i := first; i < first+n; i++ {
		m := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeSolicit, TransactionID: dhcpv6.TransactionID{byte(i >> 16), byte(i >> 8), byte(i)}}
		d := &dhcpv6.DUIDUUID{}
		copy(d.UUID[:], fmt.Sprintf("load-%011d", i))
		m.AddOption(dhcpv6.OptClientID(d))
		m.AddOption(&dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, 1}})
		m.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
		lc.conn.WriteTo(m.ToBytes(), dst)
		lc.sent.Add(1)
		time.Sleep(gap)
	}
}

func (lc *loadClient) ackedCopy() map[netip.Addr]string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	out := make(map[netip.Addr]string, len(lc.acked))
	for k, v := range lc.acked {
		out[k] = v
	}
	return out
}

// TestNetnsKill9: the server is killed with SIGKILL while clients are
// getting leases and renewing. After a restart every lease a client was
// told about is still there, an old client renews its address, and a new
// client asking first gets another address.
func TestNetnsKill9(t *testing.T) {
	l := newLink(t, "dhclient")
	cfg := shortCfg()
	cfg.RapidCommit = true
	cfg.T1, cfg.T2, cfg.PreferredLifetime, cfg.ValidLifetime = time.Second, 2*time.Second, 3*time.Second, 600*time.Second
	state := t.TempDir()
	srv := l.startServerProc(cfg, state)

	oldNS := l.addClient("fa:16:3e:55:55:01")
	old := startDHClient(t, oldNS, "", "-N")
	ev := old.event("BOUND6", 20*time.Second)
	oldAddr := netip.MustParseAddr(ev["new_ip6_address"])

	loadNS := l.addClient("fa:16:3e:55:55:02")
	lc := newLoadClient(t, loadNS)
	// Kill in the middle of a burst of exchanges.
	burst := make(chan struct{})
	go func() { lc.burst(0, 400, 2*time.Millisecond); close(burst) }()
	eventually(t, 10*time.Second, "exchanges under way", func() bool {
		st, ok := srv.status()
		return ok && st.LeasesInUse > 50
	})
	srv.kill(syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond) // replies still in flight are read
	acked := lc.ackedCopy()
	<-burst // nothing else asks before the new client
	if len(acked) < 20 {
		t.Fatalf("only %d leases acknowledged before the kill", len(acked))
	}

	// A new client asks first after the restart.
	newNS := l.addClient("fa:16:3e:55:55:03")
	l.startServerProc(cfg, state)
	fresh := startDHClient(t, newNS, "", "-N")
	newAddr := netip.MustParseAddr(fresh.event("BOUND6", 20*time.Second)["new_ip6_address"])
	if newAddr == oldAddr {
		t.Fatalf("new client got the old client's %s", newAddr)
	}
	if _, ok := acked[newAddr]; ok {
		t.Fatalf("new client got %s, acknowledged to %s before the kill", newAddr, acked[newAddr])
	}
	// Every acknowledged lease survived.
	leases := leasesInState(t, cfg, state)
	for a, duid := range acked {
		if _, ok := leases[a]; !ok {
			t.Errorf("lease %s of %s acknowledged but lost", a, duid)
		}
	}
	if _, ok := leases[oldAddr]; !ok {
		t.Errorf("old client's lease %s lost", oldAddr)
	}
	// The old client keeps renewing its address with the new process.
	n := countEvents(old, "RENEW6")
	eventually(t, 10*time.Second, "old client renews after the restart", func() bool { return countEvents(old, "RENEW6") > n })
	if got := old.event("RENEW6", time.Second)["new_ip6_address"]; got != oldAddr.String() {
		t.Fatalf("old client renewed to %s, had %s", got, oldAddr)
	}
	t.Logf("%d exchanges sent, %d acknowledged before SIGKILL; all found after restart", lc.sent.Load(), len(acked))
}

// leasesInState reads the leases of a state directory as a new server
// would, at the current time.
func leasesInState(t *testing.T, cfg config.DHCPv6, state string) map[netip.Addr]bool {
	t.Helper()
	// A copy: the running server owns the directory.
	dir := t.TempDir()
	for _, f := range []string{"dhcpv6-eth1.leases", vdhcp.DUIDFile} {
		b, err := os.ReadFile(filepath.Join(state, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	s, err := vdhcp.NewServer("eth1", cfg, vdhcp.WithStateDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	out := map[netip.Addr]bool{}
	for _, l := range s.Leases() {
		out[l.Addr] = true
	}
	return out
}

func countEvents(c *dhclient, reason string) int {
	b, _ := os.ReadFile(c.events)
	n := 0
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if f := strings.Fields(line); strings.HasSuffix(line, "\n") && len(f) > 0 && f[0] == "reason="+reason {
			n++
		}
	}
	return n
}
