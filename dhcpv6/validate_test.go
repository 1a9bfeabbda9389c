package dhcpv6

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vrouter/vrouter/config"
)

// TestProblems: the server's rules on a decoded section, at paths relative
// to it; a config they accept is one NewServer accepts.
func TestProblems(t *testing.T) {
	addr := netip.MustParseAddr("2001:db8::33")
	stateful := func(h ...config.DHCPv6Host) config.DHCPv6 {
		return config.DHCPv6{Mode: config.DHCPv6Stateful, ValidLifetime: 7200e9, PreferredLifetime: 3600e9, Hosts: h}
	}
	for _, tc := range []struct {
		name  string
		cfg   config.DHCPv6
		paths []string
	}{
		{"stateless", config.DHCPv6{Mode: config.DHCPv6Stateless}, nil},
		{"3-byte duid", stateful(config.DHCPv6Host{DUID: []byte{0, 1, 2}, Address: addr}), nil},
		{"2-byte duid", stateful(config.DHCPv6Host{DUID: []byte{0, 1}, Address: addr}), []string{"hosts[0].duid"}},
		{"no mode", config.DHCPv6{}, []string{""}},
		{"stateful without addresses", stateful(), []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var paths []string
			for _, p := range Problems(tc.cfg) {
				paths = append(paths, p.Path)
			}
			if diff := cmp.Diff(tc.paths, paths); diff != "" {
				t.Errorf("problem paths (-want +got):\n%s", diff)
			}
			if _, err := NewServer("eth1", tc.cfg); (err == nil) != (len(tc.paths) == 0 || tc.paths[0] != "") {
				t.Errorf("NewServer = %v, problems %v", err, tc.paths)
			}
		})
	}
}

// TestDropReasonText: every reason goes through JSON keys and back
// (`vrouter status` decodes what the daemon encodes).
func TestDropReasonText(t *testing.T) {
	for _, r := range DropReasons() {
		b, _ := r.MarshalText()
		var got DropReason
		if err := got.UnmarshalText(b); err != nil || got != r {
			t.Errorf("%v: round trip %v, %v", r, got, err)
		}
	}
	var r DropReason
	if err := r.UnmarshalText([]byte("unknown")); err == nil {
		t.Error("an unknown name decoded")
	}
}
