package daemon

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	insdhcp "github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/dhcpv6/dhcpv6test"
)

const dhcpConfig = `interfaces:
  eth0:
    role: upstream
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    advertise:
      prefixes: [{prefix: "2001:db8:0:2::/64"}]
    dhcpv6:
      mode: stateful
      rapid_commit: true
      pools: [{start: "2001:db8:0:2::1000", end: "2001:db8:0:2::10ff"}]
      hosts: [{mac: "fa:16:3e:33:33:33", address: "2001:db8:0:2::33"}]
`

var (
	vm1MAC     = net.HardwareAddr{0xfa, 0x16, 0x3e, 0x33, 0x33, 0x33}
	vm2MAC     = net.HardwareAddr{0xfa, 0x16, 0x3e, 0x44, 0x44, 0x44}
	clientMeta = dhcpv6.Meta{Src: netip.MustParseAddrPort("[fe80::f816:3eff:fe33:3333]:546"), Dst: dhcpv6.AllRelayAgentsAndServers, IfIndex: 3}
)

// startDHCP runs the daemon on fakes with the state in dir.
func startDHCP(t *testing.T, cfg, dir string) *fakes {
	t.Helper()
	return startFakesOpts(t, cfg, nil, func(f *fakes, o *Options) { o.StateDir = dir })
}

// socket returns the DHCPv6 socket the daemon opened last.
func (f *fakes) socket(iface string) *dhcpv6test.Conn {
	f.t.Helper()
	select {
	case s := <-f.dhcp:
		if s.iface != iface {
			f.t.Fatalf("dhcpv6 socket opened on %s, want %s", s.iface, iface)
		}
		return s.conn
	default:
		f.t.Fatalf("no dhcpv6 socket opened on %s", iface)
		return nil
	}
}

// rapidSolicit is a Rapid Commit Solicit of IA_NA 1 from the DUID-LL of mac.
func rapidSolicit(mac net.HardwareAddr, xid byte) []byte {
	m := &insdhcp.Message{MessageType: insdhcp.MessageTypeSolicit, TransactionID: insdhcp.TransactionID{0, 0, xid}}
	m.AddOption(insdhcp.OptClientID(&insdhcp.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: mac}))
	m.AddOption(&insdhcp.OptIANA{IaId: [4]byte{0, 0, 0, 1}})
	m.AddOption(&insdhcp.OptionGeneric{OptionCode: insdhcp.OptionRapidCommit})
	return m.ToBytes()
}

// exchange sends b and returns the address of the Reply, or fails.
func exchange(t *testing.T, c *dhcpv6test.Conn, b []byte) netip.Addr {
	t.Helper()
	if !c.Inject(b, clientMeta) {
		t.Fatal("socket closed")
	}
	synctest.Wait()
	select {
	case d := <-c.Sent():
		m, err := insdhcp.MessageFromBytes(d.B)
		if err != nil || m.MessageType != insdhcp.MessageTypeReply {
			t.Fatalf("answer %v, %v", m, err)
		}
		ia := m.Options.OneIANA()
		if ia == nil || len(ia.Options.Addresses()) != 1 {
			t.Fatalf("reply without one address: %s", m.Summary())
		}
		a, _ := netip.AddrFromSlice(ia.Options.Addresses()[0].IPv6Addr)
		return a
	default:
		t.Fatal("no answer")
		return netip.Addr{}
	}
}

