package pdclient

import (
	"math/rand/v2"
	"net/netip"
	"regexp"
	"testing"
	"time"
)

func TestFirstAndNextRT(t *testing.T) {
	for _, tc := range []struct {
		name           string
		prev, irt, mrt time.Duration
		rnd            float64
		want           time.Duration
	}{
		{name: "first, RAND 0", irt: time.Second, want: time.Second},
		{name: "first, RAND +0.1", irt: time.Second, rnd: 0.1, want: 1100 * time.Millisecond},
		{name: "first, RAND -0.1", irt: 10 * time.Second, rnd: -0.1, want: 9 * time.Second},
		{name: "doubles", prev: 2 * time.Second, mrt: 3600 * time.Second, want: 4 * time.Second},
		{name: "doubles with RAND", prev: 2 * time.Second, mrt: 3600 * time.Second, rnd: 0.1, want: 4200 * time.Millisecond},
		{name: "capped at MRT", prev: 2000 * time.Second, mrt: 3600 * time.Second, rnd: -0.1, want: 3240 * time.Second},
		{name: "no MRT", prev: 2000 * time.Second, want: 4000 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got time.Duration
			if tc.prev == 0 {
				got = firstRT(tc.irt, tc.rnd)
			} else {
				got = nextRT(tc.prev, tc.mrt, tc.rnd)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestJitterRange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		if j := jitter(r); j < -0.1 || j > 0.1 {
			t.Fatalf("jitter %v outside [-0.1, 0.1]", j)
		}
		if j := positiveJitter(r); j <= 0 || j > 0.1 {
			t.Fatalf("positive jitter %v outside (0, 0.1]", j)
		}
	}
}

func TestTimers(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		t1, t2, preferred, valid time.Duration
		wantT1, wantT2           time.Duration
	}{
		{"server's", 10 * time.Second, 20 * time.Second, time.Hour, 2 * time.Hour, 10 * time.Second, 20 * time.Second},
		{"client picks 0.5 and 0.8", 0, 0, 1000 * time.Second, 2000 * time.Second, 500 * time.Second, 800 * time.Second},
		{"only T1 from the client", 0, 100 * time.Second, 1000 * time.Second, 2000 * time.Second, 100 * time.Second, 100 * time.Second},
		{"deprecated prefix: from valid", 0, 0, 0, 100 * time.Second, 50 * time.Second, 80 * time.Second},
		{"infinite", 0, 0, Infinity, Infinity, Infinity, Infinity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t1, t2 := timers(tc.t1, tc.t2, tc.preferred, tc.valid)
			if t1 != tc.wantT1 || t2 != tc.wantT2 {
				t.Errorf("timers = %v, %v; want %v, %v", t1, t2, tc.wantT1, tc.wantT2)
			}
		})
	}
}

func TestSubnet(t *testing.T) {
	p := netip.MustParsePrefix("2001:db8:100::/56")
	for _, tc := range []struct {
		p    netip.Prefix
		id   uint64
		want string // "" = not possible
	}{
		{p, 0, "2001:db8:100::/64"},
		{p, 2, "2001:db8:100:2::/64"},
		{p, 255, "2001:db8:100:ff::/64"},
		{p, 256, ""},
		{netip.MustParsePrefix("2001:db8:100:7::/64"), 0, "2001:db8:100:7::/64"},
		{netip.MustParsePrefix("2001:db8:100:7::/64"), 1, ""},
		{netip.MustParsePrefix("2001:db8::/32"), 0xabcd_0001, "2001:db8:abcd:1::/64"},
		{netip.MustParsePrefix("2001:db8::/72"), 0, ""},
		{netip.MustParsePrefix("::/0"), 1 << 63, "8000::/64"},
		{netip.MustParsePrefix("10.0.0.0/8"), 0, ""},
	} {
		got, ok := Subnet(tc.p, tc.id)
		if (tc.want == "") == ok || (ok && got.String() != tc.want) {
			t.Errorf("Subnet(%v, %d) = %v, %v; want %q", tc.p, tc.id, got, ok, tc.want)
		}
	}
}

func TestMaxLength(t *testing.T) {
	for id, want := range map[uint64]int{0: 64, 1: 63, 2: 62, 255: 56, 256: 55} {
		if got := maxLength(id); got != want {
			t.Errorf("maxLength(%d) = %d, want %d", id, got, want)
		}
	}
}

func TestRefusalNames(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	seen := make(map[string]bool)
	for _, r := range Refusals() {
		s := r.String()
		if !snake.MatchString(s) || seen[s] {
			t.Errorf("refusal %d: name %q is not a unique snake_case name", r, s)
		}
		seen[s] = true
	}
	if got := Refusal(numRefusals).String(); got != "refusal(18)" {
		t.Errorf("out of range: %q", got)
	}
}
