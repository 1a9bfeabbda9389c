package ra

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mdlayher/ndp"
)

// Field names an RA field another router may advertise inconsistently.
type Field uint8

// The fields RFC 4861 §6.2.7 compares, plus RDNSS and DNSSL (RFC 8106).
const (
	FieldHopLimit Field = iota
	FieldManaged
	FieldOtherConfig
	FieldReachableTime
	FieldRetransTimer
	FieldMTU
	FieldValidLifetime
	FieldPreferredLifetime
	FieldRDNSS
	FieldDNSSL
	numFields
)

var fieldNames = [numFields]string{
	"hop_limit", "managed", "other_config", "reachable_time", "retrans_timer",
	"mtu", "prefix_valid_lifetime", "prefix_preferred_lifetime", "rdnss", "dnssl",
}

func (f Field) String() string {
	if f < numFields {
		return fieldNames[f]
	}
	return "unknown"
}

// inconsistency is one field where another router's RA differs from ours.
type inconsistency struct {
	field        Field
	key          string // the prefix for lifetimes, else ""
	ours, theirs string
}

// decrementSlack is how far decrementing lifetimes may differ (RFC 4861
// §6.2.7: compare the expiry times, which the RAs give in whole seconds).
const decrementSlack = 2 * time.Second

// compareRAs lists the inconsistencies of theirs with ours (RFC 4861
// §6.2.7). Zero means unspecified for hop limit, reachable time and retrans
// timer and is not compared; options only one side carries are not
// compared. decrementing tells which of our prefixes have decrementing
// lifetimes, which are compared with some slack.
func compareRAs(ours, theirs *ndp.RouterAdvertisement, decrementing func(netip.Prefix) bool) []inconsistency {
	var out []inconsistency
	add := func(f Field, key string, o, t any) {
		out = append(out, inconsistency{f, key, fmtValue(o), fmtValue(t)})
	}
	if ours.CurrentHopLimit != 0 && theirs.CurrentHopLimit != 0 && ours.CurrentHopLimit != theirs.CurrentHopLimit {
		add(FieldHopLimit, "", ours.CurrentHopLimit, theirs.CurrentHopLimit)
	}
	if ours.ManagedConfiguration != theirs.ManagedConfiguration {
		add(FieldManaged, "", ours.ManagedConfiguration, theirs.ManagedConfiguration)
	}
	if ours.OtherConfiguration != theirs.OtherConfiguration {
		add(FieldOtherConfig, "", ours.OtherConfiguration, theirs.OtherConfiguration)
	}
	if ours.ReachableTime != 0 && theirs.ReachableTime != 0 && ours.ReachableTime != theirs.ReachableTime {
		add(FieldReachableTime, "", ours.ReachableTime, theirs.ReachableTime)
	}
	if ours.RetransmitTimer != 0 && theirs.RetransmitTimer != 0 && ours.RetransmitTimer != theirs.RetransmitTimer {
		add(FieldRetransTimer, "", ours.RetransmitTimer, theirs.RetransmitTimer)
	}
	if o, t := mtuOf(ours), mtuOf(theirs); o != 0 && t != 0 && o != t {
		add(FieldMTU, "", o, t)
	}
	our := prefixes(ours)
	for p, t := range prefixes(theirs) {
		o, ok := our[p]
		if !ok {
			continue
		}
		slack := time.Duration(0)
		if decrementing != nil && decrementing(p) {
			slack = decrementSlack
		}
		if differ(o.ValidLifetime, t.ValidLifetime, slack) {
			add(FieldValidLifetime, p.String(), o.ValidLifetime, t.ValidLifetime)
		}
		if differ(o.PreferredLifetime, t.PreferredLifetime, slack) {
			add(FieldPreferredLifetime, p.String(), o.PreferredLifetime, t.PreferredLifetime)
		}
	}
	if o, t := servers(ours), servers(theirs); len(o) > 0 && len(t) > 0 && !slices.Equal(o, t) {
		add(FieldRDNSS, "", strings.Join(o, ","), strings.Join(t, ","))
	}
	if o, t := domains(ours), domains(theirs); len(o) > 0 && len(t) > 0 && !slices.Equal(o, t) {
		add(FieldDNSSL, "", strings.Join(o, ","), strings.Join(t, ","))
	}
	return out
}

func differ(a, b, slack time.Duration) bool {
	d := a - b
	return d > slack || d < -slack
}

func fmtValue(v any) string { return fmt.Sprint(v) }

func mtuOf(m *ndp.RouterAdvertisement) uint32 {
	for _, o := range m.Options {
		if mtu, ok := o.(*ndp.MTU); ok {
			return mtu.MTU
		}
	}
	return 0
}

func prefixes(m *ndp.RouterAdvertisement) map[netip.Prefix]*ndp.PrefixInformation {
	out := make(map[netip.Prefix]*ndp.PrefixInformation)
	for _, o := range m.Options {
		if pi, ok := o.(*ndp.PrefixInformation); ok {
			if p, err := pi.Prefix.Prefix(int(pi.PrefixLength)); err == nil {
				out[p] = pi
			}
		}
	}
	return out
}

// servers lists the RDNSS addresses with a non-zero lifetime, sorted.
func servers(m *ndp.RouterAdvertisement) []string {
	var out []string
	for _, o := range m.Options {
		if r, ok := o.(*ndp.RecursiveDNSServer); ok && r.Lifetime > 0 {
			for _, s := range r.Servers {
				out = append(out, s.String())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// domains lists the DNSSL domains with a non-zero lifetime, sorted.
func domains(m *ndp.RouterAdvertisement) []string {
	var out []string
	for _, o := range m.Options {
		if d, ok := o.(*ndp.DNSSearchList); ok && d.Lifetime > 0 {
			for _, n := range d.DomainNames {
				out = append(out, strings.ToLower(strings.TrimSuffix(n, ".")))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
