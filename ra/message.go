package ra

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
	"golang.org/x/net/idna"
)

// Wire limits of the RA fields.
const (
	wireMaxRouterLifetime = math.MaxUint16 * time.Second // the 16-bit field (RFC 8319 §4)
	maxReachableTime      = time.Hour                    // RFC 4861 §6.2.1 MAX_REACHABLE_TIME
	maxRetransTimer       = math.MaxUint32 * time.Millisecond
	infiniteLifetime      = math.MaxUint32 * time.Second // all ones: infinity
)

// advert is everything one Router Advertisement is built from.
type advert struct {
	cfg config.Advertise
	st  LinkState
	// final is the RFC 4861 §6.2.5 RA of a stopping router: router
	// lifetime 0, and route, RDNSS, DNSSL and PREF64 lifetimes 0.
	final bool
	// noForwarding makes the router lifetime 0 (§6.2.5: the interface is
	// not forwarding).
	noForwarding bool
	// now is when the RA goes out; it only matters for decrementing
	// prefix lifetimes.
	now time.Time
	// coarse keeps, of the deadlines that cap prefix lifetimes, only
	// whether each has passed: a prefix is advertised with its configured
	// lifetimes or with 0. The fingerprint of what is advertised uses it,
	// so a lifetime counting down or moved by a lease renewal is no
	// change, and a prefix deprecated or expired is one.
	coarse bool
	// expires holds the deadlines of prefixes with decrementing
	// lifetimes; a missing prefix is advertised with its configured values.
	expires map[netip.Prefix]deadline
	// withdrawn items are advertised with zero lifetimes (RFC 9096).
	withdrawn []item
}

// deadline is when the lifetimes of a decrementing prefix run out; valid and
// preferred are the configured lifetimes the deadline was computed from.
type deadline struct {
	Valid             time.Time     `json:"valid"`
	Preferred         time.Time     `json:"preferred"`
	ValidLifetime     time.Duration `json:"valid_lifetime"`
	PreferredLifetime time.Duration `json:"preferred_lifetime"`
}

// buildRA builds the Router Advertisement for cfg on a link in state st.
// A final RA (RFC 4861 §6.2.5) carries router lifetime 0. A router lifetime
// of 0 always goes with preference medium (RFC 4191 §2.2).
func buildRA(cfg config.Advertise, st LinkState, final bool) (*ndp.RouterAdvertisement, error) {
	return (&advert{cfg: cfg, st: st, final: final}).build()
}

