//go:build linux

package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/daemon"
	"github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/scenario"
)

// The DHCPv6 scenarios run on one topology: the reference scenario with a
// second tenant network (scenario.Options.SecondTenantNetwork), every case
// a config reloaded with SIGHUP into the same `vrouter run`:
//
//	[ipv6-router] eth0 ---- eth0 [vRouter] eth1 ---- br0 ---- eth0 [VM1] fa:16:3e:33:33:33, [VM2] ...44:44:44
//	                                       eth2 ---- br1 ---- eth1 [VM1] fa:16:3e:66:66:66, [VM2] ...77:77:77
//
// Neutron tempest's TestGettingAddress (tempest/scenario/test_network_v6.py)
// maps onto it so: a tempest IPv6 subnet is an address of a vRouter
// interface and its advertised prefix (its gateway_ip the ::1), with
// ipv6_ra_mode = ipv6_address_mode = slaac as a plain advertise section
// and dhcpv6-stateless as `dhcpv6: {mode: stateless}`; n_subnets6 = 2 is
// two prefixes on one interface; dualnet (the IPv6 subnets on a second
// network, the first one keeping the IPv4 subnet) puts the subnets on the
// second tenant network and a SLAAC prefix standing for the IPv4 subnet on
// the first, which the VMs ping each other on as tempest pings the IPv4
// addresses. Each case has prefixes of its own and starts with the VMs'
// global addresses flushed, so no address of an earlier case can pass for
// one of it. What tempest checks — each VM has every EUI-64 address
// Neutron computed for its ports, pings the other VM's addresses and each
// subnet's gateway — is checked here; beyond tempest, the RA flags seen by
// rdisc6, and in the stateless cases a real client (ISC dhclient -6 -S) in
// each VM gets the DNS servers and domain of its subnets.
//
// The stateful case ends the run: VM1 gets the address reserved for its
// MAC, VM2 one of the pool, by dhclient -6 -N; both ping the ipv6-router
// through the vRouter; after `kill -9` of vrouter and a new start the
// leases are still there and each client renews the same address.

// getting is one TestGettingAddress case.
type getting struct {
	name      string // tempest's test name
	stateless bool   // dhcpv6-stateless, else slaac
	subnets   int    // n_subnets6
	dualnet   bool
}

var gettingAddress = []getting{
	{"test_slaac_from_os", false, 1, false},
	{"test_dhcp6_stateless_from_os", true, 1, false},
	{"test_multi_prefix_dhcpv6_stateless", true, 2, false},
	{"test_multi_prefix_slaac", false, 2, false},
	{"test_dualnet_slaac_from_os", false, 1, true},
	{"test_dualnet_dhcp6_stateless_from_os", true, 1, true},
	{"test_dualnet_multi_prefix_dhcpv6_stateless", true, 2, true},
	{"test_dualnet_multi_prefix_slaac", false, 2, true},
}

// subnet returns the /64 of subnet j (0, 1) of case k (0..7), and 15 for
// the first network's prefix of a dualnet case: 2001:db8:a<k>:<j+1>::/64.
func subnet(k, j int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("2001:db8:a%d:%x::/64", k, j+1))
}

func gateway(p netip.Prefix) netip.Addr { return p.Addr().Next() }

// vmNIC is a VM's port on one tenant network.
type vmNIC struct {
	node   scenario.Node
	ifname string
	mac    net.HardwareAddr
}

func nics(dualnet bool) (vrIf string, vms [2]vmNIC) {
	if dualnet {
		return scenario.IfEth2, [2]vmNIC{{scenario.VM1, scenario.IfEth1, scenario.MACVM1Net2}, {scenario.VM2, scenario.IfEth1, scenario.MACVM2Net2}}
	}
	return scenario.IfEth1, [2]vmNIC{{scenario.VM1, scenario.IfEth0, scenario.MACVM1}, {scenario.VM2, scenario.IfEth0, scenario.MACVM2}}
}

// downstream renders one downstream interface advertising prefixes, with
// ::1 of each as its addresses and extra lines (a dhcpv6 section) after.
func downstream(name string, prefixes []netip.Prefix, extra string) string {
	var addrs, pfx []string
	for _, p := range prefixes {
		addrs = append(addrs, netip.PrefixFrom(gateway(p), 64).String())
		pfx = append(pfx, fmt.Sprintf("{prefix: %q}", p))
	}
	return fmt.Sprintf(`  %s:
    role: downstream
    addresses: [%s]
    advertise:
      max_interval: 30s
      prefixes: [%s]
%s`, name, strings.Join(addrs, ", "), strings.Join(pfx, ", "), extra)
}

const upstreamCfg = `interfaces:
  eth0:
    role: upstream
`

