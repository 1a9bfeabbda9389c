package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vrouter/vrouter/config"
)

const (
	// debounce is how long Run waits after the first event of a burst
	// before it re-applies, so a burst costs one pass.
	debounce = 50 * time.Millisecond
	// resync is the period of the safety-net pass that runs without events.
	resync = 30 * time.Second
	// retryMin is the first retry delay after a failed pass; it doubles up
	// to resync.
	retryMin = time.Second
	// minIPv6MTU is the IPv6 minimum link MTU (RFC 8200 §5); below it the
	// kernel disables IPv6 on the link and removes its addresses.
	minIPv6MTU = 1280
)

// Reconciler brings the kernel to the desired state of a config and keeps it
// there. Its methods are safe for concurrent use; passes are serialised.
type Reconciler struct {
	os  OS
	log *slog.Logger

	mu      sync.Mutex // serialises passes; guards the fields below
	desired *config.Config
	// owned holds, per interface, the addresses this reconciler (or, read
	// back from the state file, an earlier process) added and has not
	// removed since. Only these are ever deleted.
	owned   owned
	waiting map[string]bool // interfaces logged as "waiting for interface"
	// statePath is the owned-addresses file ("" = ownership lives in
	// memory only); loaded: it was read; saved: the bytes last written;
	// saveFailing: the last write failed (and was logged).
	statePath   string
	loaded      bool
	saved       []byte
	saveFailing bool

	stMu       sync.Mutex
	configured map[string]bool // result of the last pass
}

// An Option configures a Reconciler.
type Option func(*Reconciler)

// WithStateDir keeps the set of addresses the reconciler added in the file
// OwnedFile in dir, so that a later process (after a restart) removes an
// address it added that the config no longer asks for, and never one it did
// not add. The file is read on the first Apply and rewritten atomically
// whenever the set changes; an address is recorded before it is added, so a
// crash cannot leave an address of ours unrecorded. A missing, unreadable or
// corrupt file is logged and counts as owning nothing. "" (the default)
// keeps ownership in memory only.
func WithStateDir(dir string) Option {
	return func(r *Reconciler) {
		r.statePath = ""
		if dir != "" {
			r.statePath = filepath.Join(dir, OwnedFile)
		}
	}
}