// TestDHCPv6Component runs a stateful server through `vrouter run` on
// fakes: it serves the reservation by MAC and a pool address with the
// node DUID of the state directory, shows them in the status and the
// metrics, goes passive in standby, keeps running on a rejected reload,
// follows a good one, stops when its section goes, and keeps the leases
// and the DUID across a restart of the daemon.
func TestDHCPv6Component(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		f := startDHCP(t, dhcpConfig, dir)
		c := f.socket("eth1")
		if got := exchange(t, c, rapidSolicit(vm1MAC, 1)); got != netip.MustParseAddr("2001:db8:0:2::33") {
			t.Errorf("vm1 got %s, want its reservation", got)
		}
		pool := exchange(t, c, rapidSolicit(vm2MAC, 2))
		if pool.Less(netip.MustParseAddr("2001:db8:0:2::1000")) || netip.MustParseAddr("2001:db8:0:2::10ff").Less(pool) {
			t.Errorf("vm2 got %s, outside the pool", pool)
		}
		st := f.iface("eth1").DHCPv6
		if st == nil || !st.Active || !st.Running || st.LeasesInUse != 2 || st.PoolSize != 256 || st.Reservations != 1 || st.Sent["reply"] != 2 {
			t.Fatalf("status %+v", st)
		}
		node, err := os.ReadFile(filepath.Join(dir, dhcpv6.DUIDFile))
		if err != nil || strings.TrimSpace(string(node)) != st.ServerDUID {
			t.Errorf("server duid %s, node duid file %q (%v)", st.ServerDUID, node, err)
		}
		for _, cs := range f.status().Components {
			if cs.Name == "dhcpv6" && cs.State != StateReady {
				t.Errorf("component %+v", cs)
			}
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(newCollector(f.d.snapshot))
		want := `
# HELP vrouter_dhcpv6_leases Unexpired address leases.
# TYPE vrouter_dhcpv6_leases gauge
vrouter_dhcpv6_leases{iface="eth1"} 2
# HELP vrouter_dhcpv6_messages_sent_total Messages sent, by type (advertise, reply).
# TYPE vrouter_dhcpv6_messages_sent_total counter
vrouter_dhcpv6_messages_sent_total{iface="eth1",type="reply"} 2
# HELP vrouter_dhcpv6_active 1 while the server answers, 0 while it is passive (HA Backup).
# TYPE vrouter_dhcpv6_active gauge
vrouter_dhcpv6_active{iface="eth1"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vrouter_dhcpv6_leases", "vrouter_dhcpv6_messages_sent_total", "vrouter_dhcpv6_active"); err != nil {
			t.Error(err)
		}
		if n := testutil.CollectAndCount(newCollector(f.d.snapshot), "vrouter_dhcpv6_dropped_total"); n != len(dhcpv6.DropReasons()) {
			t.Errorf("%d dropped_total series, want one per reason (%d)", n, len(dhcpv6.DropReasons()))
		}

		// Standby: the server stays, passive: it learns, answers nothing.
		f.d.publish(func(fc *Facts) { fc.Standby = true })
		time.Sleep(time.Second)
		synctest.Wait()
		c.Inject(rapidSolicit(net.HardwareAddr{0xfa, 0x16, 0x3e, 0, 0, 5}, 3), clientMeta)
		synctest.Wait()
		select {
		case d := <-c.Sent():
			t.Errorf("standby answered %d bytes", len(d.B))
		default:
		}
		if st := f.iface("eth1").DHCPv6; st == nil || st.Active || st.Suppressed != 1 || st.LeasesInUse != 3 {
			t.Errorf("standby status %+v", st)
		}
		f.d.publish(func(fc *Facts) { fc.Standby = false })
		time.Sleep(time.Second)
		synctest.Wait()
		if st := f.iface("eth1").DHCPv6; st == nil || !st.Active {
			t.Errorf("after standby: %+v", st)
		}

		// A reload the server's rules reject keeps it as it was.
		os.WriteFile(f.path, []byte(strings.Replace(dhcpConfig, `{mac: "fa:16:3e:33:33:33", address: "2001:db8:0:2::33"}`,
			`{duid: "00:01", address: "2001:db8:0:2::33"}`, 1)), 0o644)
		f.reload <- struct{}{}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := f.iface("eth1").DHCPv6; st == nil || st.Reservations != 1 || st.PoolSize != 256 {
			t.Errorf("after a rejected reload: %+v", st)
		}
		// A good one is applied in place, on the same socket.
		os.WriteFile(f.path, []byte(strings.Replace(dhcpConfig, "10ff", "101f", 1)), 0o644)
		f.reload <- struct{}{}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := f.iface("eth1").DHCPv6; st == nil || st.PoolSize != 32 || st.LeasesInUse != 3 {
			t.Errorf("after a reload: %+v", st)
		}
		select {
		case s := <-f.dhcp:
			t.Errorf("reload opened another socket on %s", s.iface)
		default:
		}
		// Without its section the server stops.
		os.WriteFile(f.path, []byte(dhcpConfig[:strings.Index(dhcpConfig, "    dhcpv6:")]), 0o644)
		f.reload <- struct{}{}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := f.iface("eth1").DHCPv6; st != nil {
			t.Errorf("server still runs without its section: %+v", st)
		}
		if c.Inject(rapidSolicit(vm1MAC, 9), clientMeta) {
			t.Error("socket still open without a dhcpv6 section")
		}
		f.stop()
	})
	synctest.Test(t, func(t *testing.T) {
		f := startDHCP(t, dhcpConfig, dir)
		c := f.socket("eth1")
		st := f.iface("eth1").DHCPv6
		node, _ := os.ReadFile(filepath.Join(dir, dhcpv6.DUIDFile))
		if st == nil || st.LeasesInUse != 3 || st.ServerDUID != strings.TrimSpace(string(node)) {
			t.Fatalf("after a restart: %+v", st)
		}
		if got := exchange(t, c, rapidSolicit(vm2MAC, 4)); got.Less(netip.MustParseAddr("2001:db8:0:2::1000")) {
			t.Errorf("vm2 got %s after a restart", got)
		}
		f.stop()
	})
}

// TestDHCPv6ReadyWhenListening: the component is ready only once every
// server listens; an interface that does not exist yet keeps it starting
// while the rest of the daemon runs.
func TestDHCPv6ReadyWhenListening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := dhcpConfig + `  eth2:
    role: downstream
    addresses: [2001:db8:0:3::1/64]
    dhcpv6: {mode: stateless, dns_servers: ["2001:db8::53"]}
`
		gotReady := make(chan struct{})
		f := startFakesOpts(t, cfg, nil, func(f *fakes, o *Options) {
			f.noDHCPLink.Store("eth2", true)
			f.noWait = true
			o.Ready = func() { close(gotReady) }
		})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case <-gotReady:
			t.Fatal("daemon ready while eth2's dhcpv6 socket cannot open")
		default:
		}
		for _, cs := range f.status().Components {
			if cs.Name == "dhcpv6" && cs.State != StateStarting {
				t.Errorf("dhcpv6 component %s, want starting", cs.State)
			}
		}
		f.noDHCPLink.Store("eth2", false)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		select {
		case <-gotReady:
		default:
			t.Fatal("not ready once every server listens")
		}
		f.stop()
	})
}

// TestDHCPv6Delegated: the pools and hosts of a delegated interface are
// suffixes: the server waits for the delegated /64 (a runtime address
// fact), serves it, and follows it when it changes.
func TestDHCPv6Delegated(t *testing.T) {
	cfg := `interfaces:
  eth0:
    role: upstream
    prefix_delegation: {length: 56}
  eth1:
    role: downstream
    delegated: {from: eth0, subnet_id: 2}
    dhcpv6:
      mode: stateful
      rapid_commit: true
      pools: [{start: "::1000", end: "::10ff"}]
      hosts: [{mac: "fa:16:3e:33:33:33", address: "::33"}]
`
	synctest.Test(t, func(t *testing.T) {
		f := startFakesOpts(t, cfg, nil, nil)
		if st := f.iface("eth1").DHCPv6; st != nil {
			t.Fatalf("server before the delegated prefix: %+v", st)
		}
		f.d.publish(func(fc *Facts) {
			fc.Addresses = map[string][]netip.Prefix{"eth1": {netip.MustParsePrefix("2001:db8:77:2::1/64")}}
		})
		time.Sleep(time.Second)
		synctest.Wait()
		c := f.socket("eth1")
		if got := exchange(t, c, rapidSolicit(vm1MAC, 1)); got != netip.MustParseAddr("2001:db8:77:2::33") {
			t.Errorf("vm1 got %s, want ::33 of the delegated /64", got)
		}
		f.d.publish(func(fc *Facts) {
			fc.Addresses = map[string][]netip.Prefix{"eth1": {netip.MustParsePrefix("2001:db8:88:2::1/64")}}
		})
		time.Sleep(time.Second)
		synctest.Wait()
		if got := exchange(t, c, rapidSolicit(vm2MAC, 2)); !netip.MustParsePrefix("2001:db8:88:2::/64").Contains(got) {
			t.Errorf("vm2 got %s after the prefix changed", got)
		}
		f.stop()
	})
}

// TestValidateDHCPv6 holds the server's rules in the one validation path:
// `vrouter check` reports them at the position of the field.
func TestValidateDHCPv6(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vrouter.yaml")
	cfg := strings.Replace(dhcpConfig, `{mac: "fa:16:3e:33:33:33", address: "2001:db8:0:2::33"}`,
		`{duid: "00:01", address: "2001:db8:0:2::33"}`, 1)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	var es config.Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("LoadConfig = %v, want one config error", err)
	}
	want := path + ":13:22: interfaces.eth1.dhcpv6.hosts[0].duid: must be at least 3 bytes"
	if !strings.HasPrefix(es[0].Error(), want) {
		t.Errorf("error %q\nwant prefix %q", es[0].Error(), want)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(cfg, `"00:01"`, `"00:01:02"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err != nil {
		t.Errorf("3-byte duid: %v", err)
	}
}

// TestDHCPv6HAIdentity: on an interface of an HA pair the server uses the
// pair's virtual DUID, so clients keep their server across a failover.
func TestDHCPv6HAIdentity(t *testing.T) {
	cfg := dhcpConfig + `ha:
  vrid: 51
  priority: 200
  interfaces:
    eth1: {virtual_addresses: ["fe80::1", "2001:db8:0:2::fe/64"]}
`
	synctest.Test(t, func(t *testing.T) {
		f := startFakesOpts(t, cfg, nil, nil)
		f.socket("eth1")
		if st := f.iface("eth1").DHCPv6; st == nil || st.ServerDUID != "00:03:00:01:00:00:5e:00:02:33" {
			t.Errorf("status %+v, want the DUID-LL of the VRRP virtual MAC", st)
		}
		f.stop()
	})
}
