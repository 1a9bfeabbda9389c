// Package fastpath provides vrouter's userspace IPv6 forwarding engine: it
// forwards IPv6 packets between configured interfaces on AF_PACKET sockets and
// hands everything it does not forward to the Linux kernel.
//
// # Datapath
//
// A frame received on a fast-path interface is classified by [Classify]
// (RFC 8200 §3 header checks, RFC 4291 address scopes). The fast path forwards
// only plain unicast IPv6 with TCP, UDP or ICMPv6 directly after the fixed
// header, a hop limit of at least 2 and a destination that is not an address of
// this host. Everything else — hop limit 0 or 1 (so the kernel sends Time
// Exceeded, RFC 4443 §3.3), extension headers and fragments, link-local and
// multicast traffic (Neighbor Discovery), packets for our own addresses,
// anything malformed — is left to the kernel. Forwarding is a longest-prefix
// match in a FIB synced from the kernel's main routing table, a neighbour MAC
// from the kernel's neighbour table, a MAC rewrite and a hop-limit decrement
// (IPv6 has no header checksum). A packet larger than the egress MTU gets an
// ICMPv6 Packet Too Big (RFC 4443 §3.2, RFC 8201) with the egress MTU; a
// destination without a route gets Destination Unreachable (RFC 4443 §3.1).
// ICMPv6 errors are rate limited (RFC 4443 §2.4 (f)).
//
// The per-packet path does not allocate (asserted with testing.AllocsPerRun).
//
// # Who forwards: the kernel must not forward what we forward
//
// An AF_PACKET socket bound to ETH_P_ALL sees every received frame before the
// kernel's tc ingress hook runs. While the engine runs it installs, on each
// fast-path interface, an ingress qdisc with u32 filters that drop exactly
// the frames the classifier takes (IPv6, version 6, next header TCP/UDP/ICMPv6,
// hop limit ≥ 2, destination neither multicast nor link-local nor an address of
// this host, source not link-local) and let everything else pass to the
// kernel's stack. The filters for this host's addresses follow the kernel's
// local routing table. Run removes the qdisc when it returns. Per-interface
// IPv6 "forwarding" sysctls cannot do this: Linux forwards IPv6 according to
// net.ipv6.conf.all.forwarding only (the per-interface value selects host or
// router behaviour), and turning the global switch off would also stop the
// kernel's Time Exceeded. The namespace test TestNamespaceNoDuplicates proves
// the sink receives each packet exactly once.
//
// Consequence: a packet the fast path takes but cannot forward is not seen by
// the kernel either. The fast path therefore answers those itself (Packet Too
// Big, Destination Unreachable), asks the kernel to resolve a missing neighbour
// (RTM_NEWNEIGH with NTF_USE) and drops the packet meanwhile, and drops packets
// whose route leaves through an interface that is not a fast-path interface
// (all egress interfaces must be fast-path interfaces). Each such drop is
// counted by reason in [Stats].
//
// # I/O
//
// [Port] is the batch packet port contract. On Linux the engine uses its own
// ring code on golang.org/x/sys/unix (afpacket_linux.go): a TPACKET_V3 RX ring
// with block batching (PACKET_IGNORE_OUTGOING, a classic BPF filter for the
// IPv6 EtherType) and a separate TPACKET_V2 TX ring socket with
// PACKET_QDISC_BYPASS, one sendto kick per batch. gopacket's afpacket was not
// used: the community fork's TPacket writes one frame per sendto (WritePacketData
// has no TX ring), which the issue measured at 0.31× kernel against 0.44× for
// ring-based TX, and the RX side would add a copy and an interface per packet.
//
// # Routing model and limits
//
// Only the main table (254) is used, no policy routing; of several routes to
// the same prefix the lowest metric wins; of a multipath route the first next
// hop is used. Own addresses are the local and anycast routes of the local
// table (255). ICMPv6 errors are sent back to the source MAC of the offending
// frame, from the first global address of the ingress interface (link-local
// if it has none).
package fastpath
