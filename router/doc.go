// Package router provides the netlink and sysctl reconciler that brings the
// kernel to the desired state of a vrouter config (links up, MTU, static IPv6
// addresses, per-interface and global IPv6 sysctls) and keeps it there as
// links and addresses change.
//
// The kernel is reached only through the small [OS] interface; [LinuxOS] is
// the real implementation (vishvananda/netlink and /proc/sys) and package
// routertest holds a fake that keeps state and renders it as sorted
// ip-like lines. [Reconciler.Run] re-applies on every wake-up of a
// link/address subscription of the daemon's netwatch watcher ([Watch] makes
// one for standalone use), and [Validate] is the reconciler's part of the
// daemon's one validation path. Addresses follow RFC 4291 (no unspecified,
// multicast or loopback interface addresses) and MTUs RFC 8200 §5 (at least
// 1280).
//
// Interfaces the config does not name are left exactly as they are. Only
// addresses the reconciler itself added are ever removed, so the kernel's
// link-local and SLAAC addresses, an operator's and another daemon's stay.
// With [WithStateDir] that ownership survives a restart: it is recorded in
// a file (written before each add, atomically), so an address dropped from
// the config while vrouter was down is removed at the next start, and a
// restart with an unchanged config changes nothing.
//
// Sysctl ordering follows the kernel's rules: with net.ipv6.conf.all.forwarding
// set, an interface accepts Router Advertisements only with accept_ra=2, and
// turning forwarding on purges RA-learned default routes from interfaces whose
// accept_ra is not 2 (rt6_purge_dflt_routers). So upstream interfaces get
// accept_ra=2 before forwarding is turned on, and every interface's sysctls
// are written before the link is brought up, so the Router Solicitation sent
// on link-up is already governed by them.
package router
