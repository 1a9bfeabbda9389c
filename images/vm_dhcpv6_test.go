package images_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/cloudinit"
	"github.com/vrouter/vrouter/images"
)

// statefulConfig is the tenant network of the VM boot in dhcpv6-stateful
// mode (OPENSTACK.md §5): RA M=1 O=1 with A=0, VM1's address reserved for
// the MAC of its Neutron port.
const statefulConfig = `interfaces:
  eth0:
    role: upstream
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    advertise:
      prefixes: [{prefix: 2001:db8:0:2::/64}]
    dhcpv6:
      mode: stateful
      dns_servers: [2001:db8:0:2::53]
      pools: [{start: "2001:db8:0:2::1000", end: "2001:db8:0:2::1fff"}]
      hosts: [{mac: "` + macVM1 + `", address: "` + addrVM1Stateful + `"}]
forwarding: true
`

const (
	addrVM1Stateful = "2001:db8:0:2::33"
	markerDHCPv6    = "E2E dhcpv6 "
)

// vm1Script is what dhclient runs in VM1: it adds the bound address (as
// dhclient-script does) and records the event, leaving /etc/resolv.conf of
// the host alone.
const vm1Script = `#!/bin/sh
case "$reason" in
BOUND6|RENEW6|REBIND6|REBOOT6)
	[ -n "$new_ip6_address" ] && ip -6 addr replace "$new_ip6_address/${new_ip6_prefixlen:-128}" dev "$interface" \
		valid_lft "${new_max_life:-forever}" preferred_lft "${new_preferred_life:-forever}"
	;;
esac
echo "reason=$reason address=$new_ip6_address dns=$new_dhcp6_name_servers" >> "$(dirname "$0")/events"
`

// bootStatefulDHCPv6 boots the router with a stateful tenant network: the
// DHCPv6 server runs under the hardened unit (it binds UDP 547 with the
// unit's CAP_NET_BIND_SERVICE), VM1 (ISC dhclient -6 -N) gets the address
// reserved for its MAC and pings the ipv6-router through the VM, and the
// VM's `vrouter status` shows the lease.
func bootStatefulDHCPv6(t *testing.T, image string) {
	cc, _, err := cloudinit.Build(cloudinit.Options{NICs: vmNICs(t), ConfigName: "stateful.yaml", Config: []byte(statefulConfig)})
	if err != nil {
		t.Fatal(err)
	}
	// Once the server holds a lease, its status line on the console.
	cc.Runcmd = append(cc.Runcmd, []string{"systemd-run", "--unit=e2e-dhcpv6", "--no-block", "sh", "-c",
		`for i in $(seq 600); do if ` + images.BinaryPath + ` status | grep -q "dhcpv6 eth1 .*leases=[1-9]"; then ` + images.BinaryPath + ` status | grep dhcpv6 | sed "s/^/` +
			markerDHCPv6 + `/" > /dev/console; exit 0; fi; sleep 1; done; echo "` + markerDHCPv6 + `timeout" > /dev/console`})
	lab := newLab(t, 1)
	vm := lab.boot(t, image, cc)
	// The router starts right after cloud-init's init stage: once VM1 has
	// its default route from the RA (M=1), the server runs beside the
	// advertiser, and a client started then is not left in Solicit back-off.
	waitFor(t, "VM1 to get a default route from the VM's RA", finalTimeout+vm1Timeout, func() error {
		out, err := output(lab.ns("vm1"), "ip", "-6", "route", "show", "default")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "default via fe80:") {
			return fmt.Errorf("VM1 default routes: %q", out)
		}
		return nil
	})

	script := filepath.Join(lab.dir, "dhclient-script")
	if err := os.WriteFile(script, []byte(vm1Script), 0o755); err != nil {
		t.Fatal(err)
	}
	dhclient := nsCmd(lab.ns("vm1"), "dhclient", "-6", "-d", "-N", "-lf", filepath.Join(lab.dir, "leases"),
		"-pf", filepath.Join(lab.dir, "dhclient.pid"), "-sf", script, "eth0")
	var dlog strings.Builder
	dhclient.Stdout, dhclient.Stderr = &dlog, &dlog
	dhclient.SysProcAttr = sysProcAttrGroup()
	if err := dhclient.Start(); err != nil {
		t.Fatalf("dhclient: %v", err)
	}
	t.Cleanup(func() {
		_ = killGroup(dhclient)
		_ = dhclient.Wait()
		if t.Failed() {
			ev, _ := os.ReadFile(filepath.Join(lab.dir, "events"))
			t.Logf("dhclient:\n%s\nevents:\n%s", dlog.String(), ev)
		}
	})
	waitFor(t, "VM1 to get "+addrVM1Stateful+" by DHCPv6", vm1Timeout, func() error {
		out, err := output(lab.ns("vm1"), "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
		if err != nil {
			return err
		}
		if !strings.Contains(out, addrVM1Stateful+"/128") || strings.Contains(out, "tentative") {
			return fmt.Errorf("VM1 addresses: %q", out)
		}
		return nil
	})
	t.Logf("boot → VM1 has %s by DHCPv6: %s", addrVM1Stateful, time.Since(vm.start).Round(100*time.Millisecond))
	vm.waitSerial(t, "vrouter: cloud-init final stage done", finalTimeout)
	vm.waitSerial(t, markerService+"active", 10*time.Second)
	// A=0: no SLAAC address on the stateful network.
	out, _ := output(lab.ns("vm1"), "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
	if strings.Contains(out, addrVM1+"/64") {
		t.Errorf("VM1 formed %s by SLAAC on a stateful network: %q", addrVM1, out)
	}
	out, err = outputErr(lab.ns("vm1"), "ping", "-6", "-c", "3", "-W", "2", "-I", addrVM1Stateful, addrUp)
	if err != nil {
		t.Fatalf("VM1 cannot ping %s from %s through the VM: %v\n%s", addrUp, addrVM1Stateful, err, out)
	}
	t.Logf("VM1 pings %s through the VM: %s", addrUp, lastLine(out))
	vm.waitSerial(t, markerDHCPv6+"dhcpv6 eth1 (stateful): active=true running=true leases=1/", time.Minute)
}
