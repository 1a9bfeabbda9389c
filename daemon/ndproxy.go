package daemon

import (
	"context"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/ndproxy"
)

// NDProxySpec is the NDP proxy; opts are passed to ndproxy.New (tests pass
// ndproxy.WithSystem).
func NDProxySpec(opts ...ndproxy.Option) Spec {
	return Spec{
		Name: "ndproxy",
		Validate: func(c *config.Config) []config.Problem {
			return config.Under("ndproxy", ndproxy.Validate(c.NDProxy))
		},
		New: func(env Env) (Component, error) {
			sub := env.Watcher.Subscribe(netwatch.Links|netwatch.Addrs|netwatch.Neighs, 0)
			p, err := ndproxy.New(nil, env.Log, append([]ndproxy.Option{ndproxy.WithEvents(sub.C())}, opts...)...)
			if err != nil {
				sub.Close()
				return nil, err
			}
			return &ndproxyComponent{proxy: p}, nil
		},
	}
}

type ndproxyComponent struct {
	proxy *ndproxy.Proxy
}

// Apply gives the proxy the rules of d; in standby it has none, so it
// answers nothing (only the HA Active router proxies).
func (c *ndproxyComponent) Apply(d Desired) error {
	if d.Facts.Standby {
		c.proxy.Update(nil)
		return nil
	}
	c.proxy.Update(d.Config.NDProxy)
	return nil
}

// Run proxies until ctx is done. When the daemon stops for a restart
// (Restarting) the proxy leaves its routes for the next process to adopt,
// so no route flaps.
func (c *ndproxyComponent) Run(ctx context.Context, ready func()) error {
	// The proxy's context ends only after SkipCleanup is decided, so its
	// clean-up sees the decision.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if Restarting(ctx) {
			c.proxy.SkipCleanup()
		}
		cancel()
	})
	defer stop()
	go func() {
		select {
		case <-c.proxy.Ready():
			ready()
		case <-pctx.Done():
		}
	}()
	return c.proxy.Run(pctx)
}

func (c *ndproxyComponent) Status(st *Status) { st.NDProxy = c.proxy.Status().Rules }