// build builds one RA holding every option; split cuts it to the link MTU.
func (ad *advert) build() (*ndp.RouterAdvertisement, error) {
	cfg, st := ad.cfg, ad.st
	prf, err := preference(cfg.Preference)
	if err != nil {
		return nil, fmt.Errorf("preference: %w", err)
	}
	lifetime := cfg.RouterLifetime
	if ad.final || ad.noForwarding {
		lifetime = 0
	}
	if lifetime < time.Second {
		lifetime = 0
		prf = ndp.Medium
	}
	// optLife is the lifetime of route, RDNSS, DNSSL and PREF64 options:
	// 0 in the final RA, so hosts stop using what a gone router offered.
	optLife := func(d time.Duration) time.Duration {
		if ad.final {
			return 0
		}
		return lifetime32(d)
	}
	m := &ndp.RouterAdvertisement{
		CurrentHopLimit:           cfg.HopLimit,
		ManagedConfiguration:      cfg.Managed,
		OtherConfiguration:        cfg.OtherConfig,
		RouterSelectionPreference: prf,
		RouterLifetime:            min(lifetime, wireMaxRouterLifetime),
		ReachableTime:             min(max(cfg.ReachableTime, 0), maxReachableTime),
		RetransmitTimer:           min(max(cfg.RetransTimer, 0), maxRetransTimer),
	}

	if len(st.MAC) == 6 { // ndp encodes Ethernet addresses only
		m.Options = append(m.Options, &ndp.LinkLayerAddress{
			Direction: ndp.Source,
			Addr:      append(net.HardwareAddr(nil), st.MAC...),
		})
	}
	if cfg.LinkMTU != 0 {
		if cfg.LinkMTU < 1280 || int64(cfg.LinkMTU) > math.MaxUint32 {
			return nil, fmt.Errorf("link mtu %d: must be 0 or at least 1280", cfg.LinkMTU)
		}
		m.Options = append(m.Options, ndp.NewMTU(uint32(cfg.LinkMTU)))
	}

	seen := make(map[netip.Prefix]bool)
	addPrefix := func(p netip.Prefix, c config.Prefix) {
		if seen[p] {
			return
		}
		seen[p] = true
		valid, pref := lifetime32(c.ValidLifetime), lifetime32(c.PreferredLifetime)
		if dl, ok := ad.expires[p]; ok && c.DecrementLifetimes {
			valid, pref = remaining(dl.Valid, ad.now), remaining(dl.Preferred, ad.now)
		}
		// Deadlines (a delegated prefix's lease) cap the lifetimes; a
		// coarse RA (the fingerprint) only says which ran out.
		if !ad.now.IsZero() {
			capped := func(d time.Duration, until time.Time) time.Duration {
				left := remaining(until, ad.now)
				if ad.coarse && left > 0 {
					return d
				}
				return min(d, left)
			}
			if !c.ValidUntil.IsZero() {
				valid = capped(valid, c.ValidUntil)
			}
			if !c.PreferredUntil.IsZero() {
				pref = capped(pref, c.PreferredUntil)
			}
			if !c.ValidUntil.IsZero() {
				pref = min(pref, valid)
			}
		}
		m.Options = append(m.Options, &ndp.PrefixInformation{
			PrefixLength:                   uint8(p.Bits()),
			OnLink:                         c.OnLink,
			AutonomousAddressConfiguration: c.Autonomous,
			ValidLifetime:                  valid,
			PreferredLifetime:              pref,
			Prefix:                         p.Addr(),
		})
	}
	// Explicit prefixes first, so that they win over an expansion of "::/64"
	// that yields the same prefix.
	for _, c := range cfg.Prefixes {
		if c.Auto() {
			continue
		}
		if !c.Prefix.IsValid() || !c.Prefix.Addr().Is6() || c.Prefix.Addr().Is4In6() {
			return nil, fmt.Errorf("prefix %s: not an IPv6 prefix", c.Prefix)
		}
		addPrefix(c.Prefix.Masked(), c)
	}
	for _, c := range cfg.Prefixes {
		if !c.Auto() {
			continue
		}
		for _, g := range st.Global {
			if g.Bits() == c.Prefix.Bits() && g.Addr().Is6() && !g.Addr().Is4In6() {
				addPrefix(g.Masked(), c)
			}
		}
	}

	for _, r := range cfg.Routes {
		if !r.Prefix.IsValid() || !r.Prefix.Addr().Is6() || r.Prefix.Addr().Is4In6() {
			return nil, fmt.Errorf("route %s: not an IPv6 prefix", r.Prefix)
		}
		rp, err := preference(r.Preference)
		if err != nil {
			return nil, fmt.Errorf("route %s: preference: %w", r.Prefix, err)
		}
		p := r.Prefix.Masked()
		m.Options = append(m.Options, &ndp.RouteInformation{
			PrefixLength:  uint8(p.Bits()),
			Preference:    rp,
			RouteLifetime: optLife(r.Lifetime),
			Prefix:        p.Addr(),
		})
	}
	for _, r := range cfg.RDNSS {
		if len(r.Servers) == 0 {
			return nil, errors.New("rdnss: no servers")
		}
		m.Options = append(m.Options, &ndp.RecursiveDNSServer{
			Lifetime: optLife(r.Lifetime),
			Servers:  append([]netip.Addr(nil), r.Servers...),
		})
	}
	for _, d := range cfg.DNSSL {
		if len(d.Domains) == 0 {
			return nil, errors.New("dnssl: no domains")
		}
		names := make([]string, 0, len(d.Domains))
		for _, name := range d.Domains {
			n, err := domainName(name)
			if err != nil {
				return nil, fmt.Errorf("dnssl: %w", err)
			}
			names = append(names, n)
		}
		m.Options = append(m.Options, &ndp.DNSSearchList{
			Lifetime:    optLife(d.Lifetime),
			DomainNames: names,
		})
	}
	for _, p := range cfg.PREF64 {
		switch p.Prefix.Bits() {
		case 32, 40, 48, 56, 64, 96:
		default:
			return nil, fmt.Errorf("pref64 %s: prefix length must be 32, 40, 48, 56, 64 or 96", p.Prefix)
		}
		if !p.Prefix.Addr().Is6() || p.Prefix.Addr().Is4In6() {
			return nil, fmt.Errorf("pref64 %s: not an IPv6 prefix", p.Prefix)
		}
		if p.Lifetime < 0 || p.Lifetime > maxPREF64Lifetime {
			return nil, fmt.Errorf("pref64 %s: lifetime %s: must be within 0s..%s", p.Prefix, p.Lifetime, maxPREF64Lifetime)
		}
		m.Options = append(m.Options, &ndp.PREF64{Lifetime: optLife(p.Lifetime), Prefix: p.Prefix.Masked()})
	}
	if cfg.CaptivePortal != "" {
		if len(cfg.CaptivePortal) > maxCaptivePortal {
			return nil, fmt.Errorf("captive portal: uri of %d bytes exceeds %d", len(cfg.CaptivePortal), maxCaptivePortal)
		}
		for _, c := range []byte(cfg.CaptivePortal) {
			if c <= ' ' || c >= 0x7f {
				return nil, fmt.Errorf("captive portal: uri %q: invalid character %q", cfg.CaptivePortal, c)
			}
		}
		m.Options = append(m.Options, &ndp.CaptivePortal{URI: cfg.CaptivePortal})
	}
	m.Options = appendWithdrawn(m.Options, ad.withdrawn)
	return m, nil
}

