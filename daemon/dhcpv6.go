package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	insdhcp "github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/metrics"
)

// DHCPv6Spec is one DHCPv6 server per interface with a dhcpv6 section;
// opts are passed to every server (tests pass dhcpv6.WithListen).
func DHCPv6Spec(opts ...dhcpv6.Option) Spec {
	return Spec{
		Name:     "dhcpv6",
		Validate: validateDHCPv6,
		New: func(env Env) (Component, error) {
			return &dhcpv6Component{env: env, opts: opts, srv: map[string]*dhcpv6Server{}}, nil
		},
	}
}

func validateDHCPv6(c *config.Config) []config.Problem {
	var ps []config.Problem
	for _, ifc := range c.Interfaces {
		if ifc.DHCPv6 != nil {
			ps = append(ps, config.Under("interfaces."+ifc.Name+".dhcpv6", dhcpv6.Problems(*ifc.DHCPv6))...)
		}
	}
	return ps
}

// dhcpv6Want is one interface that should have a server.
type dhcpv6Want struct {
	cfg config.DHCPv6
	// duid is the server DUID: the HA pair's virtual one on an HA
	// interface, else the node's.
	duid insdhcp.DUID
}

type dhcpv6Server struct {
	s    *dhcpv6.Server
	duid []byte
	stop context.CancelFunc
	done chan struct{}
}

// dhcpv6Component runs the servers. A server listens on the config
// interface itself, never on Facts.ServeOn: both routers of an HA pair
// hear the clients on their own link (the Backup passively, learning the
// bindings), and the lease file keeps its interface's name.
type dhcpv6Component struct {
	env  Env
	opts []dhcpv6.Option

	mu      sync.Mutex
	want    map[string]dhcpv6Want // by interface name
	waiting map[string]bool       // delegated interfaces without their /64 yet
	standby bool
	srv     map[string]*dhcpv6Server
	node    insdhcp.DUID    // the node DUID, loaded once
	runCtx  context.Context // while Run runs
	failed  chan error      // a server that could not be created or failed
}

// Apply starts, updates and stops servers to match d. In standby every
// server stays up but passive: it answers nothing and keeps learning the
// bindings clients renew through ff02::1:2 (dhcpv6.Server.SetActive).
func (c *dhcpv6Component) Apply(d Desired) error {
	want := map[string]dhcpv6Want{}
	waiting := map[string]bool{}
	for _, ifc := range d.Config.Interfaces {
		if ifc.DHCPv6 == nil {
			continue
		}
		cfg := *ifc.DHCPv6
		if ifc.Delegated != nil && cfg.Mode == config.DHCPv6Stateful {
			p, ok := delegatedSubnet(d.Facts.Addresses[ifc.Name], d.Facts.Prefixes[ifc.Name], time.Now())
			if !ok {
				waiting[ifc.Name] = true
				continue
			}
			cfg = withPrefix(cfg, p)
		}
		w := dhcpv6Want{cfg: cfg}
		if ha := d.Config.HA; ha.Interface(ifc.Name) != nil {
			w.duid = dhcpv6.VirtualDUID(ha.VRID)
		}
		want[ifc.Name] = w
	}
	c.mu.Lock()
	for name := range waiting {
		if !c.waiting[name] {
			c.env.Log.Info("dhcpv6 server waits for the delegated prefix", "iface", name)
		}
	}
	c.want, c.waiting, c.standby = want, waiting, d.Facts.Standby
	c.mu.Unlock()
	return c.sync()
}

