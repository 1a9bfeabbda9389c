package ra

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
)

// maxWithdraw bounds how long a removed item keeps being advertised with zero
// lifetimes. Two hours is what matters for prefixes: a host lowers the
// remaining valid lifetime of an address to at most 2h on a PIO with a
// smaller valid lifetime (RFC 4862 §5.5.3 e), so after 2h of withdrawal
// nobody uses the prefix any more.
const maxWithdraw = 2 * time.Hour

// Kinds of advertised items.
const (
	kindPrefix = "prefix"
	kindRoute  = "route"
	kindRDNSS  = "rdnss"
	kindDNSSL  = "dnssl"
	kindPREF64 = "pref64"
)

// item is one thing an RA announces that hosts keep state for: a prefix, a
// route, one DNS server, one search domain or a NAT64 prefix.
type item struct {
	Kind       string `json:"kind"`
	Key        string `json:"key"` // prefix, address or domain
	OnLink     bool   `json:"on_link,omitempty"`
	Autonomous bool   `json:"autonomous,omitempty"`
	Preference int    `json:"preference,omitempty"` // route: ndp.Preference
	// Lifetime is the lifetime last advertised (for a prefix the valid one).
	Lifetime time.Duration `json:"lifetime"`
}

func (it item) id() string { return it.Kind + " " + it.Key }

// items lists what m announces, including with lifetime 0 (a prefix whose
// decrementing lifetime ran out is still in the RA and must not be
// withdrawn a second time).
func items(m *ndp.RouterAdvertisement) []item {
	var out []item
	for _, o := range m.Options {
		switch o := o.(type) {
		case *ndp.PrefixInformation:
			p := netip.PrefixFrom(o.Prefix, int(o.PrefixLength))
			out = append(out, item{Kind: kindPrefix, Key: p.String(), OnLink: o.OnLink,
				Autonomous: o.AutonomousAddressConfiguration, Lifetime: o.ValidLifetime})
		case *ndp.RouteInformation:
			p := netip.PrefixFrom(o.Prefix, int(o.PrefixLength))
			out = append(out, item{Kind: kindRoute, Key: p.String(), Preference: int(o.Preference), Lifetime: o.RouteLifetime})
		case *ndp.RecursiveDNSServer:
			for _, s := range o.Servers {
				out = append(out, item{Kind: kindRDNSS, Key: s.String(), Lifetime: o.Lifetime})
			}
		case *ndp.DNSSearchList:
			for _, d := range o.DomainNames {
				out = append(out, item{Kind: kindDNSSL, Key: strings.ToLower(d), Lifetime: o.Lifetime})
			}
		case *ndp.PREF64:
			out = append(out, item{Kind: kindPREF64, Key: o.Prefix.String(), Lifetime: o.Lifetime})
		}
	}
	return out
}

// appendWithdrawn appends options announcing ws with zero lifetimes (RFC
// 9096 §3.5: preferred and valid lifetime 0 for a prefix). Items that do not
// parse are skipped; they came from a state file.
func appendWithdrawn(opts []ndp.Option, ws []item) []ndp.Option {
	var servers []netip.Addr
	var domains []string
	for _, w := range ws {
		switch w.Kind {
		case kindPrefix, kindRoute, kindPREF64:
			p, err := netip.ParsePrefix(w.Key)
			if err != nil || !p.Addr().Is6() {
				continue
			}
			switch w.Kind {
			case kindPrefix:
				opts = append(opts, &ndp.PrefixInformation{PrefixLength: uint8(p.Bits()), OnLink: w.OnLink,
					AutonomousAddressConfiguration: w.Autonomous, Prefix: p.Addr()})
			case kindRoute:
				prf := ndp.Preference(w.Preference)
				if prf != ndp.Low && prf != ndp.High {
					prf = ndp.Medium
				}
				opts = append(opts, &ndp.RouteInformation{PrefixLength: uint8(p.Bits()), Preference: prf, Prefix: p.Addr()})
			case kindPREF64:
				switch p.Bits() {
				case 32, 40, 48, 56, 64, 96:
					opts = append(opts, &ndp.PREF64{Prefix: p})
				}
			}
		case kindRDNSS:
			if a, err := netip.ParseAddr(w.Key); err == nil && a.Is6() {
				servers = append(servers, a)
			}
		case kindDNSSL:
			if n, err := domainName(w.Key); err == nil {
				domains = append(domains, n)
			}
		}
	}
	if len(servers) > 0 {
		opts = append(opts, &ndp.RecursiveDNSServer{Servers: servers})
	}
	if len(domains) > 0 {
		opts = append(opts, &ndp.DNSSearchList{DomainNames: domains})
	}
	return opts
}

// withdrawal is an item advertised with zero lifetimes until Until.
type withdrawal struct {
	Item  item      `json:"item"`
	Until time.Time `json:"until"`
}

// tracker remembers what was advertised, what is being withdrawn and the
// deadlines of decrementing prefixes. It is saved to a state file so that a
// restart neither forgets a withdrawal nor the items removed from the config
// while the daemon was down, nor restarts decrementing lifetimes.
type tracker struct {
	Advertised map[string]item           `json:"advertised"`
	Withdrawn  map[string]withdrawal     `json:"withdrawn"`
	Expires    map[netip.Prefix]deadline `json:"expires"`
}