// Option limits.
const (
	// maxPREF64Lifetime is 8191 units of 8s (RFC 8781 §4).
	maxPREF64Lifetime = 65528 * time.Second
	// maxCaptivePortal is the longest URI an option of 255*8 bytes holds.
	maxCaptivePortal = 255*8 - 2
	// ipv6HeaderLen and raHeaderLen are what an RA costs besides options.
	ipv6HeaderLen = 40
	raHeaderLen   = 16
)

// remaining is the lifetime left until deadline, whole seconds, at least 0.
func remaining(deadline, now time.Time) time.Duration {
	return max(deadline.Sub(now).Truncate(time.Second), 0)
}

// split cuts m into RAs that each fit a link MTU of mtu bytes (RFC 4861
// §6.2.3: "multiple advertisements can be sent, each containing a subset of
// the options"). Every part carries the header and the source link-layer
// address option; mtu <= 0 means no limit.
func split(m *ndp.RouterAdvertisement, mtu int) ([]*ndp.RouterAdvertisement, error) {
	if mtu <= 0 {
		return []*ndp.RouterAdvertisement{m}, nil
	}
	sizes := make([]int, len(m.Options))
	total := ipv6HeaderLen + raHeaderLen
	for i, o := range m.Options {
		b, err := ndp.MarshalMessage(&ndp.RouterAdvertisement{Options: []ndp.Option{o}})
		if err != nil {
			return nil, fmt.Errorf("marshal option %d: %w", i, err)
		}
		sizes[i] = len(b) - raHeaderLen
		total += sizes[i]
	}
	if total <= mtu {
		return []*ndp.RouterAdvertisement{m}, nil
	}
	var common []ndp.Option
	base := ipv6HeaderLen + raHeaderLen
	for i, o := range m.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
			common = append(common, o)
			base += sizes[i]
		}
	}
	var out []*ndp.RouterAdvertisement
	cur := *m
	cur.Options = append([]ndp.Option(nil), common...)
	size := base
	for i, o := range m.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
			continue
		}
		if base+sizes[i] > mtu {
			return nil, fmt.Errorf("option %T of %d bytes does not fit the link mtu %d", o, sizes[i], mtu)
		}
		if size+sizes[i] > mtu {
			part := cur
			out = append(out, &part)
			cur.Options = append([]ndp.Option(nil), common...)
			size = base
		}
		cur.Options = append(cur.Options, o)
		size += sizes[i]
	}
	out = append(out, &cur)
	return out, nil
}

