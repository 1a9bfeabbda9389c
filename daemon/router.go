package daemon

import (
	"context"

	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/router"
)

// RouterSpec is the netlink and sysctl reconciler on osys
// (router.LinuxOS() in `vrouter run`, routertest.OS in tests). The
// addresses it adds, runtime ones (Facts.Addresses) included, are recorded
// in Env.StateDir, so a restart removes those the desired state dropped
// while the daemon was down and touches nothing else.
func RouterSpec(osys router.OS) Spec {
	return Spec{
		Name:     "router",
		Validate: router.Validate,
		New: func(env Env) (Component, error) {
			return &routerComponent{env: env, rec: router.New(osys, env.Log, router.WithStateDir(env.StateDir))}, nil
		},
	}
}

type routerComponent struct {
	env Env
	rec *router.Reconciler
}

// Apply makes d the reconciler's desired state and makes one pass; links
// that are missing or fail are configured later by Run, which is not a
// refusal. The HA virtual addresses are never the reconciler's: the HA
// component puts them on the virtual link (withoutVirtualAddresses).
func (c *routerComponent) Apply(d Desired) error {
	if err := c.rec.Apply(context.Background(), withoutVirtualAddresses(d.Config)); err != nil {
		c.env.Log.Warn("configuration incomplete; will keep trying", "err", err)
	}
	return nil
}

// Run reconciles on every link or address change (and on a resync).
func (c *routerComponent) Run(ctx context.Context, ready func()) error {
	sub := c.env.Watcher.Subscribe(netwatch.Links|netwatch.Addrs, 0)
	defer sub.Close()
	ready()
	return c.rec.Run(ctx, sub.C())
}

func (c *routerComponent) Status(st *Status) {
	for i := range st.Interfaces {
		st.Interfaces[i].Configured = c.rec.Configured(st.Interfaces[i].Name)
	}
}
