package router

import (
	"maps"
	"net/netip"
	"testing"
)

// FuzzParseOwned: the state file parser never panics, and what it accepts
// encodes and parses back to the same set.
func FuzzParseOwned(f *testing.F) {
	for _, s := range []string{
		`{"version": 1, "addresses": {"eth1": ["2001:db8:0:2::1/64", "2001:db8:0:3::1/64"], "eth0.100": ["fe80::1/64"]}}`,
		`{"version": 1, "addresses": {}}`,
		`{"version": 1, "addresses": {"eth1": []}}`,
		`{"version": 1, "addresses": {"eth1": ["2001:db8::1/128", "2001:db8::1/64"]}}`,
		`{"version": 2, "addresses": {}}`,
		`{"version": 1, "addresses": {"eth1": ["::ffff:192.0.2.1/120"]}}`,
		`{"version": 1, "addresses": {"eth1": ["fe80::1%eth1/64"]}}`,
		`{"version": 1}`,
		``,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseOwned(b)
		if err != nil {
			return
		}
		enc := o.marshal()
		o2, err := parseOwned(enc)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", enc, err)
		}
		nonEmpty := func(o owned) owned {
			out := owned{}
			for k, v := range o {
				if len(v) > 0 {
					out[k] = v
				}
			}
			return out
		}
		if !maps.EqualFunc(nonEmpty(o), o2, func(a, b map[netip.Prefix]bool) bool { return maps.Equal(a, b) }) {
			t.Fatalf("round trip changed the set:\n%v\n%v", o, o2)
		}
	})
}
