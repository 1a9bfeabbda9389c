package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrouter/vrouter/config"
)

func TestEffective(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(`interfaces:
  eth0: {role: upstream}
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    advertise: {prefixes: [{prefix: "2001:db8:0:2::/64"}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if d := Effective(cfg, Facts{}); d.Config != cfg {
		t.Error("without facts the desired config is not the file's")
	}
	addr := netip.MustParsePrefix("2001:db8:77:2::1/64")
	pfx := config.Prefix{Prefix: netip.MustParsePrefix("2001:db8:77:2::/64"), OnLink: true, Autonomous: true,
		ValidLifetime: time.Hour, PreferredLifetime: 30 * time.Minute}
	facts := Facts{
		Standby:   true,
		ServeOn:   map[string]string{"eth1": "vrrp51"},
		Addresses: map[string][]netip.Prefix{"eth1": {addr, netip.MustParsePrefix("2001:db8:0:2::1/64")}, "eth9": {addr}},
		Prefixes:  map[string][]config.Prefix{"eth1": {pfx}, "eth0": {pfx}},
	}
	d := Effective(cfg, facts)
	eth1 := d.Config.Interface("eth1")
	if diff := cmp.Diff([]netip.Prefix{netip.MustParsePrefix("2001:db8:0:2::1/64"), addr}, eth1.Addresses, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if n := len(eth1.Advertise.Prefixes); n != 2 || eth1.Advertise.Prefixes[1].Prefix != pfx.Prefix {
		t.Errorf("advertised prefixes %+v", eth1.Advertise.Prefixes)
	}
	if d.Config.Interface("eth0").Advertise != nil {
		t.Error("a prefix fact made a non-advertising interface advertise")
	}
	if d.Facts.Link("eth1") != "vrrp51" || d.Facts.Link("eth0") != "eth0" || !d.Facts.Standby {
		t.Errorf("facts %+v", d.Facts)
	}
	// The file's config is untouched, and the desired state does not
	// change when the facts it came from do.
	if orig := cfg.Interface("eth1"); len(orig.Addresses) != 1 || len(orig.Advertise.Prefixes) != 1 {
		t.Errorf("Effective modified the file config: %+v", orig)
	}
	facts.Addresses["eth1"][0] = netip.MustParsePrefix("2001:db8:99::1/64")
	facts.ServeOn["eth1"] = "other"
	if d.Config.Interface("eth1").Addresses[1] != addr || d.Facts.Link("eth1") != "vrrp51" {
		t.Error("the desired state shares memory with the facts")
	}
}
