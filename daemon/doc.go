// Package daemon provides `vrouter run`: every component of the router —
// the netlink reconciler (router), the Router Advertisement advertisers
// (ra), the NDP proxy (ndproxy), the fast path (fastpath), the DHCPv6
// server (dhcpv6), the prefix delegation clients (pd), and the HA state
// machine to come — built
// from one shape and run under one context, with one netlink watcher, one
// validation path, one supervisor and one status snapshot (served on the
// status socket and exported as Prometheus metrics on scrape). It speaks the
// systemd notify protocol (READY=1, RELOADING=1, STOPPING=1, STATUS=...)
// when NOTIFY_SOCKET is set.
//
// # The component shape, and why
//
// A component is a [Spec] (name, validation rules, constructor) and the
// [Component] it builds (Apply, Run, Status):
//
//   - Validation is a function of the config alone, returning problems with
//     field paths; `vrouter check`, `vrouter run` and SIGHUP run every
//     Spec's rules ([Validate]) and report each problem at its FILE:LINE:COL,
//     so a config that check accepts starts, and no component refuses at
//     run time what check let through (FuzzCheckedConfigStarts holds this
//     over the config fuzz corpus).
//   - Components work towards a [Desired] state, not the file config: the
//     config with the runtime [Facts] folded in ([Effective]). Facts are what
//     one component learns and others act on — HA's standby (RA, NDP proxy
//     and DHCPv6 stop serving, without the side effects of a real stop: the
//     RA component stops its advertisers with ra.Advertiser.SkipFinal, so a
//     Backup sends no final RA), the link an interface is served on (HA's
//     macvlan carrying the virtual link-local address), runtime addresses
//     (the ::1 of a delegated /64, which the reconciler adds and removes and
//     whose /64 the "::/64" advertised prefix follows) and runtime
//     advertised prefixes (a delegated /64 with the lease's lifetimes); one
//     that goes is withdrawn with zero lifetimes (RFC 9096), as a prefix
//     removed from the config is. A component learning a fact calls
//     Env.Publish; the daemon recomputes the desired state and applies it to
//     every component in order. One input type for reloads and run-time
//     changes means one code path to test for both.
//   - Run is supervised: an error is a failure, and one [Supervisor] per
//     component restarts it with back-off (1s doubling to 30s, reset after a
//     healthy minute), logs each distinct error once, and shows state,
//     restarts and the last error in `vrouter status`. Components keep
//     their desired state across restarts, and state that must survive the
//     process (RA withdrawals, DHCPv6 leases and DUID, delegated prefixes)
//     lives in Env.StateDir.
//   - The seams are inputs: [Options] takes the Specs (router.OS, the
//     systems of ra, ndproxy and fastpath), the netlink source, the
//     privilege check and sd_notify, so reload, supervision, standby and
//     resync are unit-tested on the fakes of routertest, ratest,
//     ndproxytest, fastpathtest and netwatchtest.
//
// Compared with CoreRAD's Task{Run, Ready, String} under one errgroup, the
// shape adds Apply (so a reload or an HA switch does not restart what did
// not change) and per-component supervision (so a fast path that cannot
// start does not stop the advertisers); Validate is separate from the
// component so `vrouter check` builds nothing.
//
// # The watcher
//
// One internal/netwatch.Watcher subscribes to links, addresses,
// neighbours, routes and IPv6 netconf (forwarding) changes and fans them out;
// components subscribe in Run and re-read their state on a wake-up. After
// ENOBUFS or any socket error it resubscribes with back-off and wakes every
// subscriber with a resync, so nothing polls: the advertisers are told of
// link and forwarding changes instead of re-reading the link every second.
//
// # The HA pair
//
// With an ha section, the ha component (HASpec) runs the VRRP group of
// package ha and is the only one to publish Standby and ServeOn. A router
// of a pair starts in standby, so nothing is served before its group is
// Active; while Active, every HA interface is served on its virtual link
// (the RAs leave from the virtual link-local address and MAC, so a host's
// default router is the same on either router), and the NDP proxy and the
// DHCPv6 server answer; otherwise the advertisers are stopped without a
// final RA, the proxy has no rules and the DHCPv6 server listens passively
// under the pair's virtual DUID, learning the bindings. A router of a pair
// never sends a final RA, also not on SIGTERM: the peer takes over the
// same address and MAC after Skew_Time, and a router lifetime of 0 would
// have the hosts drop the default route it is about to serve. Any stop,
// also for a restart (SIGUSR2), resigns with priority 0, so the peer
// serves while the process is away; the new process starts as Backup.
// The stopping router is in standby from the priority 0 on, but the
// kernel keeps forwarding on its virtual links until the peer advertises
// as Active (at most a second), so nothing sent to the virtual MAC during
// the peer's Skew_Time is lost. The reconciler never gets the virtual
// addresses (an owner, priority 255, lists them among the interface's):
// they live on the virtual link while Active (and during that hand-over)
// only. The fast path is refused on an HA interface (validateHA):
// it takes forwardable frames before the virtual link sees them and drops
// those for the virtual MAC, and does not follow the HA state yet.
package daemon