func newTracker() *tracker {
	return &tracker{
		Advertised: make(map[string]item),
		Withdrawn:  make(map[string]withdrawal),
		Expires:    make(map[netip.Prefix]deadline),
	}
}

// observe records that cur is what is advertised at now: whatever was
// advertised before and is not any more is withdrawn for min(its lifetime,
// maxWithdraw); whatever is advertised again stops being withdrawn. It
// reports whether anything changed.
func (t *tracker) observe(now time.Time, cur []item) bool {
	changed := false
	seen := make(map[string]bool, len(cur))
	for _, it := range cur {
		id := it.id()
		seen[id] = true
		old, ok := t.Advertised[id]
		t.Advertised[id] = it
		// A lifetime that changes (decrementing, or a new config) updates
		// the record but is not worth a state-file write on its own.
		old.Lifetime = it.Lifetime
		if !ok || old != it {
			changed = true
		}
		if _, ok := t.Withdrawn[id]; ok {
			delete(t.Withdrawn, id)
			changed = true
		}
	}
	for id, it := range t.Advertised {
		if seen[id] {
			continue
		}
		delete(t.Advertised, id)
		t.Withdrawn[id] = withdrawal{Item: it, Until: now.Add(min(it.Lifetime, maxWithdraw))}
		changed = true
	}
	return changed
}

// active returns the items being withdrawn at now, sorted, and drops the
// ones whose time is up; changed reports a drop.
func (t *tracker) active(now time.Time) (ws []item, changed bool) {
	for id, w := range t.Withdrawn {
		if !now.Before(w.Until) {
			delete(t.Withdrawn, id)
			changed = true
			continue
		}
		ws = append(ws, w.Item)
	}
	slices.SortFunc(ws, func(a, b item) int { return strings.Compare(a.id(), b.id()) })
	return ws, changed
}

// deadlines keeps a deadline for every decrementing prefix cfg advertises on
// st, starting new ones at now (and again when the configured lifetimes
// change), and forgets the others. It reports whether anything changed.
func (t *tracker) deadlines(now time.Time, cfg config.Advertise, st LinkState) bool {
	want := make(map[netip.Prefix]config.Prefix)
	for _, c := range cfg.Prefixes {
		if c.Auto() || !c.Prefix.IsValid() {
			continue
		}
		if _, ok := want[c.Prefix.Masked()]; !ok {
			want[c.Prefix.Masked()] = c
		}
	}
	for _, c := range cfg.Prefixes {
		if !c.Auto() {
			continue
		}
		for _, g := range st.Global {
			if g.Bits() == c.Prefix.Bits() {
				if _, ok := want[g.Masked()]; !ok {
					want[g.Masked()] = c
				}
			}
		}
	}
	changed := false
	for p, c := range want {
		if !c.DecrementLifetimes {
			delete(want, p)
			continue
		}
		if dl, ok := t.Expires[p]; ok && dl.ValidLifetime == c.ValidLifetime && dl.PreferredLifetime == c.PreferredLifetime {
			continue
		}
		t.Expires[p] = deadline{
			Valid: now.Add(c.ValidLifetime), Preferred: now.Add(c.PreferredLifetime),
			ValidLifetime: c.ValidLifetime, PreferredLifetime: c.PreferredLifetime,
		}
		changed = true
	}
	for p := range t.Expires {
		if _, ok := want[p]; !ok {
			delete(t.Expires, p)
			changed = true
		}
	}
	return changed
}

// stateFile is where the tracker of one interface is saved; "" = nowhere.
type stateFile string

// DefaultStateDir is where the daemon keeps the advertisers' state files
// (see WithStateDir).
const DefaultStateDir = "/var/lib/vrouter"

// stateVersion is the format of the state file.
const stateVersion = 1

type stateDoc struct {
	Version int `json:"version"`
	*tracker
}

// load reads the tracker; a missing file gives an empty one.
func (f stateFile) load() (*tracker, error) {
	t := newTracker()
	if f == "" {
		return t, nil
	}
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("read state file: %w", err)
	}
	doc := stateDoc{tracker: newTracker()}
	if err := json.Unmarshal(b, &doc); err != nil {
		return t, fmt.Errorf("state file %s: %w", f, err)
	}
	if doc.Version != stateVersion {
		return t, fmt.Errorf("state file %s: version %d, want %d", f, doc.Version, stateVersion)
	}
	for _, m := range []bool{doc.Advertised == nil, doc.Withdrawn == nil, doc.Expires == nil} {
		if m {
			return t, fmt.Errorf("state file %s: incomplete", f)
		}
	}
	return doc.tracker, nil
}

// save writes the tracker atomically (temporary file, then rename).
func (f stateFile) save(t *tracker) error {
	if f == "" {
		return nil
	}
	b, err := json.MarshalIndent(stateDoc{Version: stateVersion, tracker: t}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(string(f))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ra-state-*")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), string(f)); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return nil
}