// delegatedSubnet returns the /64 of a delegated interface: the one of its
// runtime address (the ::1 prefix delegation adds), the first one whose
// advertised runtime prefix is not deprecated at now (a prefix no longer
// delegated keeps its ::1 while it counts down, but gets no new leases).
func delegatedSubnet(addrs []netip.Prefix, prefixes []config.Prefix, now time.Time) (netip.Prefix, bool) {
	deprecated := func(p netip.Prefix) bool {
		for _, c := range prefixes {
			if c.Prefix.Masked() == p && !c.PreferredUntil.IsZero() && !c.PreferredUntil.After(now) {
				return true
			}
		}
		return false
	}
	for _, a := range addrs {
		if a.Addr().Is6() && a.Bits() == 64 && !deprecated(a.Masked()) {
			return a.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// withPrefix applies the interface-identifier suffixes of a delegated
// interface's pools and hosts to its /64 p.
func withPrefix(c config.DHCPv6, p netip.Prefix) config.DHCPv6 {
	hi := p.Addr().As16()
	apply := func(suffix netip.Addr) netip.Addr {
		b := suffix.As16()
		copy(b[:8], hi[:8])
		return netip.AddrFrom16(b)
	}
	c.Pools = slices.Clone(c.Pools)
	for i := range c.Pools {
		c.Pools[i].Start, c.Pools[i].End = apply(c.Pools[i].Start), apply(c.Pools[i].End)
	}
	c.Hosts = slices.Clone(c.Hosts)
	for i := range c.Hosts {
		c.Hosts[i].Address = apply(c.Hosts[i].Address)
	}
	return c
}

// sync makes the running servers match c.want (only while Run runs). A
// server whose DUID changes is restarted; the others are updated in place.
func (c *dhcpv6Component) sync() error {
	c.mu.Lock()
	if c.runCtx == nil {
		c.mu.Unlock()
		return nil
	}
	var stopping []*dhcpv6Server
	var errs []error
	for name, s := range c.srv {
		w, ok := c.want[name]
		if ok && bytes.Equal(c.duidOf(w), s.duid) {
			if err := s.s.Update(w.cfg); err != nil {
				// Validation accepted it: a bug, logged by the daemon.
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			s.s.SetActive(!c.standby)
			continue
		}
		if ok {
			c.env.Log.Info("dhcpv6 server identity changed: restarting it", "iface", name)
		} else {
			c.env.Log.Info("interface no longer serves dhcpv6", "iface", name)
		}
		s.stop()
		stopping = append(stopping, s)
		delete(c.srv, name)
	}
	c.mu.Unlock()
	// A server writes its journal on the way out: the next one on the same
	// interface reads it.
	for _, s := range stopping {
		<-s.done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runCtx == nil {
		return nil
	}
	for name, w := range c.want {
		if _, ok := c.srv[name]; ok {
			continue
		}
		s, err := c.start(name, w)
		if err != nil {
			select {
			case c.failed <- err:
			default:
			}
			continue
		}
		c.srv[name] = s
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// duidOf returns the DUID a server of w uses; c.mu must be held.
func (c *dhcpv6Component) duidOf(w dhcpv6Want) []byte {
	if w.duid != nil {
		return w.duid.ToBytes()
	}
	return c.node.ToBytes()
}

// start creates and runs the server of interface name; c.mu must be held.
func (c *dhcpv6Component) start(name string, w dhcpv6Want) (*dhcpv6Server, error) {
	duid := w.duid
	if duid == nil {
		duid = c.node
	}
	opts := []dhcpv6.Option{dhcpv6.WithLogger(c.env.Log), dhcpv6.WithStateDir(c.env.StateDir), dhcpv6.WithDUID(duid)}
	if c.standby {
		opts = append(opts, dhcpv6.WithPassive())
	}
	srv, err := dhcpv6.NewServer(name, w.cfg, append(opts, c.opts...)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(c.runCtx)
	s := &dhcpv6Server{s: srv, duid: duid.ToBytes(), stop: cancel, done: make(chan struct{})}
	failed := c.failed
	go func() {
		defer close(s.done)
		if err := srv.Run(ctx); err != nil && ctx.Err() == nil {
			select {
			case failed <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
	return s, nil
}

// Run serves until ctx is done, then waits for every server to make its
// leases durable. It is ready once every server it starts with listens
// (an interface that does not exist yet keeps it starting). A server
// that cannot be created (its lease journal or the node DUID unreadable)
// fails the component, and the supervisor tries again.
func (c *dhcpv6Component) Run(ctx context.Context, ready func()) error {
	c.mu.Lock()
	if c.node == nil {
		node, err := c.nodeDUID()
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.node = node
	}
	c.runCtx = ctx
	c.failed = make(chan error, 1)
	failed := c.failed
	c.mu.Unlock()
	if err := c.sync(); err != nil {
		c.env.Log.Error("dhcpv6 server refused its configuration", "err", err)
	}
	c.mu.Lock()
	var readies []<-chan struct{}
	for _, s := range c.srv {
		readies = append(readies, s.s.Ready())
	}
	c.mu.Unlock()
	allReady := make(chan struct{})
	go func() {
		for _, r := range readies {
			select {
			case <-r:
			case <-ctx.Done():
				return
			}
		}
		close(allReady)
	}()
	for {
		select {
		case <-allReady:
			ready()
			allReady = nil
		case <-ctx.Done():
			c.stopAll()
			return nil
		case err := <-failed:
			c.stopAll()
			return err
		}
	}
}

// nodeDUID returns the node's DUID from the state directory (created the
// first time), or a random one for the life of the process without one.
func (c *dhcpv6Component) nodeDUID() (insdhcp.DUID, error) {
	if c.env.StateDir != "" {
		d, err := dhcpv6.LoadOrCreateDUID(c.env.StateDir, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("node duid: %w", err)
		}
		return d, nil
	}
	var u insdhcp.DUIDUUID
	rand.Read(u.UUID[:])
	return &u, nil
}

// stopAll stops every server and waits for them (their journals synced).
func (c *dhcpv6Component) stopAll() {
	c.mu.Lock()
	all := make([]*dhcpv6Server, 0, len(c.srv))
	for name, s := range c.srv {
		s.stop()
		all = append(all, s)
		delete(c.srv, name)
	}
	c.runCtx = nil
	c.mu.Unlock()
	deadline := time.After(shutdownTimeout)
	for _, s := range all {
		select {
		case <-s.done:
		case <-deadline:
			c.env.Log.Warn("dhcpv6 servers did not stop in time", "timeout", shutdownTimeout)
			return
		}
	}
}

func (c *dhcpv6Component) Status(st *Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range st.Interfaces {
		is := &st.Interfaces[i]
		if s, ok := c.srv[is.Name]; ok {
			ds := s.s.Status()
			is.DHCPv6 = &ds
		}
	}
}

// DHCPv6 metrics, from the status on scrape. Labels are bounded: the
// interface names come from the config, the message types and drop
// reasons from the server's enums.
var (
	dhcpv6Received   = metricDesc("dhcpv6", "messages_received_total", "Client messages received, by type (relayed ones by the type inside the relay chain).", "iface", "type")
	dhcpv6Sent       = metricDesc("dhcpv6", "messages_sent_total", "Messages sent, by type (advertise, reply).", "iface", "type")
	dhcpv6Dropped    = metricDesc("dhcpv6", "dropped_total", "Received messages not answered, by reason.", "iface", "reason")
	dhcpv6Suppressed = metricDesc("dhcpv6", "answers_suppressed_total", "Answers a passive server (HA Backup) computed and did not send.", "iface")
	dhcpv6Relayed    = metricDesc("dhcpv6", "relayed_total", "Messages received through a relay agent.", "iface")
	dhcpv6Leases     = metricDesc("dhcpv6", "leases", "Unexpired address leases.", "iface")
	dhcpv6Declined   = metricDesc("dhcpv6", "declined_addresses", "Addresses in quarantine after a Decline.", "iface")
	dhcpv6PoolSize   = metricDesc("dhcpv6", "pool_size", "Addresses in the pools (reservations not counted).", "iface")
	dhcpv6Active     = metricDesc("dhcpv6", "active", "1 while the server answers, 0 while it is passive (HA Backup).", "iface")
)

func metricDesc(sub, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, sub, name), help, labels, nil)
}

// writeDHCPv6Metrics sends the metrics of one server's status.
func writeDHCPv6Metrics(ch chan<- prometheus.Metric, s dhcpv6.Status) {
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	for typ, n := range s.Received {
		ch <- prometheus.MustNewConstMetric(dhcpv6Received, ctr, float64(n), s.Interface, typ)
	}
	for typ, n := range s.Sent {
		ch <- prometheus.MustNewConstMetric(dhcpv6Sent, ctr, float64(n), s.Interface, typ)
	}
	for _, r := range dhcpv6.DropReasons() {
		ch <- prometheus.MustNewConstMetric(dhcpv6Dropped, ctr, float64(s.Dropped[r]), s.Interface, r.String())
	}
	ch <- prometheus.MustNewConstMetric(dhcpv6Suppressed, ctr, float64(s.Suppressed), s.Interface)
	ch <- prometheus.MustNewConstMetric(dhcpv6Relayed, ctr, float64(s.Relayed), s.Interface)
	ch <- prometheus.MustNewConstMetric(dhcpv6Leases, g, float64(s.LeasesInUse), s.Interface)
	ch <- prometheus.MustNewConstMetric(dhcpv6Declined, g, float64(s.DeclinedAddresses), s.Interface)
	ch <- prometheus.MustNewConstMetric(dhcpv6PoolSize, g, float64(s.PoolSize), s.Interface)
	ch <- prometheus.MustNewConstMetric(dhcpv6Active, g, b2f(s.Active), s.Interface)
}
