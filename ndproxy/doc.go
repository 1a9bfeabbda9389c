// Package ndproxy provides a Neighbor Discovery proxy: it answers Neighbor
// Solicitations on an upstream interface for addresses that live behind a
// downstream interface (containers on docker0, VMs on a tap bridge), so that
// a prefix nobody routes to the host is still reachable (RFC 4861 §7.2.8,
// RFC 4389 without the RA relaying).
//
// # Behaviour
//
//   - Validation (RFC 4861 §7.1.1): solicitations with hop limit ≠ 255, a bad
//     checksum, code ≠ 0, ICMP length < 24, a multicast target, an option of
//     length 0, or source :: with a source link-layer address option or sent
//     to another group than the target's solicited-node group are dropped
//     silently and counted by reason (Status.Rules[i].Dropped).
//   - Multicast and unicast solicitations (address resolution and the NUD
//     probes of upstream nodes) for a proxied target are answered with our
//     MAC in the target link-layer address option, S=1, O=0 (§7.2.8), R as
//     configured, to the solicitor's link-layer address (from its option, or
//     the frame's source for unicast NS without one).
//   - A DAD probe (source ::) for a proxied target is defended with an NA to
//     ff02::1, S=0 (§7.2.4): upstream nodes cannot take addresses that live
//     downstream. In static mode every address of the prefix counts as in
//     use.
//   - We join the solicited-node groups of the prefix on the upstream link
//     (so MLD reports go out and MLD-snooping switches forward the NS to us)
//     instead of turning ALLMULTI on. Only a prefix needing more than
//     Limits.MaxGroups groups (shorter than /120 by default) falls back to
//     ALLMULTI, with a warning.
//   - Mode static answers for every address of the prefix. Mode auto answers
//     only for targets known to exist downstream: present in the kernel's
//     neighbour table of the downstream link, seen sending from the address
//     downstream, or confirmed by an NS we send downstream when an upstream
//     node asks. The waiting solicitors are answered as soon as the target
//     replies; a target that does not answer within Limits.ProbeTimeout is
//     cached as absent for Limits.NegativeTTL (≤ 3 s). A DAD probe seen
//     downstream schedules a probe once the node's DAD is over, so new
//     containers are announced without waiting for traffic. Each learned
//     target is announced upstream with up to 3 unsolicited NAs (S=0, O=0)
//     to ff02::1. Targets learned from our probes are re-probed after
//     Limits.Reachable and forgotten when they stop answering.
//   - When the upstream link becomes operationally up again, and when a
//     rule starts, every active target (auto: the learned ones; static:
//     the prefix's addresses in the downstream neighbour table) is
//     announced with up to 3 unsolicited NAs, Limits.UnsolicitedInterval
//     (RetransTimer, 1 s) apart (RFC 4861 §7.2.6), so upstream neighbours
//     whose entries failed or expired while the link was down need not
//     wait for their own resolution. Nothing is sent while the link is
//     down.
//   - Where the kernel does not already route a target (or, in static mode,
//     the prefix) out of the downstream link, a route is installed (proto
//     199) and removed when the target is forgotten or the proxy stops —
//     unless it stops for a restart (Proxy.SkipCleanup): a proxy adopts at
//     start the proto-199 routes its rules want, so a restart flaps no
//     route, and removes the others (a rule dropped while it was down).
//   - Unknown targets cost bounded work and memory: probes are limited per
//     soliciting source and globally (token buckets), the number of targets
//     being probed, of cached absences, of learned targets and of tracked
//     sources are capped. Known targets are answered before any limit is
//     consulted, so a flood of bogus targets does not starve them; the
//     per-packet path does not allocate.
//   - Links are re-read on every change the daemon's netlink watcher
//     reports (WithEvents; System.Watch standalone), and once a second.
//   - Robustness: interfaces may appear late; a re-created upstream or
//     downstream link (new index) restarts that rule's sockets; an upstream
//     admin down/up needs nothing (the socket and the group memberships
//     survive it, unlike kernel proxy entries). Update applies a new config
//     without touching unchanged rules.
//
// # Data plane: our own answers, chosen by measurement
//
// Three designs were measured in the namespace topology of the tests
// (netns_bench_linux_test.go; figures in bench/report/ndproxy.md, where they
// are regenerated): the kernel's proxy entries answer a little faster than
// our own answers, both far inside a 1 ms budget, and ndppd falls behind
// under a flood of bogus targets.
//
// Kernel proxy entries are faster, but they take one /128 each (a static
// /64 is impossible), need four sysctls (proxy_ndp on the interface and on
// all, forwarding,
// proxy_delay=0 or answers are delayed up to 0.8 s), vanish when the
// upstream link goes down, cannot answer from the target address, and give
// no per-reason counters. Running both would answer every NS twice or need
// exact suppression of one. So the proxy answers by itself, from an
// AF_PACKET socket per upstream link with a BPF filter on ICMPv6 type 135:
// it sees unicast NS for addresses that are not local (which never reach an
// ICMPv6 socket without kernel proxy entries), the hop limit as received and
// the sender's MAC, and it can build any answer. No sysctl is required for
// the proxy itself; forwarding between the links is the router's job.
//
// # Limitations
//
// Ethernet links only. NS carried behind IPv6 extension headers are not
// seen (the BPF filter wants ICMPv6 right after the IPv6 header). SEND (RFC
// 3971) is not supported. Router Advertisements are not relayed (RFC 4389
// §4.1.3); the downstream link is expected to get its RAs from vrouter's ra
// package.
package ndproxy
