package daemon

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"slices"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netwatch"
)

// A Component is one part of `vrouter run`: the router reconciler, the RA
// advertisers, the NDP proxy, the fast path, and the DHCPv6 server, prefix
// delegation client and HA state machine after them. The daemon builds
// every component from its Spec, applies the desired state to it, runs it
// under one Supervisor, and reads its status for `vrouter status` and the
// metrics.
//
// Apply is called before the first Run and on every change of the desired
// state (a reload, a fact from a component such as HA or prefix
// delegation); it must not block for long and must accept any config that
// the component's Spec.Validate accepted (the daemon validates first, so a
// refusal is a bug that is logged). A component keeps its desired state
// across restarts: Run is called again on the same value after a failure.
//
// Run does the component's work until ctx is done, calls ready once it
// serves, and returns nil after ctx is done. When ctx ends for a restart
// (Restarting(ctx): SIGUSR2) it leaves what it serves in place for the
// next process instead of withdrawing it (no final RA, no Release, routes
// kept), so that a restart with an unchanged config is invisible; a
// component that restores runtime facts from Env.StateDir publishes them
// in New, before the first apply, or the reconciler removes their
// addresses at start and adds them back. An error return is a failure:
// the supervisor logs it, waits (1s doubling to 30s, reset after a healthy
// run) and calls Run again. A component never returns nil before ctx is
// done.
type Component interface {
	Apply(d Desired) error
	Run(ctx context.Context, ready func()) error
	// Status adds the component's part to the daemon's status snapshot.
	Status(st *Status)
}

// A Spec is a kind of component: its name (in logs, status and metrics),
// the rules it enforces on a config (paths from the config root;
// `vrouter check`, `vrouter run` and SIGHUP run every Spec's), and how to
// build it. New must not touch the system: Run does.
type Spec struct {
	Name     string
	Validate func(*config.Config) []config.Problem
	New      func(env Env) (Component, error)
}

// Env is what the daemon gives every component: its seams, in one value.
type Env struct {
	// Log is the component's logger ("component" attribute set).
	Log *slog.Logger
	// StateDir is where a component keeps what must survive a restart (RA
	// withdrawals, DHCPv6 leases and DUID, delegated prefixes); "" keeps
	// nothing.
	StateDir string
	// Watcher is the one netlink watcher; subscribe to what the component
	// needs, and re-read that state on netwatch.KindResync.
	Watcher Watcher
	// Config is the config the daemon starts with (reloads come through
	// Apply): a component that restores runtime facts from StateDir reads
	// it in New to publish them before the first apply.
	Config *config.Config
	// Publish changes the runtime facts (see Facts) and makes the daemon
	// re-apply the desired state to every component. Components that
	// learn facts (HA, prefix delegation) call it; it does not block.
	Publish func(update func(*Facts))
}

// Watcher is the part of netwatch.Watcher components use.
type Watcher interface {
	Subscribe(kinds netwatch.Kinds, queue int) *netwatch.Subscription
}

// Desired is the state every component works towards: the config file's,
// with the runtime facts folded in. The daemon computes it (Effective) and
// applies it to every component whenever either changes.
type Desired struct {
	// Config is the file's config with Facts applied: runtime addresses
	// are in the interfaces' Addresses (so the reconciler adds and removes
	// them and the "::/64" advertised prefix follows them, RFC 9096
	// deprecating the old one). Components must not modify it.
	Config *config.Config
	Facts  Facts
}

// Facts are what components learn at run time and other components act
// on. The zero value is a router with no HA peer and no delegated prefix.
type Facts struct {
	// Standby is true while this router is the HA Backup: the RA, NDP
	// proxy and DHCPv6 components stop serving, without the side effects
	// of a real stop (no final RA, RFC 9568 §6.4.2: only the Active router
	// advertises), and serve again when it is false.
	Standby bool
	// ServeOn maps a config interface name to the link a component serves
	// it on, when that differs (HA serves the tenant RA from the virtual
	// link-local address on a macvlan link whose name ha/ gives at run
	// time).
	ServeOn map[string]string
	// Addresses maps a config interface name to addresses added at run
	// time (the ::1 of a delegated /64, RFC 8415 §6.3).
	Addresses map[string][]netip.Prefix
	// Prefixes maps a config interface name to prefixes advertised at run
	// time besides its advertise.prefixes (a delegated /64 with lifetimes
	// bounded by the lease's). One that disappears is withdrawn with zero
	// lifetimes (RFC 9096), as a prefix removed from the config is.
	Prefixes map[string][]config.Prefix
}

// Link returns the link a component serves config interface name on.
func (f Facts) Link(name string) string {
	if l, ok := f.ServeOn[name]; ok && l != "" {
		return l
	}
	return name
}

// Clone returns a deep copy of f.
func (f Facts) Clone() Facts {
	return Facts{Standby: f.Standby, ServeOn: maps.Clone(f.ServeOn),
		Addresses: cloneLists(f.Addresses), Prefixes: cloneLists(f.Prefixes)}
}

func cloneLists[T any](m map[string][]T) map[string][]T {
	if m == nil {
		return nil
	}
	c := make(map[string][]T, len(m))
	for k, v := range m {
		c[k] = slices.Clone(v)
	}
	return c
}

// Effective returns the desired state of cfg under facts. cfg is not
// modified; the result shares nothing that facts change.
func Effective(cfg *config.Config, facts Facts) Desired {
	d := Desired{Config: cfg, Facts: facts.Clone()}
	if len(facts.Addresses) == 0 && len(facts.Prefixes) == 0 {
		return d
	}
	c := *cfg
	c.Interfaces = slices.Clone(cfg.Interfaces)
	for i := range c.Interfaces {
		ifc := &c.Interfaces[i]
		if extra := facts.Addresses[ifc.Name]; len(extra) > 0 {
			addrs := slices.Clone(ifc.Addresses)
			for _, p := range extra {
				if !slices.Contains(addrs, p) {
					addrs = append(addrs, p)
				}
			}
			ifc.Addresses = addrs
		}
		if extra := facts.Prefixes[ifc.Name]; len(extra) > 0 && ifc.Advertise != nil {
			adv := *ifc.Advertise
			adv.Prefixes = append(slices.Clone(adv.Prefixes), extra...)
			ifc.Advertise = &adv
		}
	}
	d.Config = &c
	return d
}
