package ha_test

// Interoperability with keepalived 2.2.7 (Debian bookworm): vrouter's ha
// and keepalived in one VRRP group on the tenant bridge of the topology in
// netns_linux_test.go, each Active and Backup in turn.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ha"
)

var update = flag.Bool("update", false, "rewrite testdata/*-adverts.txt from the adverts captured in TestKeepalivedInterop")

// keepalived is a keepalived process in a namespace.
type keepalived struct {
	t      *testing.T
	cmd    *exec.Cmd
	exited chan struct{}

	mu    sync.Mutex
	lines []logLine
}

type logLine struct {
	at   time.Time
	text string
}

func startKeepalived(t *testing.T, name, ns, iface string, prio int) *keepalived {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`global_defs {
  vrrp_version 3
}
vrrp_instance VI_1 {
  state BACKUP
  interface %s
  virtual_router_id 51
  priority %d
  advert_int 0.1
  native_ipv6
  virtual_ipaddress {
    fe80::1/64
    2001:db8:0:2::1/64
  }
}
`, iface, prio)
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	k := &keepalived{t: t, exited: make(chan struct{})}
	// -n: no fork, -l: log to the console, -D: detailed, -P: VRRP only.
	k.cmd = exec.Command("ip", "netns", "exec", ns, "keepalived", "-n", "-l", "-D", "-P",
		"-f", path, "-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	k.cmd.Stdout, k.cmd.Stderr = pw, pw
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			k.mu.Lock()
			k.lines = append(k.lines, logLine{time.Now(), sc.Text()})
			k.mu.Unlock()
		}
	}()
	go func() {
		k.cmd.Wait()
		pw.Close()
		close(k.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-k.exited:
		default:
			k.cmd.Process.Kill()
			<-k.exited
		}
		if t.Failed() {
			t.Logf("keepalived %s log:\n%s", name, k.log())
		}
	})
	return k
}

func (k *keepalived) log() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b strings.Builder
	for _, l := range k.lines {
		b.WriteString(l.text + "\n")
	}
	return b.String()
}

// state is keepalived's last "Entering X STATE": MASTER or BACKUP.
func (k *keepalived) state() (string, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.lines) - 1; i >= 0; i-- {
		l := k.lines[i].text
		if j := strings.Index(l, "Entering "); j >= 0 {
			f := strings.Fields(l[j:])
			if len(f) >= 2 {
				return f[1], k.lines[i].at
			}
		}
	}
	return "", time.Time{}
}

