package pdclient

import (
	"math/bits"
	"net/netip"
	"time"

	"github.com/vrouter/vrouter/config"
)

// Infinity is the lifetime 0xffffffff seconds: never expires (RFC 8415
// §7.7). It is config.Infinity.
const Infinity = config.Infinity

// A Delegation is a prefix delegated to the client, with its lifetimes as
// they stood at Obtained. The zero Delegation is "none".
type Delegation struct {
	Prefix netip.Prefix `json:"prefix"`
	// Preferred and Valid count from Obtained; Infinity never ends.
	Preferred time.Duration `json:"preferred_lifetime"`
	Valid     time.Duration `json:"valid_lifetime"`
	// Obtained is when the Reply granting these lifetimes arrived (for a
	// prefix that is gone: when it went).
	Obtained time.Time `json:"obtained"`
}

// IsValid reports whether d holds a prefix (the zero Delegation is none).
func (d Delegation) IsValid() bool { return d.Prefix.IsValid() }

// PreferredUntil is when the prefix stops being preferred; the zero Time for
// Infinity.
func (d Delegation) PreferredUntil() time.Time { return until(d.Obtained, d.Preferred) }

// ValidUntil is when the prefix stops being valid; the zero Time for
// Infinity.
func (d Delegation) ValidUntil() time.Time { return until(d.Obtained, d.Valid) }

// Remaining returns the preferred and valid lifetimes left at now (never
// negative; Infinity stays Infinity).
func (d Delegation) Remaining(now time.Time) (preferred, valid time.Duration) {
	return remaining(d.Obtained, d.Preferred, now), remaining(d.Obtained, d.Valid, now)
}

func until(from time.Time, d time.Duration) time.Time {
	if d >= Infinity {
		return time.Time{}
	}
	return from.Add(d)
}

func remaining(from time.Time, d time.Duration, now time.Time) time.Duration {
	if d >= Infinity {
		return Infinity
	}
	return max(from.Add(d).Sub(now), 0)
}

// A Change tells consumers what the delegation became. Current is the
// delegation in use from now on (the zero Delegation: none, "waiting for a
// delegation"); Gone lists the prefixes delegated before and not any more,
// each with Obtained set to the time of the change, a preferred lifetime of
// 0 and the valid lifetime it keeps from then on (0 when the server withdrew
// it or it expired), so that renumbering can deprecate it (RFC 9096).
// Lifetimes extended by a Renew or Rebind come as a Change with the same
// Current prefix and no Gone.
type Change struct {
	Current Delegation   `json:"current"`
	Gone    []Delegation `json:"gone,omitempty"`
}

// Subnet returns the /64 number id of prefix p (the "subnet_id" of a
// downstream interface, DESIGN §4.2), and false when p is not IPv6, is
// longer than /64 or has fewer than id+1 subnets.
func Subnet(p netip.Prefix, id uint64) (netip.Prefix, bool) {
	if !p.IsValid() || !p.Addr().Is6() || p.Bits() > 64 || p.Addr().Is4In6() {
		return netip.Prefix{}, false
	}
	if n := 64 - p.Bits(); n < 64 && id>>n != 0 {
		return netip.Prefix{}, false
	}
	a := p.Masked().Addr().As16()
	hi := uint64(a[0])<<56 | uint64(a[1])<<48 | uint64(a[2])<<40 | uint64(a[3])<<32 |
		uint64(a[4])<<24 | uint64(a[5])<<16 | uint64(a[6])<<8 | uint64(a[7])
	hi |= id
	for i := range 8 {
		a[i] = byte(hi >> (56 - 8*i))
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), 64), true
}

// maxLength is the longest delegated prefix that holds subnets 0..maxID.
func maxLength(maxID uint64) int { return 64 - bits.Len64(maxID) }