// New returns a Reconciler that changes the kernel through osys and logs to
// log (slog.Default() when nil). It does nothing until Apply is called.
func New(osys OS, log *slog.Logger, opts ...Option) *Reconciler {
	if log == nil {
		log = slog.Default()
	}
	r := &Reconciler{
		os:         osys,
		log:        log,
		owned:      make(owned),
		waiting:    make(map[string]bool),
		configured: make(map[string]bool),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Apply makes cfg the desired state and makes one pass to reach it. It
// returns the joined errors of the interfaces (and global settings) that
// could not be configured; an interface that does not exist is not an error,
// it is configured when it appears (see Run). Addresses the reconciler
// added (in this process or, with WithStateDir, an earlier one) that cfg
// does not ask for are removed; addresses it did not add are never removed,
// even when an earlier config named them. cfg must not be modified
// afterwards.
func (r *Reconciler) Apply(ctx context.Context, cfg *config.Config) error {
	if cfg == nil {
		return errors.New("router: apply: nil config")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.desired = cfg
	return r.pass(ctx)
}

// load reads the owned-addresses file once, before the first pass. r.mu
// must be held.
func (r *Reconciler) load() {
	if r.loaded || r.statePath == "" {
		return
	}
	r.loaded = true
	o, err := loadOwned(r.statePath)
	if err != nil {
		r.log.Warn("ignoring the address ownership file: addresses added before the restart are left in place", "err", err)
		return
	}
	n := 0
	for name, set := range o {
		for p := range set {
			r.own(name, p)
			n++
		}
	}
	r.saved = o.marshal()
	if n > 0 {
		r.log.Info("restored address ownership", "file", r.statePath, "addresses", n)
	}
}

// own records that the reconciler added p to link name. r.mu must be held.
func (r *Reconciler) own(name string, p netip.Prefix) {
	if r.owned[name] == nil {
		r.owned[name] = make(map[netip.Prefix]bool)
	}
	r.owned[name][p] = true
}

// save writes the owned-addresses file if the set changed since the last
// write. A failure is logged (once until a write succeeds again) and retried
// on the next change or pass; ownership is still kept in memory. r.mu must
// be held.
func (r *Reconciler) save() {
	if r.statePath == "" {
		return
	}
	b := r.owned.marshal()
	if bytes.Equal(b, r.saved) {
		return
	}
	if err := writeFileAtomic(r.statePath, b, 0o640); err != nil {
		if !r.saveFailing {
			r.log.Warn("cannot save address ownership: addresses added now may be left behind after a restart", "file", r.statePath, "err", err)
			r.saveFailing = true
		}
		return
	}
	if r.saveFailing {
		r.log.Info("saved address ownership again", "file", r.statePath)
		r.saveFailing = false
	}
	r.saved = b
}

// Configured reports whether the interface existed and was fully configured
// on the last pass.
func (r *Reconciler) Configured(name string) bool {
	r.stMu.Lock()
	defer r.stMu.Unlock()
	return r.configured[name]
}

// reapply makes one pass towards the current desired state, if any.
func (r *Reconciler) reapply(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pass(ctx)
}

// link is one configured interface that exists during a pass.
type link struct {
	ifc  *config.Interface
	link Link
	err  error
	// solicit: this pass turned accept_ra on for an upstream link that was
	// already up, so the kernel will not send a Router Solicitation itself.
	solicit bool
}

// pass makes one reconciliation pass. r.mu must be held.
func (r *Reconciler) pass(ctx context.Context) error {
	cfg := r.desired
	if cfg == nil {
		return nil
	}
	r.load()
	defer r.save()
	var errs []error
	var present []*link
	upstreamBroken := false // an existing upstream we could not prepare

	for i := range cfg.Interfaces {
		ifc := &cfg.Interfaces[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		l, err := r.os.Link(ifc.Name)
		switch {
		case errors.Is(err, ErrLinkNotFound):
			r.missing(ifc.Name)
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("router: %s: %w", ifc.Name, err))
			upstreamBroken = upstreamBroken || ifc.Role == config.RoleUpstream
			continue
		}
		if r.waiting[ifc.Name] {
			r.log.Info("interface appeared", "iface", ifc.Name)
			delete(r.waiting, ifc.Name)
		}
		present = append(present, &link{ifc: ifc, link: l})
	}

	// Per-interface sysctls first: upstream accept_ra=2 must be in place
	// before forwarding is turned on, and every sysctl before link-up.
	for _, p := range present {
		if err := ctx.Err(); err != nil {
			return err
		}
		var raChanged bool
		raChanged, p.err = r.ifaceSysctls(p.ifc)
		p.solicit = raChanged && p.ifc.Role == config.RoleUpstream && p.link.Up
		if p.err != nil && p.ifc.Role == config.RoleUpstream {
			upstreamBroken = true
		}
	}

	if cfg.Forwarding != nil {
		if *cfg.Forwarding && upstreamBroken {
			errs = append(errs, errors.New("router: forwarding: not turned on while an upstream interface lacks accept_ra=2 (it would lose its RA-learned default route)"))
		} else if err := r.forwarding(*cfg.Forwarding); err != nil {
			errs = append(errs, fmt.Errorf("router: forwarding: %w", err))
		}
	}

	configured := make(map[string]bool)
	for _, p := range present {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := p.ifc.Name
		if p.err == nil {
			p.err = r.configureLink(p.ifc, p.link)
		}
		if p.err != nil {
			// The link may have gone away under us: that is waiting,
			// not failing.
			if _, err := r.os.Link(name); errors.Is(err, ErrLinkNotFound) {
				r.missing(name)
				continue
			}
			errs = append(errs, fmt.Errorf("router: %s: %w", name, p.err))
			continue
		}
		configured[name] = true
		if p.solicit {
			// Without this the link waits for the upstream router's next
			// periodic RA (up to 600s with radvd's defaults) for SLAAC.
			switch err := r.os.SolicitRouters(name); {
			case errors.Is(err, ErrTentative):
				r.log.Debug("router solicitation left to the kernel (link-local address in DAD)", "iface", name)
			case err != nil:
				r.log.Info("router solicitation not sent; waiting for the next periodic RA", "iface", name, "err", err)
			default:
				r.log.Info("sent router solicitation", "iface", name)
			}
		}
	}

	// Addresses we added to interfaces the config no longer names.
	for _, name := range sortedKeys(r.owned) {
		if cfg.Interface(name) != nil {
			continue
		}
		if err := r.removeStale(name, nil, nil); err != nil {
			errs = append(errs, fmt.Errorf("router: %s: %w", name, err))
		}
	}

	r.stMu.Lock()
	for name := range configured {
		if !r.configured[name] {
			r.log.Info("interface configured", "iface", name)
		}
	}
	r.configured = configured
	r.stMu.Unlock()
	return errors.Join(errs...)
}

// missing notes that a configured interface does not exist, logging once per
// absence.
func (r *Reconciler) missing(name string) {
	if !r.waiting[name] {
		r.log.Info("waiting for interface", "iface", name)
		r.waiting[name] = true
	}
}

// ifaceSysctls sets the IPv6 sysctls of one interface for its role and
// reports whether it changed accept_ra.
func (r *Reconciler) ifaceSysctls(ifc *config.Interface) (raChanged bool, err error) {
	type kv struct{ leaf, value string }
	want := []kv{{"disable_ipv6", "0"}}
	switch ifc.Role {
	case config.RoleUpstream:
		// accept_ra=2: keep accepting RAs (SLAAC, default route) with
		// forwarding on.
		want = append(want, kv{"accept_ra", "2"}, kv{"autoconf", "1"})
	case config.RoleDownstream:
		want = append(want, kv{"accept_ra", "0"}, kv{"autoconf", "0"})
	case "":
	default:
		return false, fmt.Errorf("unknown role %q", ifc.Role)
	}
	for _, s := range want {
		changed, err := r.sysctl(confKey(ifc.Name, s.leaf), s.value)
		if err != nil {
			return raChanged, err
		}
		raChanged = raChanged || (changed && s.leaf == "accept_ra")
	}
	return raChanged, nil
}

// forwarding sets net.ipv6.conf.all.forwarding (which the kernel also copies
// to every interface and to default) and default.forwarding.
func (r *Reconciler) forwarding(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	if _, err := r.sysctl("net.ipv6.conf.all.forwarding", v); err != nil {
		return err
	}
	_, err := r.sysctl("net.ipv6.conf.default.forwarding", v)
	return err
}

// sysctl sets key to value unless it already has it, and reports whether it
// changed it.
func (r *Reconciler) sysctl(key, value string) (bool, error) {
	cur, err := r.os.Sysctl(key)
	if err != nil {
		return false, fmt.Errorf("read sysctl %s: %w", key, err)
	}
	if cur == value {
		return false, nil
	}
	if err := r.os.SetSysctl(key, value); err != nil {
		return false, fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	r.log.Info("set sysctl", "key", key, "old", cur, "new", value)
	return true, nil
}

// configureLink sets MTU, admin state and addresses of one existing link.
func (r *Reconciler) configureLink(ifc *config.Interface, l Link) error {
	log := r.log.With("iface", ifc.Name)
	if ifc.MTU != 0 && ifc.MTU != l.MTU {
		if ifc.MTU < minIPv6MTU {
			return fmt.Errorf("mtu %d is below the IPv6 minimum %d", ifc.MTU, minIPv6MTU)
		}
		if err := r.os.SetMTU(ifc.Name, ifc.MTU); err != nil {
			return fmt.Errorf("set mtu %d: %w", ifc.MTU, err)
		}
		log.Info("set mtu", "old", l.MTU, "new", ifc.MTU)
	}
	if !l.Up {
		if err := r.os.SetLinkUp(ifc.Name); err != nil {
			return fmt.Errorf("set link up: %w", err)
		}
		log.Info("set link up")
	}

	addrs, err := r.os.Addrs(ifc.Name)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	have := make(map[netip.Prefix]bool, len(addrs))
	for _, p := range addrs {
		have[p] = true
	}
	var errs []error
	want := make(map[netip.Prefix]bool, len(ifc.Addresses))
	var add []netip.Prefix
	for _, p := range ifc.Addresses {
		if !validAddr(p) {
			errs = append(errs, fmt.Errorf("address %s: not an IPv6 interface address", p))
			continue
		}
		if want[p] {
			continue
		}
		want[p] = true
		if !have[p] {
			add = append(add, p)
		}
	}
	// Recorded before they are added: a crash in between leaves a record
	// of an address that is not there (harmless: only present addresses
	// are removed, and the record is dropped), never an address of ours
	// unrecorded.
	wasOwned := make(map[netip.Prefix]bool, len(add))
	for _, p := range add {
		wasOwned[p] = r.owned[ifc.Name][p]
		r.own(ifc.Name, p)
	}
	if len(add) > 0 {
		r.save()
	}
	for _, p := range add {
		if err := r.os.ReplaceAddr(ifc.Name, p); err != nil {
			if !wasOwned[p] {
				delete(r.owned[ifc.Name], p) // not added: not ours
			}
			errs = append(errs, fmt.Errorf("add address %s: %w", p, err))
			continue
		}
		have[p] = true
		log.Info("added address", "addr", p)
	}
	if err := r.removeStale(ifc.Name, have, want); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeStale deletes from link name the addresses we own that are not in
// want. have is the link's current address set, or nil to look it up.
func (r *Reconciler) removeStale(name string, have, want map[netip.Prefix]bool) error {
	owned := r.owned[name]
	var stale []netip.Prefix
	for p := range owned {
		if !want[p] {
			stale = append(stale, p)
		}
	}
	if len(stale) == 0 {
		if len(owned) == 0 {
			delete(r.owned, name)
		}
		return nil
	}
	if have == nil {
		addrs, err := r.os.Addrs(name)
		if errors.Is(err, ErrLinkNotFound) {
			// The addresses went with the link.
			delete(r.owned, name)
			return nil
		}
		if err != nil {
			return fmt.Errorf("list addresses: %w", err)
		}
		have = make(map[netip.Prefix]bool, len(addrs))
		for _, p := range addrs {
			have[p] = true
		}
	}
	slices.SortFunc(stale, comparePrefix)
	var errs []error
	for _, p := range stale {
		if have[p] {
			if err := r.os.DeleteAddr(name, p); err != nil {
				errs = append(errs, fmt.Errorf("remove address %s: %w", p, err))
				continue
			}
			r.log.Info("removed address", "iface", name, "addr", p)
		}
		delete(owned, p)
	}
	if len(owned) == 0 {
		delete(r.owned, name)
	}
	return errors.Join(errs...)
}

// validAddr reports whether p can be configured as an IPv6 interface address.
func validAddr(p netip.Prefix) bool {
	a := p.Addr()
	return p.IsValid() && a.Is6() && !a.Is4In6() && a.Zone() == "" && !a.IsUnspecified() && !a.IsMulticast()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
