package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ha"
	"github.com/vrouter/vrouter/internal/netwatch"
)

// HASpec is the VRRP group of an HA pair (ha.Group, DESIGN §4.3). sys is
// the operating system the group runs on: nil means ha's Linux system
// with its change notifications taken from the daemon's one watcher
// (tests pass an hatest fake); opts are passed to ha.New.
//
// The component turns the group's state into Facts: Standby is true
// except while the group is Active (so RA, the NDP proxy and the DHCPv6
// server serve on the Active only; DHCPv6 stays up passive on the Backup
// to learn the bindings) and ServeOn maps every HA interface to its
// virtual link, so the advertiser runs there: RAs leave from the virtual
// link-local address with the virtual MAC as source and in the SLLA
// option, and a host's default router is the same address and MAC on
// either router.
func HASpec(sys ha.System, opts ...ha.Option) Spec {
	return Spec{
		Name:     "ha",
		Validate: validateHA,
		New: func(env Env) (Component, error) {
			return &haComponent{env: env, sys: sys, opts: opts, changed: make(chan struct{}, 1)}, nil
		},
	}
}

func validateHA(c *config.Config) []config.Problem {
	if c.HA == nil {
		return nil
	}
	ps := config.Under("ha", ha.Problems(c.HA))
	// The fast path takes every forwardable frame on its interfaces
	// before the kernel hands it to the virtual link (tc ingress and XDP
	// run before the macvlan), and drops what is not for the interface's
	// own MAC: on an HA interface it would drop everything the hosts send
	// to the virtual MAC. Until it follows the HA state, refuse the pair.
	if c.Fastpath.Enabled {
		for i, name := range c.Fastpath.Interfaces {
			if c.HA.Interface(name) != nil {
				ps = append(ps, config.Problemf(fmt.Sprintf("fastpath.interfaces[%d]", i),
					"%s is an HA interface: the fast path does not follow the HA state yet (it would drop the frames hosts send to the virtual MAC)", name))
			}
		}
	}
	return ps
}

// haComponent runs one ha.Group for the config's ha section and replaces
// it when that section changes (the new group starts in Initialize, so a
// changed ha section on the Active is a failover to the peer and back
// when preempting).
type haComponent struct {
	env     Env
	sys     ha.System
	opts    []ha.Option
	changed chan struct{}

	mu    sync.Mutex
	cfg   *config.HA
	group *ha.Group // the running one, for Status
	// serving: the facts this component last published (HA configured and
	// Active: false, true; not configured: false, false).
	published bool
}

// Apply takes the ha section of d; a change restarts the group.
func (c *haComponent) Apply(d Desired) error {
	c.mu.Lock()
	same := reflect.DeepEqual(c.cfg, d.Config.HA)
	c.cfg = d.Config.HA
	c.mu.Unlock()
	if !same {
		select {
		case c.changed <- struct{}{}:
		default:
		}
	}
	return nil
}

// Run runs the group of the current ha section until ctx is done. On
// every stop, also a stop for a restart (Restarting), the group resigns
// with priority 0, so the peer takes over after Skew_Time, and the router
// goes to standby at once; the group keeps forwarding on its virtual
// links until the peer advertises as Active (or at most a second), then
// removes them: two processes never hold the virtual addresses, and
// the next process starts as Backup (and takes the group back only by
// preemption). A group that fails leaves the router in standby and fails
// the component.
func (c *haComponent) Run(ctx context.Context, ready func()) error {
	var once sync.Once
	readyOnce := func() { once.Do(ready) }
	for {
		c.mu.Lock()
		cfg := c.cfg
		c.mu.Unlock()
		// The config read above is the newest: a change signalled before
		// it needs no restart.
		select {
		case <-c.changed:
		default:
		}
		if cfg == nil {
			c.publish(false, nil)
			readyOnce()
			select {
			case <-ctx.Done():
				return nil
			case <-c.changed:
				continue
			}
		}
		restart, err := c.runGroup(ctx, cfg, readyOnce)
		if err != nil {
			return err
		}
		if !restart {
			return nil
		}
		c.env.Log.Info("ha section changed: the group restarts")
	}
}

// runGroup runs the group of cfg until ctx is done (false) or the ha
// section changes (true).
func (c *haComponent) runGroup(ctx context.Context, cfg *config.HA, ready func()) (bool, error) {
	sys := c.sys
	if sys == nil {
		sys = watchedSystem{System: ha.NewLinuxSystem(c.env.Log), w: c.env.Watcher}
	}
	var g *ha.Group
	opts := append(slices.Clone(c.opts), ha.WithSystem(sys), ha.OnTransition(func(tr ha.Transition) {
		c.transition(g, tr)
	}))
	g, err := ha.New(cfg, c.env.Log, opts...)
	if err != nil {
		// Validation accepted cfg: a bug.
		return false, fmt.Errorf("ha: %w", err)
	}
	// Standby until the group is Active (Initialize serves nothing).
	c.publish(true, nil)
	c.mu.Lock()
	c.group = g
	c.mu.Unlock()
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx) }()
	ready()
	select {
	case <-ctx.Done():
		<-done
		return false, nil
	case <-c.changed:
		cancel()
		<-done
		c.publish(true, nil)
		return true, nil
	case err := <-done:
		c.publish(true, nil)
		if err == nil {
			err = fmt.Errorf("ha: group stopped")
		}
		return false, err
	}
}