// gettingConfig is the vrouter config of case k.
func gettingConfig(k int, c getting) string {
	var subnets []netip.Prefix
	var dns []string
	for j := range c.subnets {
		subnets = append(subnets, subnet(k, j))
		dns = append(dns, fmt.Sprintf("%q", gateway(subnet(k, j)).Next()))
	}
	extra := ""
	if c.stateless {
		extra = fmt.Sprintf("    dhcpv6: {mode: stateless, dns_servers: [%s], domains: [s%d.tenant.example]}\n", strings.Join(dns, ", "), k)
	}
	vrIf, _ := nics(c.dualnet)
	cfg := upstreamCfg
	if c.dualnet {
		cfg += downstream(scenario.IfEth1, []netip.Prefix{subnet(k, 14)}, "")
	}
	return cfg + downstream(vrIf, subnets, extra) + "forwarding: true\n"
}

// dhcpEnv is the DHCPv6 scenarios' environment.
type dhcpEnv struct {
	*env
	cfgPath string
}

// reload writes cfg and has vrouter reload it, failing if it is rejected.
func (e *dhcpEnv) reload(t *testing.T, cfg string) {
	t.Helper()
	if _, err := config.Parse("test", []byte(cfg)); err != nil {
		t.Fatalf("test config: %v\n%s", err, cfg)
	}
	if err := daemon.Validate(mustParse(t, cfg)); err != nil {
		t.Fatalf("test config: %v\n%s", err, cfg)
	}
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.vr.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func mustParse(t *testing.T, cfg string) *config.Config {
	t.Helper()
	c, err := config.Parse("test", []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// flush removes the VMs' global addresses, so a case starts from none.
func (e *dhcpEnv) flush(t *testing.T) {
	t.Helper()
	for _, vm := range []scenario.Node{scenario.VM1, scenario.VM2} {
		for _, ifname := range []string{scenario.IfEth0, scenario.IfEth1} {
			if out, err := e.s.Exec(t.Context(), vm, "ip", "-6", "addr", "flush", "dev", ifname, "scope", "global"); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		}
	}
}

// raFlags returns the M and O flags of the RA node receives on ifname
// (rdisc6 solicits one).
func (e *dhcpEnv) raFlags(t *testing.T, n scenario.Node, ifname string) (managed, other bool) {
	t.Helper()
	out, err := e.s.Exec(t.Context(), n, "rdisc6", "-1", "-r", "3", "-w", "1000", ifname)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch strings.TrimSpace(k) {
		case "Stateful address conf.":
			managed = strings.TrimSpace(v) == "Yes"
		case "Stateful other conf.":
			other = strings.TrimSpace(v) == "Yes"
		}
	}
	return managed, other
}

func (e *dhcpEnv) status(t *testing.T) daemon.Status {
	t.Helper()
	st, err := daemon.QueryStatus(e.s.VRouterSocket())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func dhcpStatus(st daemon.Status, ifname string) *daemon.InterfaceStatus {
	for i := range st.Interfaces {
		if st.Interfaces[i].Name == ifname {
			return &st.Interfaces[i]
		}
	}
	return nil
}

// TestDHCPv6Scenarios runs the eight TestGettingAddress cases and the
// stateful one through one `vrouter run` (see the comment above).
func TestDHCPv6Scenarios(t *testing.T) {
	e := &dhcpEnv{env: newEnv(t, scenario.Options{SecondTenantNetwork: true})}
	for _, prog := range []string{"dhclient", "rdisc6"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%v (.ci/run installs isc-dhcp-client, ndisc6)", err)
		}
	}
	e.cfgPath = filepath.Join(e.s.Dir(), "vrouter.yaml")
	e.start()
	e.waitConverged()
	start := time.Now()
	for k, c := range gettingAddress {
		if !t.Run(c.name, func(t *testing.T) { e.gettingAddress(t, k, c) }) {
			t.Logf("%s failed: the next cases run on the same vrouter", c.name)
		}
	}
	t.Logf("measure: the eight TestGettingAddress cases took %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	t.Run("stateful_reservation_pool_kill9", e.stateful)
	t.Logf("measure: the stateful case took %v", time.Since(start).Round(time.Millisecond))
	if e.vr.Exited() {
		t.Errorf("vrouter exited during the test: %s", e.vr.Status())
	}
}

// gettingAddress is tempest's _prepare_and_test for case k.
func (e *dhcpEnv) gettingAddress(t *testing.T, k int, c getting) {
	ctx := t.Context()
	e.flush(t)
	e.reload(t, gettingConfig(k, c))
	vrIf, vms := nics(c.dualnet)

	// Every VM has the EUI-64 address of its port in every subnet (and,
	// dualnet, in the first network's prefix standing for IPv4).
	type addr struct {
		nic vmNIC
		p   netip.Prefix
	}
	var want []addr
	for _, nic := range vms {
		for j := range c.subnets {
			want = append(want, addr{nic, scenario.SLAAC(subnet(k, j), nic.mac)})
		}
	}
	if c.dualnet {
		want = append(want, addr{vmNIC{scenario.VM1, scenario.IfEth0, scenario.MACVM1}, scenario.SLAAC(subnet(k, 14), scenario.MACVM1)},
			addr{vmNIC{scenario.VM2, scenario.IfEth0, scenario.MACVM2}, scenario.SLAAC(subnet(k, 14), scenario.MACVM2)})
	}
	for _, a := range want {
		if err := e.s.WaitAddr(ctx, a.nic.node, a.nic.ifname, a.p, tenantSLAACTimeout); err != nil {
			t.Fatal(err)
		}
	}
	managed, other := e.raFlags(t, scenario.VM1, vms[0].ifname)
	if managed || other != c.stateless {
		t.Errorf("RA on %s: M=%t O=%t, want M=false O=%t", vrIf, managed, other, c.stateless)
	}

	// Tempest's pings: the other VM's addresses, each subnet's gateway.
	if c.dualnet {
		e.ping(t, scenario.VM1, scenario.SLAAC(subnet(k, 14), scenario.MACVM2).Addr())
		e.ping(t, scenario.VM2, scenario.SLAAC(subnet(k, 14), scenario.MACVM1).Addr())
	}
	for j := range c.subnets {
		for i, nic := range vms {
			other := vms[1-i]
			e.ping(t, nic.node, scenario.SLAAC(subnet(k, j), other.mac).Addr())
			e.ping(t, nic.node, gateway(subnet(k, j)))
		}
	}
	if !c.stateless {
		if d := dhcpStatus(e.status(t), vrIf); d == nil || d.DHCPv6 != nil {
			t.Errorf("slaac: a DHCPv6 server runs on %s: %+v", vrIf, d)
		}
		return
	}

	// A real client on each VM gets the DNS servers and the domain.
	var dns []string
	for j := range c.subnets {
		dns = append(dns, gateway(subnet(k, j)).Next().String())
	}
	for _, nic := range vms {
		cl, err := e.s.StartDHClient(ctx, nic.node, nic.ifname, "-S")
		if err != nil {
			t.Fatal(err)
		}
		ev, err := cl.WaitEvent(ctx, 0, 20*time.Second, "INFORM6", "RENEW6")
		cl.Stop(syscall.SIGTERM, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(ev["new_dhcp6_name_servers"], ",", " "); got != strings.Join(dns, " ") {
			t.Errorf("%s: dhclient -S got name servers %q, want %q", nic.node.Title(), got, strings.Join(dns, " "))
		}
		if got, want := ev["new_dhcp6_domain_search"], fmt.Sprintf("s%d.tenant.example.", k); got != want {
			t.Errorf("%s: dhclient -S got domain search %q, want %q", nic.node.Title(), got, want)
		}
	}
	d := dhcpStatus(e.status(t), vrIf)
	if d == nil || d.DHCPv6 == nil || d.DHCPv6.Mode != "stateless" || d.DHCPv6.Received["information_request"] < 2 {
		t.Errorf("status of %s: %+v", vrIf, d)
	}
}

// stateful: the reservation by MAC, a pool address, traffic upstream, and
// the leases through kill -9 and a restart.
func (e *dhcpEnv) stateful(t *testing.T) {
	ctx := t.Context()
	e.flush(t)
	reserved := netip.MustParseAddr("2001:db8:0:2::33")
	poolStart, poolEnd := netip.MustParseAddr("2001:db8:0:2::1000"), netip.MustParseAddr("2001:db8:0:2::10ff")
	// The reference tenant prefix: the ipv6-router routes it to the vRouter.
	cfg := upstreamCfg + downstream(scenario.IfEth1, []netip.Prefix{scenario.TenantPrefix}, fmt.Sprintf(`    dhcpv6:
      mode: stateful
      preferred_lifetime: 20s
      valid_lifetime: 60s
      t1: 4s
      t2: 8s
      pools: [{start: %q, end: %q}]
      hosts: [{mac: %q, address: %q}]
`, poolStart, poolEnd, scenario.MACVM1, reserved)) +
		// A second server in the same process, on the second network.
		downstream(scenario.IfEth2, []netip.Prefix{subnet(9, 0)}, "    dhcpv6: {mode: stateless, dns_servers: [\"2001:db8:a9:1::53\"]}\n") +
		"forwarding: true\n"
	e.reload(t, cfg)
	if m, o := e.raFlags(t, scenario.VM1, scenario.IfEth0); !m || !o {
		t.Errorf("RA on eth1: M=%t O=%t, want both (stateful)", m, o)
	}

	clients := map[scenario.Node]*scenario.DHClient{}
	got := map[scenario.Node]netip.Addr{}
	for _, vm := range []scenario.Node{scenario.VM1, scenario.VM2} {
		cl, err := e.s.StartDHClient(ctx, vm, scenario.IfEth0, "-N")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Stop(syscall.SIGTERM, 5*time.Second) })
		clients[vm] = cl
	}
	for vm, cl := range clients {
		ev, err := cl.WaitEvent(ctx, 0, 30*time.Second, "BOUND6")
		if err != nil {
			t.Fatal(err)
		}
		a, err := netip.ParseAddr(ev["new_ip6_address"])
		if err != nil {
			t.Fatalf("%s bound without an address: %v", vm.Title(), ev)
		}
		got[vm] = a
	}
	if got[scenario.VM1] != reserved {
		t.Errorf("VM1 got %s, want its MAC reservation %s", got[scenario.VM1], reserved)
	}
	if a := got[scenario.VM2]; a.Less(poolStart) || poolEnd.Less(a) {
		t.Errorf("VM2 got %s, want one of the pool %s-%s", a, poolStart, poolEnd)
	}
	for vm, a := range got {
		if err := e.s.WaitAddr(ctx, vm, scenario.IfEth0, netip.PrefixFrom(a, 128), shortTimeout); err != nil {
			t.Fatal(err)
		}
		// Not by SLAAC: the stateful prefix is advertised with A=0.
		addrs, _ := e.s.GlobalAddrs(vm, scenario.IfEth0)
		for _, x := range addrs {
			if x.Prefix.Bits() == 64 && scenario.TenantPrefix.Contains(x.Prefix.Addr()) {
				t.Errorf("%s formed %v by SLAAC on a stateful network", vm.Title(), x.Prefix)
			}
		}
		e.ping(t, vm, scenario.UpstreamAddr.Addr())
	}
	if d := dhcpStatus(e.status(t), scenario.IfEth1).DHCPv6; d == nil || d.LeasesInUse != 2 || d.Reservations != 1 {
		t.Fatalf("status: %+v", d)
	}
	// The server of eth2 answers on its own link, beside eth1's.
	cl, err := e.s.StartDHClient(ctx, scenario.VM1, scenario.IfEth1, "-S")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := cl.WaitEvent(ctx, 0, 20*time.Second, "INFORM6", "RENEW6")
	cl.Stop(syscall.SIGTERM, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ev["new_dhcp6_name_servers"] != "2001:db8:a9:1::53" {
		t.Errorf("VM1 eth1 (second network) got name servers %q from eth2's server", ev["new_dhcp6_name_servers"])
	}

	// kill -9 and a new start: the leases were durable before the
	// Replies, so the new process has them at once and each client
	// renews the same address with the same server DUID.
	duid := dhcpStatus(e.status(t), scenario.IfEth1).DHCPv6.ServerDUID
	if _, err := e.vr.Stop(syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatalf("kill -9 vrouter: %v", err)
	}
	seen := map[scenario.Node]int{}
	for vm, cl := range clients {
		seen[vm] = len(cl.Events())
	}
	e.s.SetVRouterConfig([]byte(cfg))
	if e.vr, err = e.s.StartVRouter(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.vr.Ready(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// The server is up once its component is ready.
	var d *dhcpv6.Status
	for deadline := time.Now().Add(shortTimeout); ; time.Sleep(50 * time.Millisecond) {
		d = dhcpStatus(e.status(t), scenario.IfEth1).DHCPv6
		if d != nil && d.Running || time.Now().After(deadline) {
			break
		}
	}
	if d == nil || d.LeasesInUse != 2 || d.ServerDUID != duid {
		t.Fatalf("after kill -9 and a restart: %+v (server duid before %s)", d, duid)
	}
	for vm, cl := range clients {
		ev, err := cl.WaitEvent(ctx, seen[vm], 30*time.Second, "RENEW6", "REBIND6")
		if err != nil {
			t.Fatal(err)
		}
		if ev["new_ip6_address"] != got[vm].String() {
			t.Errorf("%s renewed %v after the restart, want %s", vm.Title(), ev, got[vm])
		}
	}
	for vm := range got {
		e.ping(t, vm, scenario.UpstreamAddr.Addr())
	}
	if d := dhcpStatus(e.status(t), scenario.IfEth1).DHCPv6; d == nil || d.Received["renew"] == 0 {
		t.Errorf("the new process saw no Renew: %+v", d)
	}
}
