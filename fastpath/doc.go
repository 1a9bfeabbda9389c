// Package fastpath provides vrouter's IPv6 forwarding engine: it forwards
// IPv6 packets between configured interfaces inside XDP (the XDP tier), or
// in userspace on AF_XDP sockets or AF_PACKET rings, and hands everything it
// does not forward to the Linux kernel.
//
// # XDP tier
//
// With fastpath.io xdp, and first where it works with auto (per interface,
// logged; else AF_XDP, else AF_PACKET), one XDP program on every fast-path
// interface forwards inside the driver (tier_linux.go). After the header
// checks it shares with the AF_XDP claim program below it leaves to the
// kernel (XDP_PASS) frames for another host's MAC, bad source or
// destination addresses, payload lengths that do not match the frame, and
// Neighbor Discovery; then it asks the kernel's own FIB and neighbour table
// (bpf_fib_lookup, with tot_len = payload length + 40 so that the MTU check
// sees the whole packet), so policy routing and every route type stay the
// kernel's. No route, a reject route, forwarding off, no neighbour (a zero
// MAC, which Linux 6.1 returns for FAILED and INCOMPLETE entries, counts as
// none), larger than the egress MTU, an egress that takes no redirected
// frames: the kernel gets the packet and does what it always does (resolves
// the neighbour holding the packet, sends Destination Unreachable, Packet
// Too Big, Time Exceeded). Otherwise the program decrements the hop limit,
// rewrites the MACs, cuts Ethernet padding and redirects the frame through
// a devmap (bpf_redirect_map). Every frame is counted by outcome in a
// per-CPU array — forwarded, to-kernel by KernelReason, dropped by
// DropReason — which Stats adds to the engine's counters. Nothing is
// dropped by the program but a frame rewritten for an egress that left the
// devmap in between (tx_error).
//
// The devmap holds the fast-path interfaces that take redirected frames
// now, as the kernel's netdev generic netlink family says (xdp-features
// NDO_XMIT, Linux ≥ 6.3), kept current from its device notifications: a
// virtio-net does once an XDP program is attached to it (the tier's own), a
// veth when its peer has NAPI. A veth whose peer has none gets GRO turned
// on on the peer — in the peer's network namespace, found by its id, which
// needs CAP_SYS_ADMIN — and off again at the end; where that is not
// possible the daemon says so and the kernel forwards what leaves there.
// On kernels without xdp-features every fast-path interface is a target.
// Frames a target still does not take (its ring full, say) are freed by the
// kernel, which reports it only in tracepoints: two raw tracepoint programs
// count them as dropped tx_error (xdp_devmap_xmit for devices of this
// namespace, xdp_redirect_err for the tier's devmap); loading them needs
// CAP_PERFMON, without which the daemon logs that they are not counted.
// The tier's program itself needs CAP_PERFMON besides CAP_BPF and
// CAP_NET_ADMIN: without it the verifier sanitises pointer arithmetic and
// refuses the program ("prohibited for !root"), and auto falls back to
// AF_XDP. The unit's fast-path drop-in grants it
// (TestNamespaceUnitCapabilities runs the tier with exactly the unit's
// capabilities).
//
// On a veth ingress the program completes TCP and UDP checksums left to
// offload by the sender (see "Checksum offload"): a field equal to the
// pseudo-header sum is set to the complement of the sum over the segment
// as it is, which is the complete checksum of a partial one and leaves a
// complete one unchanged (one's complement arithmetic), summed with
// bpf_csum_diff.
//
// The kernel's neighbour entries are confirmed by its own traffic only; the
// tier records the next hops it forwards to in a per-CPU table, and the
// daemon asks the kernel to confirm the stale ones (as for the userspace
// datapaths), so that a neighbour that went away or changed its MAC is
// found out.
//
// The program is assembled with cilium/ebpf's asm package, like the AF_XDP
// claim program, not compiled from C with bpf2go: one toolchain (go build
// and go test need no clang, CI no generated object to check for a
// byte-identical rebuild, which depends on the clang version), the header
// checks are the claim program's own instructions, and the program is held
// to a Go model of it by TestTierProgramMatchesModel, which runs it with
// BPF_PROG_TEST_RUN against the namespace's real FIB on seeds for every
// outcome and tens of thousands of mutated frames, checksums included. The
// price is reading assembly; each step has its comment.
//
// An interface on the tier receives nothing in userspace: its port is
// send-only (the engine runs no worker for it) and sends with sendmmsg for
// the frames that userspace datapaths of other interfaces forward out of
// it. The programs are attached with BPF links, which the kernel removes
// with the process: a killed daemon leaves nothing that drops or redirects
// (TestNamespaceKilledRouter); a veth peer's GRO stays on. The tier is
// per-CPU by nature: each receive queue's NAPI runs the program on its own
// CPU (threaded NAPI pinned to fastpath.cpus when they are configured). Its
// NAPI threads run at nice -10 ([DefaultTierNAPINice], [WithTierNAPINice]),
// not at the workers' nice 0: they do all of the tier's forwarding, and at
// nice 0 any other busy process on the CPU took half of it, where the
// kernel's own forwarding, in softirqs, preempts such processes (bench, a
// CPU hog beside the router: 136–142 kpps at nice 0, 312–320 kpps at -10;
// bench/report, issue 11).
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
// With AF_XDP (fastpath.io af_xdp, or auto where the XDP tier is not
// possible) an XDP program on
// each fast-path interface ([loadXDPProgram], built with cilium/ebpf's
// assembler, 44 instructions) makes the same decision as the classifier
// below and redirects the frames the fast path takes into the AF_XDP socket
// of the queue they arrived on; everything else continues into the kernel's
// stack. A redirected frame never reaches the kernel's stack, so there is
// nothing to drop a second time; this host's addresses are a BPF hash map
// the programs share, kept equal to the kernel's local routing table. The
// programs are attached with BPF links, which the kernel removes when the
// process exits, crash or not, so a dead fast path never takes frames away
// from the kernel. TestXDPProgramMatchesClassify checks the program against
// the Go classifier on 200k mutated frames (BPF_PROG_TEST_RUN),
// TestNamespaceForwardingNoDuplicates that each frame arrives once.
//
// With AF_PACKET (fastpath.io af_packet, or auto where AF_XDP is not
// possible) an AF_PACKET socket bound to ETH_P_ALL sees every received frame before the
// kernel's tc ingress hook runs. While the engine runs it installs, on each
// fast-path interface, an ingress qdisc with a classic BPF cls_bpf filter
// ([IngressProgram]) that drops exactly the frames the classifier takes
// (IPv6, version 6, next header TCP/UDP/ICMPv6, hop limit ≥ 2, destination
// neither multicast nor link-local nor an address of this host, source not
// link-local) and lets everything else pass to the
// kernel's stack. Frames longer than the interface's MTU pass too: only GRO,
// or a veth peer sending with TSO, makes them, and the kernel forwards them
// segmented where the fast path could only answer Packet Too Big (which
// stalled bulk TCP; TestNamespaceTCPBulk). The filters for this host's
// addresses follow the kernel's local routing table, their length limit the
// interface's MTU. Run removes the qdisc when it returns. Per-interface
// IPv6 "forwarding" sysctls cannot do this: Linux forwards IPv6 according to
// net.ipv6.conf.all.forwarding only (the per-interface value selects host or
// router behaviour), and turning the global switch off would also stop the
// kernel's Time Exceeded. The namespace test TestNamespaceNoDuplicates proves
// the sink receives each packet exactly once.
//
// Consequence: a packet the fast path takes but cannot forward is not seen by
// the kernel either. The fast path therefore answers those itself (Packet Too
// Big, Destination Unreachable), and drops packets whose route leaves through
// an interface that is not a fast-path interface (all egress interfaces must
// be fast-path interfaces). Each such drop is counted by reason in [Stats].
//
// # Unresolved next hops: the pending queue
//
// For a next hop without a neighbour entry the fast path asks the kernel to
// resolve it (RTM_NEWNEIGH with NTF_USE, as `ip neigh ... use`) and holds the
// packet in a small queue, as the kernel's own neighbour queue would
// (RFC 4861 §7.2.2), so that the first packets of a flow — the first echo
// request of a ping — are not lost. The queue is bounded per next hop (16
// frames) and in all (256 frames, in storage allocated when the engine
// starts); a frame beyond a bound is dropped as "pending_full", a frame whose
// next hop is not resolved within 3 s (Linux's 3 solicitations 1 s apart) as
// "pending_expired" (see [WithPendingQueue]). Held frames leave in arrival
// order and before any later frame to the same next hop: the worker that
// first sees the neighbour resolved sends them before its own frame, and a
// goroutine woken by neighbour updates sends them when no further frame
// comes. As the kernel does, the sender of a frame that expires gets an
// ICMPv6 Destination Unreachable, code 3 (address unreachable, RFC 4443
// §3.1), within the ICMPv6 rate limit; frames dropped because the engine
// stops get none.
//
// # Checksum offload
//
// A frame from a veth peer (or a virtio guest with checksum offload) can
// arrive with its TCP or UDP checksum left to the NIC (TP_STATUS_CSUMNOTREADY:
// the field holds only the pseudo-header sum). The kernel's forwarding keeps
// that state with the packet; a frame sent from userspace has none, so the
// RX ring completes such checksums before the engine sees the frame. Without
// it, UDP through the fast path (traceroute's probes in the reference
// scenario) arrived with bad checksums and was discarded by the receiver.
//
// # I/O
//
// [Port] is the batch packet port contract. AF_XDP ([XDPPort], the default
// userspace datapath where possible): one socket per receive queue in copy
// mode, each with its own UMEM of 16 MiB: 8192 chunks of 2 KiB (4096 of 4 KiB
// for MTUs above 1778), 1024 of them for sending and the rest in the fill
// ring (see splitChunks for why receiving gets most); Read copies frames
// out of the RX ring and returns their chunks to the fill ring at once,
// Write copies frames into free chunks, queues them on a TX ring and kicks
// the kernel with one sendto(2) (the whole batch per call where the kernel
// takes XDP_MAX_TX_SKB_BUDGET, as 6.18 does; otherwise 32 frames per call).
// With several receive queues the engine runs a worker per queue
// (XDPPort.Queues), which reads its queue and sends on its own queue of
// every egress port (modulo that port's queues), pinned to its own CPU when
// several are configured (TestNamespaceMultiQueue: 2-queue veths, both
// egress queues used; before, everything left through queue 0). A
// multi-queue virtio-net receives on more queues once an XDP program is
// attached: Linux 6.1 adds a queue pair per possible CPU for XDP's
// transmissions when the device has that many (qemu queues=N, of which the
// guest uses one per vCPU) and the device spreads flows over those as
// well. Where an interface has more queues than it uses, the port
// therefore attaches its program before binding the sockets, one per
// receive queue the interface has then (the socket map stays empty, so the
// program hands everything to the kernel until the claim); the sockets of
// the extra queues only receive, their workers sending on the interface's
// transmit queues (virtio-net's XDP queues beyond them are used by
// ndo_xdp_xmit without a lock). Before, the port counted the queues before
// the attach, and the frames of the extra queues went to the kernel
// (TestVM/fastpath-af_xdp, 4 queue pairs and 2 vCPUs: 2 sockets, 4
// receive queues). AF_PACKET
// keeps one receive socket and one worker per interface; the kernel picks
// its transmit queue by the sending CPU. The copies are of a few
// hundred bytes at most and keep the Port contract and the engine the same
// for both datapaths; zero-copy AF_XDP needs driver support that neither veth
// nor virtio-net offers. Sending through the AF_XDP TX ring measured better
// than sendmmsg(2) on an AF_PACKET socket beside the AF_XDP receive
// (XDPConfig.SendMmsg; same run, 2 rounds: 338 vs 280 kpps zero-loss, 2473
// vs 3319 ns per packet at 300 kpps; bench/report). fastpath.io auto falls
// back from the XDP tier to AF_XDP, then to AF_PACKET, per
// interface and logged, when the kernel has no AF_XDP or BPF is not
// permitted, or the MTU does not fit a page after the XDP headroom (3826
// bytes; native XDP on veth stops at about 3.5K as well). A driver without
// native XDP gets the generic (skb) hook, logged as a warning, with GRO
// turned off on it while the fast path runs (generic XDP runs after GRO,
// and a merged frame would not fit a chunk). Native XDP sees no merged
// frames: it runs before GRO, veth turns its peer's TSO off while a program
// is attached, and virtio-net the host's offloads.
//
// AF_PACKET: the engine uses its own ring code on golang.org/x/sys/unix (afpacket_linux.go): a TPACKET_V3 RX ring
// with block batching (PACKET_IGNORE_OUTGOING, a classic BPF filter for the
// IPv6 EtherType) and a TX socket with PACKET_QDISC_BYPASS that sends a
// batch of up to [DefaultBatchSize] (256) frames with one sendmmsg(2).
// sendmmsg replaced a TPACKET_V2 TX ring (still there: RingConfig.SendMmsg
// false, which v6gen uses): the TX ring hands each frame to the stack as a
// page fragment with a completion callback, and a veth peer copies such
// fragments into fresh pages (skb_copy_ubufs) and frees them again, where
// sendmmsg copies a small frame once into a linear skb. With the kick per
// batch either way, sendmmsg forwarded 8 % more at saturation, and 256-frame
// batches instead of 64 another 6 % (bench/report). gopacket's afpacket was
// not used: the community fork's TPacket writes one frame per sendto
// (WritePacketData has no TX ring), which the issue measured at 0.31× kernel
// against 0.44× for ring-based TX, and the RX side would add a copy and an
// interface per packet.
//
// Where the time goes with AF_XDP (perf, router CPU at 300 kpps on veth;
// bench/report): 93 % in the kernel — half of it in our sendto (copy-mode
// TX builds an skb per frame and veth runs the receiving peer inside the
// call), a fifth in veth copying each received frame out of the sender's
// skb into a page-pool page before XDP can run (a NIC or virtio-net gives
// XDP such buffers directly) — and 7 % in Go. With AF_PACKET, almost all
// of it is in the kernel as well: receiving the frame into the RX ring, the
// tc claim, freeing the skb, building and transmitting the outgoing skb,
// and the receiving peer's work that veth runs inside our send call (PACKET_QDISC_BYPASS or
// not, a veth transmit delivers to the peer in the caller's context; the
// kernel forwarder pays the same on the same CPU, so both are counted). Go
// code is a few per cent. A pprof profile shows this as time "in sendmmsg".
//
// # Receive livelock
//
// Under overload an AF_PACKET forwarder loses the CPU to the kernel's receive
// softirq, which keeps filling the RX ring with frames the forwarder then has
// no time to send, so delivery falls far below the peak. Softirqs raised on
// a CPU also run at the end of the workers' own send calls (bottom halves
// enabled again), so the workers pay for the receive work of the frames they
// will drop. When the config names CPUs (and [WithThreadedNAPI] does not say
// otherwise) Run therefore moves receive processing of the fast-path
// interfaces into NAPI kernel threads (/sys/class/net/IF/threaded) pinned to
// those CPUs, where the scheduler shares the CPU with the workers, and turns
// RPS off on them (RPS would hand each frame from the NAPI thread back to a
// softirq backlog). veth runs NAPI only with GRO on, so GRO is turned on,
// with gro_max_size 0 so that it merges nothing (a merged frame is longer
// than the MTU and carries the first segment's checksum); and veth uses its
// NAPI only for frames from a peer without TSO (the bench turns TSO off on
// the generator's link; a NIC or virtio always receives through NAPI).
// Everything is undone when Run returns. With a NAPI thread the receive
// work no longer preempts the workers; frames the router cannot take stay
// at the sender (with the receiver's NAPI ring full, veth holds them back:
// the generator's achieved rate falls to what the router takes, where a NIC
// would drop them in its ring), so overload costs the router CPU nothing and
// delivery stays at the plateau: bench, gen → router
// → sink on 2 busy cores, 78-byte frames, the generator at full speed,
// delivered 141789 pps with the previous setup (softirq, TX ring, batches
// of 64) against 292585 pps (bench/report). The NAPI threads keep the
// workers' nice value by default ([WithNAPINice]; the XDP tier's, which
// have no workers, get [DefaultTierNAPINice]): nice 10 or 19 (receive
// only when the workers wait) measured the same on veth, because of that
// backpressure, and a low priority would let any other process on the CPU
// starve receive processing. Busy polling (SO_BUSY_POLL) was not measured:
// it polls the NAPI instance a socket recorded from its received packets,
// which TCP and UDP sockets do and, as far as we know, AF_PACKET does not.
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