// transition publishes the facts of tr (on the group's goroutine: Publish
// does not block). On becoming Active the virtual links are up with their
// addresses, and the advertisers, the NDP proxy and the DHCPv6 server
// start serving; on leaving Active they stop (the advertisers without a
// final RA) while the virtual links go down.
func (c *haComponent) transition(g *ha.Group, tr ha.Transition) {
	c.env.Log.Info("ha state changed", "from", tr.From, "to", tr.To, "reason", tr.Reason)
	if tr.To != ha.StateActive {
		c.publish(true, nil)
		return
	}
	serveOn := map[string]string{}
	for _, in := range g.Status().Instances {
		if in.VirtualLink != "" {
			serveOn[in.Interface] = in.VirtualLink
		}
	}
	c.publish(false, serveOn)
}

// publish sets Standby and ServeOn: with standby set, ServeOn is kept
// (nothing is served on it); with HA off (neither standby nor serveOn),
// the facts are cleared once.
func (c *haComponent) publish(standby bool, serveOn map[string]string) {
	c.mu.Lock()
	off := !standby && serveOn == nil
	if off && !c.published {
		c.mu.Unlock()
		return
	}
	c.published = !off
	c.mu.Unlock()
	c.env.Publish(func(f *Facts) {
		f.Standby = standby
		switch {
		case off:
			f.ServeOn = nil
		case serveOn != nil:
			f.ServeOn = serveOn
		}
	})
}

func (c *haComponent) Status(st *Status) {
	c.mu.Lock()
	g := c.group
	configured := c.cfg != nil
	c.mu.Unlock()
	if g == nil || !configured {
		return
	}
	hs := g.Status()
	st.HA = &hs
}

// watchedSystem is an ha.System whose change notifications come from the
// daemon's watcher (links, addresses and forwarding: the virtual links
// follow the interfaces' forwarding setting, ha.Refresher).
type watchedSystem struct {
	ha.System
	w Watcher
}

func (s watchedSystem) Changes(ctx context.Context) (<-chan struct{}, error) {
	sub := s.w.Subscribe(netwatch.Links|netwatch.Addrs|netwatch.Netconfs, 0)
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.C():
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, nil
}

// withoutVirtualAddresses returns cfg without the HA virtual addresses
// among its interfaces' addresses, for the reconciler: an address owner
// (priority 255) lists its virtual global addresses among the interface's
// (DESIGN §4.3), but they belong on the virtual link while Active only;
// on the interface the kernel would answer Neighbor Solicitations for
// them with the physical MAC (RFC 9568 §8.2.2), also while Backup.
func withoutVirtualAddresses(cfg *config.Config) *config.Config {
	if cfg.HA == nil {
		return cfg
	}
	var c *config.Config
	for i, ifc := range cfg.Interfaces {
		in := cfg.HA.Interface(ifc.Name)
		if in == nil {
			continue
		}
		keep := slices.DeleteFunc(slices.Clone(ifc.Addresses), func(p netip.Prefix) bool {
			return slices.ContainsFunc(in.VirtualAddresses, func(v netip.Prefix) bool { return v.Addr() == p.Addr() })
		})
		if len(keep) == len(ifc.Addresses) {
			continue
		}
		if c == nil {
			cc := *cfg
			cc.Interfaces = slices.Clone(cfg.Interfaces)
			c = &cc
		}
		c.Interfaces[i].Addresses = keep
	}
	if c == nil {
		return cfg
	}
	return c
}

// HA metrics, from the status on scrape. Labels are bounded: the
// interface names come from the config, states and drop reasons from
// ha's enums.
var (
	haState       = metricDesc("ha", "state", "1 for the current VRRP state of the router (initialize, backup, active), 0 for the others.", "state")
	haTransitions = metricDesc("ha", "transitions_total", "VRRP state changes of the router.", "from", "to")
	haSent        = metricDesc("ha", "adverts_sent_total", "VRRP advertisements sent, by kind (advert; resign: priority 0).", "iface", "kind")
	haSendErrors  = metricDesc("ha", "send_errors_total", "VRRP advertisements that could not be sent.", "iface")
	haReceived    = metricDesc("ha", "adverts_received_total", "Valid VRRP advertisements received for our virtual router.", "iface")
	haDropped     = metricDesc("ha", "adverts_dropped_total", "VRRP packets discarded (RFC 9568 §7.1), by reason.", "iface", "reason")
	haPeerPrio    = metricDesc("ha", "peer_priority", "Priority in the last advertisement heard from another router.", "iface")
)

// writeHAMetrics sends the metrics of the group's status.
func writeHAMetrics(ch chan<- prometheus.Metric, s ha.Status) {
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	for _, state := range []ha.State{ha.StateInitialize, ha.StateBackup, ha.StateActive} {
		ch <- prometheus.MustNewConstMetric(haState, g, b2f(s.State == state), string(state))
	}
	for k, n := range s.Transitions {
		from, to, ok := strings.Cut(k, "_to_")
		if ok {
			ch <- prometheus.MustNewConstMetric(haTransitions, ctr, float64(n), from, to)
		}
	}
	for _, in := range s.Instances {
		ch <- prometheus.MustNewConstMetric(haSent, ctr, float64(in.AdvertsSent), in.Interface, "advert")
		ch <- prometheus.MustNewConstMetric(haSent, ctr, float64(in.ResignsSent), in.Interface, "resign")
		ch <- prometheus.MustNewConstMetric(haSendErrors, ctr, float64(in.SendErrors), in.Interface)
		ch <- prometheus.MustNewConstMetric(haReceived, ctr, float64(in.AdvertsReceived), in.Interface)
		for reason, n := range in.AdvertsDropped {
			ch <- prometheus.MustNewConstMetric(haDropped, ctr, float64(n), in.Interface, reason)
		}
		if in.Peer != nil {
			ch <- prometheus.MustNewConstMetric(haPeerPrio, g, float64(in.Peer.Priority), in.Interface)
		}
	}
}