// domainName checks a search domain against RFC 1035 §2.3.4 limits, which
// the ndp encoder does not enforce (an empty label would end the name early
// on the wire), and returns it without a trailing dot, in ASCII form.
func domainName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("domain %q: not valid UTF-8", name)
	}
	n, err := idna.Lookup.ToASCII(strings.TrimSuffix(name, "."))
	if err == nil {
		// What a receiver (ndp among them) decodes must be valid too.
		_, err = idna.Lookup.ToUnicode(n)
	}
	if err != nil {
		return "", fmt.Errorf("domain %q: %w", name, err)
	}
	if n == "" || len(n) > 253 {
		return "", fmt.Errorf("domain %q: must have 1 to 253 characters", name)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("domain %q: labels must have 1 to 63 characters", name)
		}
		// Letters, digits, '-' and '_' (found in SRV-style names): what
		// resolvers and the ndp decoder accept.
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("domain %q: invalid character %q", name, c)
			}
		}
	}
	return n, nil
}

// lifetime32 clamps d to a 32-bit count of seconds; the maximum means
// infinity on the wire.
func lifetime32(d time.Duration) time.Duration {
	return min(max(d, 0), infiniteLifetime)
}

func preference(p config.Preference) (ndp.Preference, error) {
	switch p {
	case config.PreferenceMedium, "":
		return ndp.Medium, nil
	case config.PreferenceHigh:
		return ndp.High, nil
	case config.PreferenceLow:
		return ndp.Low, nil
	}
	return 0, fmt.Errorf("%q is not low, medium or high", p)
}

// Validate reports the problems that would keep cfg from being advertised,
// or nil. NewAdvertiser and Update accept any config; Run fails on an invalid
// one and Update keeps the running config, so callers check with Validate
// first to report errors where they belong. It is Problems joined.
func Validate(cfg config.Advertise) error {
	var errs []error
	for _, p := range Problems(cfg) {
		errs = append(errs, errors.New(p.Msg))
	}
	return errors.Join(errs...)
}

// Problems returns what Validate reports, each with the path of the field
// at fault relative to the advertise section ("" for the whole section),
// for the daemon's one validation path (config.Under, Config.Errors).
func Problems(cfg config.Advertise) []config.Problem {
	var ps []config.Problem
	if cfg.MaxInterval < 0 || cfg.MinInterval < 0 || (cfg.MaxInterval > 0 && cfg.MinInterval > cfg.MaxInterval) {
		ps = append(ps, config.Problemf("min_interval", "intervals: min %s, max %s: need 0 <= min <= max", cfg.MinInterval, cfg.MaxInterval))
	}
	if cfg.RouterLifetime < 0 || cfg.RouterLifetime > config.MaxRouterLifetime {
		ps = append(ps, config.Problemf("router_lifetime", "router lifetime %s: must be within 0s..%s", cfg.RouterLifetime, config.MaxRouterLifetime))
	}
	if cfg.ReachableTime < 0 || cfg.ReachableTime > maxReachableTime {
		ps = append(ps, config.Problemf("reachable_time", "reachable time %s: must be within 0s..%s", cfg.ReachableTime, maxReachableTime))
	}
	if cfg.RetransTimer < 0 || cfg.RetransTimer > maxRetransTimer {
		ps = append(ps, config.Problemf("retrans_timer", "retrans timer %s: must be within 0s..%s", cfg.RetransTimer, maxRetransTimer))
	}
	for i, p := range cfg.Prefixes {
		if p.PreferredLifetime > p.ValidLifetime {
			ps = append(ps, config.Problemf(fmt.Sprintf("prefixes[%d].preferred_lifetime", i),
				"prefix %s: preferred lifetime %s exceeds valid lifetime %s", p.Prefix, p.PreferredLifetime, p.ValidLifetime))
		}
	}
	// Build and marshal against a made-up link, which catches everything the
	// wire format cannot carry (bad domain names, unmasked prefixes...).
	st := LinkState{
		MAC:    net.HardwareAddr{0x02, 0, 0, 0, 0, 1},
		Global: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")},
	}
	m, err := buildRA(cfg, st, false)
	if err == nil {
		_, err = ndp.MarshalMessage(m)
	}
	if err != nil {
		ps = append(ps, config.Problem{Msg: err.Error()})
	}
	return ps
}
