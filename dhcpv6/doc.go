// Package dhcpv6 provides the DHCPv6 server of one downstream interface
// (RFC 8415): stateless (Information-request, §18.3.6, with DNS servers,
// option 23, and domain list, option 24, of RFC 3646, and the Information
// Refresh Time of §21.23) and stateful (IA_NA addresses from pools and
// reservations), with the node's server DUID and the leases kept in the
// state directory.
//
// Implemented: Solicit/Advertise/Request/Reply with the Preference option
// (§18.3.1, §18.3.2, §18.3.9), Rapid Commit (§18.3.1, §21.14), Renew and
// Rebind (§18.3.4, §18.3.5), Release (§18.3.7), Decline (§18.3.8: the
// address is quarantined for a probation period), Confirm (§18.3.3:
// Success or NotOnLink), the status codes NoAddrsAvail, NoBinding,
// NotOnLink and UseMulticast (§18.4: Request, Renew, Release and Decline
// received by unicast), lifetimes with T1 <= T2 <= preferred <= valid
// (§21.4, §21.6), the discard rules of §16 for a missing, unexpected or
// foreign Server or Client Identifier and for an Information-request with an
// IA, and relayed messages (§19: Relay-forward chains up to
// HOP_COUNT_LIMIT, Relay-reply with the Interface-Id option echoed at each
// level, the client link-layer address option of RFC 6939 read from the
// relay closest to the client, the relay source port of RFC 8357). IA_TA
// and IA_PD are answered NoAddrsAvail, NoPrefixAvail or NoBinding. The
// first 8 IAs of each type and 8 addresses of each IA are served; an answer
// that would not fit in a datagram is dropped.
//
// A [Server] is created with [NewServer] and served with [Server.Run];
// [Server.Update] applies a reloaded config, [Server.Status] counts
// messages by type and drops by [DropReason]. The OS is reached through
// [Conn] ([ListenConn] on Linux) and [Clock]; package dhcpv6test has an
// in-memory Conn and a settable clock.
//
// # Reservations
//
// A host is matched by DUID, else by MAC. Neutron knows a port's MAC long
// before the guest picks a DUID, so the MAC is looked for wherever it can
// be found, most trusted first: inside a DUID-LLT or DUID-LL, in the RFC
// 6939 option of the relay closest to the client, and for a message a
// client on the link sent directly (link-local source, no relay) the
// link-layer source of the frame, which [ListenConn] learns from an
// AF_PACKET socket beside the UDP one.
//
// # The library and its limits
//
// Messages are decoded and encoded with github.com/insomniacslk/dhcp/dhcpv6;
// the lease logic, allocation, persistence and policy are ours. Its
// ExtractMAC is not used: it ignores the frame's source and guesses MACs
// from EUI-64 relay peer addresses. Its NewReplyFromMessage refuses to
// build a Reply to a Decline, so every answer here is built field by field.
// Its decoder is run under recover: a panic on hostile input counts as a
// malformed message.
//
// # Leases
//
// Allocation is deterministic: an IA gets its current address while it is
// still appropriate, else the client's reservation, else a free address it
// asked for, else the first free address probing the pools from a hash of
// its DUID and IAID. An Advertise commits nothing (a Request recomputes the
// same address), so a Solicit flood from random DUIDs costs no state; a
// lease is only created by a Request, a Rapid Commit Solicit, or a Renew or
// Rebind of a binding the server does not know, always for a free address
// of the pools or a reservation and never past the table bound
// (WithMaxLeases): a flood exhausts the pool at worst, then gets
// NoAddrsAvail, while a Renew of an existing binding never needs a new
// entry. Expired leases are reclaimed by a sweep and are free as soon as
// they expire.
//
// Every change is appended to a journal in the state directory and made
// durable (fdatasync, one for all the answers of a batch) before any answer
// that depends on it is sent; the journal is compacted by writing a new one
// beside it, syncing it, renaming it into place and syncing the directory.
// A crash at any moment leaves the old or the new state: after a restart
// every client keeps its address and no new client is given an address
// still leased to another.
//
// A reload that shrinks a pool keeps the leases that still fit; the others
// are answered with lifetimes 0 at the client's next Renew or Rebind, in the
// same Reply as a new address.
//
// # HA: how leases reach the new Active
//
// Both routers of an HA pair run the server; only the Active answers
// ([Server.SetActive]). The Backup is passive: it handles every message it
// receives exactly as the Active does, including committing and journaling
// leases, and only drops the answers. Clients send Solicit, Request, Renew,
// Rebind, Release and Decline to ff02::1:2 (the server never grants
// unicast), so the Backup sees them all, and with the same leases and the
// same deterministic allocation it computes the same bindings. Both use the
// same server DUID ([VirtualDUID], from the VRRP virtual MAC) so that Renews
// carrying the Server ID are accepted by whichever router is Active. A
// binding the new Active missed (it was down, or relayed traffic went to
// the virtual address only) is re-created from the client's next Renew or
// Rebind when the address is still free, since Renew and Rebind of an
// unknown binding create it; an address it wrongly believes leased is never
// given to a second client, and its stale holder gets lifetimes 0 and a
// new address at its next exchange.
package dhcpv6
