// Package pdclient provides the DHCPv6 prefix-delegation client of an
// upstream interface (the requesting router of RFC 8415 §6.3): it asks the
// upstream for a prefix, keeps it renewed, and tells consumers when it is
// delegated, changed or gone.
//
// A [Client] runs the RFC 8415 exchanges for one IA_PD:
//
//   - Solicit (§18.2.1) with the configured length as a hint (an IA Prefix
//     ::/len) or, after a restart, the last delegated prefix; the first one
//     delayed by up to SOL_MAX_DELAY. Advertises (§18.2.9) are collected for
//     the first retransmission timeout and the highest preference wins; 255,
//     or any Advertise after the first timeout, is taken at once. An
//     Advertise that offers no usable prefix is ignored, but its SOL_MAX_RT
//     option (§21.24) is obeyed.
//   - Request (§18.2.2) to the chosen server; a Reply (§18.2.10) with a
//     usable prefix binds it, anything else goes back to soliciting after a
//     back-off that grows with every failed attempt.
//   - Renew (§18.2.4) at T1 to the delegating server (unicast only when it
//     sent a Server Unicast option, §21.12, and back to multicast on
//     UseMulticast), Rebind (§18.2.5) to any server at T2, and expiry at the
//     end of the valid lifetime. A Reply that withdraws the prefix (valid
//     lifetime 0) or delegates another one replaces it; NoBinding (§18.2.10.1)
//     makes the client Request its prefix again, and solicit for another
//     if the server will not give it back (the old one is kept meanwhile,
//     and reported gone with what remains of its valid lifetime).
//   - Release (§18.2.7) when Run stops, only with release_on_stop.
//
// Retransmissions follow §15 with the parameters of §7.6: RT = IRT +
// RAND*IRT, then 2*RTprev + RAND*RTprev, capped at MRT + RAND*MRT, RAND
// uniform in [-0.1, +0.1] (strictly positive for the first Solicit timeout),
// and the exchange fails after MRC transmissions or MRD. Solicit (IRT 1s, MRT
// SOL_MAX_RT 3600s) never gives up, so an absent upstream is asked again
// forever at most once an hour; Request has IRT 1s, MRT 30s, MRC 10; Renew
// IRT 10s, MRT 600s until T2; Rebind IRT 10s, MRT 600s until the valid
// lifetime ends; Release IRT 1s, MRC 4, bounded by WithReleaseTimeout.
//
// T1 and T2 are the server's; where it sends 0 the client uses 0.5 and 0.8
// of the preferred lifetime (§21.21). Infinite lifetimes and timers
// (0xffffffff) never run out.
//
// Every received message is checked before it can change anything: an
// Advertise or Reply with our transaction id and Client Identifier and a
// Server Identifier (§16.3, §16.10), our IA_PD with T1 <= T2, no error
// status, and prefixes that are unicast, no longer than /64 nor too long for
// the subnets the consumers carve out (WithMaxSubnetID), with preferred <=
// valid lifetime and, when new, non-zero lifetimes. A prefix shorter than the
// hint is accepted. Whatever fails is refused: counted by [Refusal] in
// [Status], logged at most once a minute per reason, and the delegation in
// use is kept.
//
// The lease is kept in the state directory (pd-IFACE.json, written to a
// temporary file, synced and renamed). At start a still-valid lease is used
// at once and confirmed with a Rebind using the Confirm parameters (§18.2.12;
// CNF_TIMEOUT 1s, CNF_MAX_RT 4s, CNF_MAX_RD 10s), after which its own
// schedule goes on; an expired or released one is only the hint.
//
// The client does not take part in Reconfigure (§18.2.11): it does not send
// the Reconfigure Accept option, and a Reconfigure message is refused
// (RefusedReconfigure). It holds one prefix: when a server delegates several
// in one IA_PD, the one already held, else the one of the longest valid
// lifetime, is used.
//
// The socket is reached through the small [Conn] interface ([Listen] opens
// the real one: UDP port 546 bound to the interface); package pdtest has an
// in-memory Conn and a scripted delegating router. Time is package time and
// randomness an injected *rand.Rand, so the state machine is tested in
// testing/synctest bubbles.
package pdclient