func (k *keepalived) waitState(s string, since time.Time, timeout time.Duration) time.Time {
	k.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got, at := k.state(); got == s && !at.Before(since) {
			return at
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("keepalived not %s within %v:\n%s", s, timeout, k.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (k *keepalived) term() time.Time {
	k.t.Helper()
	at := time.Now()
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(10 * time.Second):
		k.t.Fatalf("keepalived did not stop:\n%s", k.log())
	}
	return at
}

// TestKeepalivedInterop: vrouter and keepalived in one VRRP group, each as
// Active and as Backup in turn; tshark decodes every advert on the wire as
// valid VRRPv3, and the adverts of both are kept as fuzz seeds (-update).
func TestKeepalivedInterop(t *testing.T) {
	requireRoot(t, "keepalived", "dumpcap", "tshark", "ping")
	tp := newTopo(t, "v", "k")
	cap := startCapture(t, tp.sw)
	cfg := func(prio uint8) *config.HA {
		c := tp.haConfig(prio, true, interval)
		c.Interfaces = c.Interfaces[:1] // the tenant link only, as keepalived
		return c
	}
	llV, llK := tp.linkLocal(tp.routers["v"], tp.tIf), tp.linkLocal(tp.routers["k"], tp.tIf)

	// keepalived Active, vrouter Backup.
	start := time.Now()
	k := startKeepalived(t, "k1", tp.routers["k"], tp.tIf, 150)
	k.waitState("MASTER", start, 10*time.Second)
	v := startHA(t, "v1", tp.routers["v"], cfg(100))
	v.waitState(ha.StateBackup, start, 10*time.Second)
	time.Sleep(5 * interval)
	if trs := v.transitions(); len(trs) != 1 {
		t.Fatalf("vrouter did not stay Backup under keepalived: %+v", trs)
	}
	if in := v.status().Instances[0]; in.Peer == nil || in.Peer.Address != llK || in.Peer.Priority != 150 || in.AdvertsReceived == 0 || len(in.AdvertsDropped) != 0 {
		t.Fatalf("vrouter's view of keepalived: peer %+v, received %d, dropped %v", in.Peer, in.AdvertsReceived, in.AdvertsDropped)
	}
	tp.checkVirtualLinks(tp.routers["v"], false, cfg(100))

	// keepalived stops (priority 0): vrouter takes over after Skew_Time.
	stopped := k.term()
	took := v.waitState(ha.StateActive, stopped, 5*time.Second).Sub(stopped)
	t.Logf("keepalived stopped: vrouter Active after %v (Skew_Time %v)", took, skewAt(100))
	if took > skewAt(100)+slack {
		t.Errorf("vrouter took over %v after keepalived's priority 0, want Skew_Time %v (+%v)", took, skewAt(100), slack)
	}
	if mac := tp.vmNeighbor(); mac != vmac {
		t.Fatalf("VM resolves fe80::1 to %s", mac)
	}

	// keepalived with a lower priority joins: it stays Backup and holds
	// no virtual address.
	joined := time.Now()
	k = startKeepalived(t, "k2", tp.routers["k"], tp.tIf, 50)
	k.waitState("BACKUP", joined, 10*time.Second)
	time.Sleep(5 * interval)
	if s, _ := k.state(); s != "BACKUP" || v.state() != ha.StateActive {
		t.Fatalf("keepalived %s, vrouter %s", s, v.state())
	}
	if out := run(t, "ip", "-n", tp.routers["k"], "-6", "addr", "show", "dev", tp.tIf); strings.Contains(out, "fe80::1/64") || strings.Contains(out, "2001:db8:0:2::1/64") {
		t.Fatalf("keepalived holds a virtual address as Backup:\n%s", out)
	}

	// vrouter stops (priority 0): keepalived takes over.
	stopped = v.term()
	took = k.waitState("MASTER", stopped, 5*time.Second).Sub(stopped)
	t.Logf("vrouter stopped: keepalived MASTER after %v", took)
	if took > downAt(50) {
		t.Errorf("keepalived took over %v after vrouter's priority 0, want well within Active_Down_Interval %v", took, downAt(50))
	}

	// vrouter with a higher priority preempts keepalived.
	restarted := time.Now()
	v1 := v
	v = startHA(t, "v2", tp.routers["v"], cfg(200))
	at := v.waitState(ha.StateActive, restarted, 5*time.Second)
	kb := k.waitState("BACKUP", restarted, 5*time.Second)
	t.Logf("vrouter preempted keepalived: Active %v after its start, keepalived BACKUP %v later", at.Sub(restarted), kb.Sub(at))
	if mac := tp.vmNeighbor(); mac != vmac {
		t.Fatalf("VM resolves fe80::1 to %s", mac)
	}
	if st := v.status(); st.Instances[0].Peer == nil || st.Instances[0].Peer.Address != llK {
		t.Errorf("vrouter did not hear keepalived: %+v", st.Instances[0].Peer)
	}
	k.term()
	end := v.term()

	frames := cap.frames(t)
	byMAC := map[string]int{}
	for _, f := range frames {
		if f.vrrp && f.inbound && strings.HasPrefix(f.iface, tp.p+"r") {
			byMAC[f.src]++
		}
	}
	kmac := "fa:16:3e:02:00:02" // the second router of the topology
	if byMAC[vmac] == 0 || byMAC[kmac] == 0 || len(byMAC) != 2 {
		t.Errorf("adverts by source MAC %v: want vrouter's (from %s) and keepalived's (from %s)", byMAC, vmac, kmac)
	}
	checkWire(t, tp, frames, map[string][]ha.Transition{"v": slices.Concat(v1.transitions(), v.transitions())}, end, []string{kmac}, llV, llK)
	checkAndKeepAdverts(t, cap.file, llV, llK)
}

// checkAndKeepAdverts reads the VRRP packets of the capture: each parses
// and builds back to the same bytes; with -update, one of each priority
// from each implementation goes to testdata.
func checkAndKeepAdverts(t *testing.T, file string, llV, llK netip.Addr) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[netip.Addr]map[string]bool{llV: {}, llK: {}}
	lines := map[netip.Addr][]string{}
	n := 0
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if !ok || ip.NextHeader != ha.Protocol {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		a, err := ha.ParseAdvert(ip.Payload, src, dst)
		if err != nil {
			t.Errorf("advert from %s does not parse: %v (% x)", src, err, ip.Payload)
			continue
		}
		b, err := a.Append(nil, src, dst)
		if err != nil || string(b) != string(ip.Payload) {
			t.Errorf("advert from %s builds back to % x (%v), sent % x", src, b, err, ip.Payload)
		}
		n++
		key := fmt.Sprint(a.Priority)
		if k, ok := kept[src]; ok && !k[key] {
			k[key] = true
			lines[src] = append(lines[src], fmt.Sprintf("%s %s %x", src, dst, ip.Payload))
		}
	}
	if n == 0 {
		t.Fatal("no VRRP packets captured")
	}
	if !*update {
		return
	}
	for _, out := range []struct {
		file, header string
		ll           netip.Addr
	}{
		{"testdata/keepalived-adverts.txt", "# VRRPv3 advertisements sent by keepalived 2.2.7 (vrrp_version 3, native_ipv6,\n" +
			"# VRID 51, advert_int 0.1, virtual_ipaddress fe80::1/64 2001:db8:0:2::1/64),\n", llK},
		{"testdata/vrouter-adverts.txt", "# VRRPv3 advertisements sent by vrouter's ha (VRID 51, advert_interval 100ms,\n" +
			"# virtual addresses fe80::1/64 2001:db8:0:2::1/64),\n", llV},
	} {
		body := out.header + "# captured on a namespace bridge: source, destination, IPv6 payload in hex.\n" +
			"# TestKeepalivedInterop rewrites this file with -update.\n" + strings.Join(lines[out.ll], "\n") + "\n"
		if err := os.WriteFile(out.file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out.file)
	}
}
