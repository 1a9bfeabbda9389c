package fastpath

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// bruteLookup is the reference: the longest matching prefix, lowest metric
// among equal prefixes, by scanning every route.
func bruteLookup(routes []Route, dst netip.Addr) *Route {
	var best *Route
	for i := range routes {
		r := &routes[i]
		if !r.Prefix.Masked().Contains(dst) {
			continue
		}
		if best == nil || r.Prefix.Bits() > best.Prefix.Bits() ||
			(r.Prefix.Bits() == best.Prefix.Bits() && r.Metric < best.Metric) {
			best = r
		}
	}
	return best
}

func randAddr(rng *rand.Rand, near []netip.Prefix) netip.Addr {
	var a [16]byte
	for i := range a {
		a[i] = byte(rng.Uint32())
	}
	if len(near) > 0 && rng.IntN(4) != 0 {
		// Mostly addresses inside (or just next to) existing prefixes.
		p := near[rng.IntN(len(near))]
		b := p.Addr().As16()
		keep := p.Bits() - rng.IntN(3)
		for i := 0; i < 128; i++ {
			if i < keep {
				bit := b[i/8] >> (7 - i%8) & 1
				a[i/8] = a[i/8]&^(1<<(7-i%8)) | bit<<(7-i%8)
			}
		}
	}
	return netip.AddrFrom16(a)
}

func TestFIBRandomAgainstBruteForce(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed*7919))
		n := 1 + rng.IntN(400)
		var routes []Route
		var prefixes []netip.Prefix
		for i := 0; i < n; i++ {
			var bits int
			switch rng.IntN(5) {
			case 0:
				bits = rng.IntN(129)
			case 1:
				bits = 64
			case 2:
				bits = 48 + rng.IntN(17)
			default:
				bits = 16 + rng.IntN(48)
			}
			addr := randAddr(rng, prefixes)
			p := netip.PrefixFrom(addr, bits).Masked()
			prefixes = append(prefixes, p)
			routes = append(routes, Route{Prefix: p, Link: i + 1, Metric: rng.IntN(3)})
		}
		f := NewFIB(routes)
		for i := 0; i < 5000; i++ {
			dst := randAddr(rng, prefixes)
			got, want := f.Lookup(dst), bruteLookup(routes, dst)
			switch {
			case got == nil && want == nil:
			case got == nil || want == nil:
				t.Fatalf("seed %d: Lookup(%s) = %v, want %v", seed, dst, got, want)
			case got.Prefix != want.Prefix || got.Metric != want.Metric:
				t.Fatalf("seed %d: Lookup(%s) = %s metric %d, want %s metric %d",
					seed, dst, got.Prefix, got.Metric, want.Prefix, want.Metric)
			}
		}
	}
}

func TestFIBBasics(t *testing.T) {
	mp := netip.MustParsePrefix
	f := NewFIB([]Route{
		{Prefix: mp("::/0"), Link: 1, Gateway: netip.MustParseAddr("fe80::1")},
		{Prefix: mp("2001:db8::/32"), Link: 2},
		{Prefix: mp("2001:db8:2::/64"), Link: 3, Metric: 256},
		{Prefix: mp("2001:db8:2::/64"), Link: 4, Metric: 1024},
		{Prefix: mp("2001:db8:2::99/64"), Link: 5, Metric: 2048}, // unmasked: masked on insert
		{Prefix: mp("10.0.0.0/8"), Link: 9},                      // IPv4: ignored
	})
	if f.Len() != 3 {
		t.Errorf("Len = %d, want 3", f.Len())
	}
	for _, tt := range []struct {
		dst  string
		link int
	}{
		{"2001:db8:2::5", 3},
		{"2001:db8:3::5", 2},
		{"2002::1", 1},
		{"::", 1},
	} {
		r := f.Lookup(netip.MustParseAddr(tt.dst))
		if r == nil || r.Link != tt.link {
			t.Errorf("Lookup(%s) = %+v, want link %d", tt.dst, r, tt.link)
		}
	}
	if r := NewFIB(nil).Lookup(netip.MustParseAddr("2001:db8::1")); r != nil {
		t.Errorf("empty FIB: %+v", r)
	}
	if r := f.Lookup(netip.MustParseAddr("10.1.1.1")); r != nil {
		t.Errorf("IPv4 lookup: %+v", r)
	}
}

func BenchmarkFIBLookup(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var routes []Route
	var prefixes []netip.Prefix
	for i := 0; i < 1000; i++ {
		p := netip.PrefixFrom(randAddr(rng, nil), 32+rng.IntN(33)).Masked()
		prefixes = append(prefixes, p)
		routes = append(routes, Route{Prefix: p, Link: 1})
	}
	routes = append(routes, Route{Prefix: netip.MustParsePrefix("::/0"), Link: 2})
	f := NewFIB(routes)
	dsts := make([][16]byte, 1024)
	for i := range dsts {
		dsts[i] = randAddr(rng, prefixes).As16()
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if f.lookup(&dsts[i&1023]) == nil {
			b.Fatal("no route")
		}
	}
}
