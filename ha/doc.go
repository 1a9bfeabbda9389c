// Package ha provides the VRRP version 3 virtual router (RFC 9568, IPv6
// only) that makes two vrouters one highly available router: a [Group] runs
// one VRRP instance per HA interface, all in one state, and tells its
// consumer (OnTransition) when it becomes Active, so that only the Active
// router advertises, proxies NDP and serves DHCPv6.
//
// # What of RFC 9568
//
//   - §5.1.2, §5.2: advertisements to ff02::12, next header 112, hop limit
//     255, version 3 type 1, the 12-bit Max Advertise Interval in
//     centiseconds, the checksum over the IPv6 pseudo-header (§5.2.8),
//     the link-local virtual address first (§5.2.9): [ParseAdvert] and
//     [Advert.Append].
//   - §6.1: Skew_Time = ((256 - Priority) * Active_Adver_Interval) / 256 and
//     Active_Down_Interval = 3 * Active_Adver_Interval + Skew_Time, kept to
//     the nanosecond instead of whole centiseconds so that neighbouring
//     priorities never share a skew.
//   - §6.4: Initialize, Backup and Active with the Backup adopting the
//     Active's interval, Preempt_Mode, priority 255 (the address owner)
//     going Active at once, priority 0 sent on a clean stop so the Backup
//     takes over after Skew_Time, the equal-priority tie-break on the
//     sender's address, and (new in RFC 9568) an Active that hears a lower
//     priority asserting itself with an advertisement at once.
//   - §7.1: a packet is dropped, and counted by a [DropReason], for a hop
//     limit other than 255 (read per packet with IPV6_RECVHOPLIMIT), a
//     version or type other than 3 and 1, a truncated packet, an address
//     count of 0 (erratum 8299) or one that does not match the length, a
//     bad checksum, another VRID, a Max Advertise Interval of 0 (erratum
//     8301). An advertisement whose addresses or interval differ from ours,
//     or that reaches an address owner (erratum 8298), is logged once per
//     change and processed.
//   - §7.2, §7.3: advertisements leave from the virtual MAC
//     00:00:5e:00:02:VRID with the interface's link-local source address.
//   - §6.4.2, §8.2: on becoming Active, one unsolicited Neighbor
//     Advertisement per virtual address (R=1, S=0, O=1, target link-layer
//     address the virtual MAC) to ff02::1; the kernel answers Neighbor
//     Solicitations for the virtual addresses, with R=1, while Active only.
//
// Accept_Mode is always True: the virtual addresses are the router's own
// addresses for the hosts (their default router and gateway, which they
// ping), and the RA advertiser and the DHCPv6 server run on them.
// Accept_Mode False would need firewall rules to refuse what the kernel
// accepts on addresses it holds, for no gain here.
//
// # The group rule
//
// All instances of a Group are in the same state. The Group is Active only
// when every instance would be Active by RFC 9568: it goes Active when the
// Active_Down_Timer has run out on every link, and it gives way on every
// link as soon as one instance must (a better advertisement on one link),
// sending priority 0 on the others. A link that is down, or has no usable
// link-local address, is a Shutdown event for the whole group (effective
// priority 0: priority 0 on the other links, then Initialize); when every
// link is usable again that is its Startup event (Backup, listening first).
// So a router whose tenant link is down always gives way, and a router is
// never Active on one link and Backup on another.
//
// A clean stop (Run's context done) of the Active sends priority 0 on
// every link and leaves Active at once (OnTransition: the consumer stops
// serving), but keeps each virtual link up with its addresses, sending
// nothing more, until the peer advertises with a priority above 0 on that
// link, so is Active there and has sent its unsolicited NAs; then that
// virtual link goes down. This departs from RFC 9568, whose stopping
// router goes to Initialize with the priority 0 (§6.4.3) and no longer
// takes what is sent to the virtual MAC: for the peer's Skew_Time the
// learning bridges still deliver that to the stopping router, which
// would drop it. Waiting for the peer's advertisement keeps the two
// from forwarding at once (both use the same MAC, so a bridge moves it to
// the peer's port on its first frame). Without a peer the wait ends after
// the longest Active_Down_Interval a peer could have (priority 1, as when
// the priority 0 is lost), at most one second. While waiting the kernel
// still answers Neighbor Solicitations for the virtual addresses (with
// the virtual MAC, as the peer will).
//
// Two extensions follow from the rule. A priority 0 received on one link
// means the Active resigned the group, so every Backup instance's
// Active_Down_Timer is shortened to Skew_Time, not only that link's: a
// router whose tenant link went down hands the tenant link over after
// Skew_Time although it cannot say so there. And the equal-priority
// tie-break compares per-link addresses, so two routers with equal
// priorities can each win on one link, meet as Active and both give way,
// in step; after yielding on a tie-break, a Group waits a random time of
// up to one advert interval before its next takeover (until an Active has
// been heard for a whole Active_Down_Interval), so one of them goes first
// and the other stays Backup. Distinct priorities avoid all of it.
//
// # The virtual MAC and its pitfalls
//
// Each HA interface gets a macvlan with the virtual MAC, named
// [VirtualLinkName] ("vrrp<VRID>.<parent ifindex>") so the RA advertiser
// and the DHCPv6 server can run on it; the interface itself keeps its MAC,
// its link-local address and its SLAAC addresses. The macvlan is created
// down, with its IPv6 sysctls set before it is ever up: addr_gen_mode 1
// (no kernel link-local, and the virtual MAC never derives an interface
// identifier, §7.4), accept_ra 0 and autoconf 0 (no Router Solicitation,
// no SLAAC address), accept_dad 0 (no DAD Neighbor Solicitation: during a
// split brain both routers hold the addresses), forwarding as on the
// interface (R=1 in Neighbor Advertisements). Becoming Active puts exactly
// the configured addresses on it, without DAD, then brings it up; leaving
// Active brings it down first, so nothing leaves from the virtual MAC, then
// removes whatever address is left. A Backup's macvlan exists, down and
// empty, so it sends no MLD report, RS or NS from the virtual MAC (keepalived
// with use_vmac does), and the kernel drops what arrives for the virtual
// MAC (§6.4.2). There is no copied link-local: the macvlan's only
// link-local is the virtual one, and advertisements are sent through it
// from the interface's own link-local address (IPV6_FREEBIND on a raw
// socket), so they carry the virtual MAC and teach learning bridges where
// the Active is, every interval. The macvlan is in bridge mode: in private
// mode the kernel hands a frame whose source MAC is the macvlan's own (the
// peer's advertisements during a split brain) to the macvlan only, and the
// Active would never hear the peer. Advertisements are received on the
// interface itself (SO_BINDTODEVICE, ff02::12 joined, multicast loopback
// off); what the macvlan sends never reaches the interface's stack, so a
// router does not hear itself.
//
// Run prepares the macvlans idempotently: one left by a crashed process
// (still up, with the addresses) is taken over and reset to down and
// empty; a clean stop removes them once the peer is Active. Between a crash and the restart (by
// systemd) the old macvlan keeps answering for the virtual addresses.
//
// In OpenStack, port security must allow the virtual MAC with the virtual
// addresses and with the port's own link-local address (the source of the
// advertisements), and protocol 112.
//
// The operating system is reached through the small [System] and [Port]
// interfaces ([NewLinuxSystem]); package hatest has an in-memory fake.
// [Group.Status] and [Metrics] report the state, the peer, the interval in
// use, the last transition and counters.
package ha
