package ra

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
	"golang.org/x/net/idna"
	"golang.org/x/net/ipv6"
)

// Wire limits of the RA fields.
const (
	maxRouterLifetime = math.MaxUint16 * time.Second // RFC 8319 §4
	maxReachableTime  = time.Hour                    // RFC 4861 §6.2.1 MAX_REACHABLE_TIME
	maxRetransTimer   = math.MaxUint32 * time.Millisecond
	infiniteLifetime  = math.MaxUint32 * time.Second // all ones: infinity
)

// buildRA builds the Router Advertisement for cfg on a link in state st.
// A final RA (RFC 4861 §6.2.5) carries router lifetime 0. A router lifetime
// of 0 always goes with preference medium (RFC 4191 §2.2).
func buildRA(cfg config.Advertise, st LinkState, final bool) (*ndp.RouterAdvertisement, error) {
	prf, err := preference(cfg.Preference)
	if err != nil {
		return nil, fmt.Errorf("preference: %w", err)
	}
	lifetime := cfg.RouterLifetime
	if final {
		lifetime = 0
	}
	if lifetime < time.Second {
		lifetime = 0
		prf = ndp.Medium
	}
	m := &ndp.RouterAdvertisement{
		CurrentHopLimit:           cfg.HopLimit,
		ManagedConfiguration:      cfg.Managed,
		OtherConfiguration:        cfg.OtherConfig,
		RouterSelectionPreference: prf,
		RouterLifetime:            min(lifetime, maxRouterLifetime),
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
		m.Options = append(m.Options, &ndp.PrefixInformation{
			PrefixLength:                   uint8(p.Bits()),
			OnLink:                         c.OnLink,
			AutonomousAddressConfiguration: c.Autonomous,
			ValidLifetime:                  lifetime32(c.ValidLifetime),
			PreferredLifetime:              lifetime32(c.PreferredLifetime),
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
			RouteLifetime: lifetime32(r.Lifetime),
			Prefix:        p.Addr(),
		})
	}
	for _, r := range cfg.RDNSS {
		if len(r.Servers) == 0 {
			return nil, errors.New("rdnss: no servers")
		}
		m.Options = append(m.Options, &ndp.RecursiveDNSServer{
			Lifetime: lifetime32(r.Lifetime),
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
			Lifetime:    lifetime32(d.Lifetime),
			DomainNames: names,
		})
	}
	return m, nil
}

// domainName checks a search domain against RFC 1035 §2.3.4 limits, which
// the ndp encoder does not enforce (an empty label would end the name early
// on the wire), and returns it without a trailing dot, in ASCII form.
func domainName(name string) (string, error) {
	n, err := idna.ToASCII(strings.TrimSuffix(name, "."))
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
// first to report errors where they belong.
func Validate(cfg config.Advertise) error {
	var errs []error
	if cfg.MaxInterval < 0 || cfg.MinInterval < 0 || (cfg.MaxInterval > 0 && cfg.MinInterval > cfg.MaxInterval) {
		errs = append(errs, fmt.Errorf("intervals: min %s, max %s: need 0 <= min <= max", cfg.MinInterval, cfg.MaxInterval))
	}
	if cfg.RouterLifetime < 0 || cfg.RouterLifetime > maxRouterLifetime {
		errs = append(errs, fmt.Errorf("router lifetime %s: must be within 0s..%s", cfg.RouterLifetime, maxRouterLifetime))
	}
	if cfg.ReachableTime < 0 || cfg.ReachableTime > maxReachableTime {
		errs = append(errs, fmt.Errorf("reachable time %s: must be within 0s..%s", cfg.ReachableTime, maxReachableTime))
	}
	if cfg.RetransTimer < 0 || cfg.RetransTimer > maxRetransTimer {
		errs = append(errs, fmt.Errorf("retrans timer %s: must be within 0s..%s", cfg.RetransTimer, maxRetransTimer))
	}
	for _, p := range cfg.Prefixes {
		if p.PreferredLifetime > p.ValidLifetime {
			errs = append(errs, fmt.Errorf("prefix %s: preferred lifetime %s exceeds valid lifetime %s", p.Prefix, p.PreferredLifetime, p.ValidLifetime))
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
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// solicitation validates an incoming message as a Router Solicitation per
// RFC 4861 §6.1.1 and returns its source without zone. The ICMP code, length
// and option lengths were checked by parsing; the checksum by the kernel.
func solicitation(m ndp.Message, cm *ipv6.ControlMessage, src netip.Addr) (netip.Addr, bool) {
	rs, ok := m.(*ndp.RouterSolicitation)
	if !ok {
		return netip.Addr{}, false
	}
	if cm == nil || cm.HopLimit != ndp.HopLimit {
		return netip.Addr{}, false
	}
	src = src.WithZone("")
	if !src.Is6() || src.Is4In6() || src.IsMulticast() || src.IsLoopback() {
		return netip.Addr{}, false
	}
	if src.IsUnspecified() {
		// An RS from the unspecified address must not carry a source
		// link-layer address option.
		for _, o := range rs.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
				return netip.Addr{}, false
			}
		}
	}
	return src, true
}
