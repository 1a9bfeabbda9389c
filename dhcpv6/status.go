package dhcpv6

import "fmt"

// DropReason says why a received datagram got no answer.
type DropReason uint8

// Reasons for dropping a datagram.
const (
	// DropMalformed: not a DHCPv6 message (bad length, option or DUID).
	DropMalformed DropReason = iota
	// DropNotClientMessage: a server or relay-reply message type, or an
	// unknown one.
	DropNotClientMessage
	// DropNoClientID: §16: the message needs a Client Identifier.
	DropNoClientID
	// DropNoServerID: §16: Request, Renew, Decline and Release need a
	// Server Identifier.
	DropNoServerID
	// DropServerIDMismatch: §16: the Server Identifier is not ours.
	DropServerIDMismatch
	// DropUnexpectedServerID: §16: Solicit, Confirm and Rebind must not
	// carry a Server Identifier.
	DropUnexpectedServerID
	// DropIAInInformationRequest: §16.12: an Information-request with an
	// IA option.
	DropIAInInformationRequest
	// DropUnicast: §18.4: Solicit, Confirm, Rebind and Information-request
	// must be multicast.
	DropUnicast
	// DropRelayTruncated: a Relay-forward without exactly one Relay Message
	// option, or whose chain does not end in a client message.
	DropRelayTruncated
	// DropRelayHopLimit: a relay chain longer than HOP_COUNT_LIMIT (§7.6).
	DropRelayHopLimit
	// DropConfirmNoAddresses: §18.3.3: a Confirm without addresses.
	DropConfirmNoAddresses
	// DropRebindNoBinding: §18.3.5: a Rebind for unknown IAs whose
	// addresses are appropriate but cannot be given.
	DropRebindNoBinding
	// DropStoreFailed: the leases could not be made durable; the client
	// retransmits.
	DropStoreFailed
	// DropSendFailed: the answer could not be sent.
	DropSendFailed
	// DropAnswerTooLarge: the answer (the Relay-reply chain echoing the
	// relays' options) would not fit in a datagram.
	DropAnswerTooLarge
	numDropReasons
)

var dropNames = [numDropReasons]string{
	"malformed", "not_client_message", "no_client_id", "no_server_id", "server_id_mismatch",
	"unexpected_server_id", "ia_in_information_request", "unicast", "relay_truncated",
	"relay_hop_limit", "confirm_no_addresses", "rebind_no_binding", "store_failed", "send_failed",
	"answer_too_large",
}

func (r DropReason) String() string {
	if r < numDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// MarshalText makes a DropReason a JSON object key.
func (r DropReason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a DropReason from its name, so that `vrouter status`
// can decode the daemon's JSON.
func (r *DropReason) UnmarshalText(b []byte) error {
	for i, n := range dropNames {
		if n == string(b) {
			*r = DropReason(i)
			return nil
		}
	}
	return fmt.Errorf("unknown dhcpv6 drop reason %q", b)
}

// DropReasons lists every reason, for metrics.
func DropReasons() []DropReason {
	out := make([]DropReason, numDropReasons)
	for i := range out {
		out[i] = DropReason(i)
	}
	return out
}

// message types counted, by their RFC 8415 §7.3 code.
const numMsgTypes = 14

var msgNames = [numMsgTypes]string{
	"", "solicit", "advertise", "request", "confirm", "renew", "rebind", "reply",
	"release", "decline", "reconfigure", "information_request", "relay_forward", "relay_reply",
}

func msgName(t uint8) string {
	if t > 0 && t < numMsgTypes {
		return msgNames[t]
	}
	return "other"
}

// counters are the server's counts, guarded by Server.mu.
type counters struct {
	received   [numMsgTypes]uint64 // by type of the client message (inside relays)
	sent       [numMsgTypes]uint64
	dropped    [numDropReasons]uint64
	suppressed uint64 // answers not sent because the server is passive
	relayed    uint64 // received through a relay
	declined   uint64
}

// Status is a snapshot of a server for `vrouter status`.
type Status struct {
	Interface string `json:"interface"`
	Mode      string `json:"mode"`
	// Active is false while the server is passive: it answers nothing but
	// keeps learning bindings (HA Backup).
	Active     bool   `json:"active"`
	Running    bool   `json:"running"`
	ServerDUID string `json:"server_duid"`
	// Received counts client messages by type (snake_case RFC names),
	// relayed ones by the type of the message inside the relay chain.
	Received map[string]uint64 `json:"received"`
	// Sent counts answers by type (advertise, reply).
	Sent map[string]uint64 `json:"sent"`
	// Dropped counts datagrams not answered, by reason.
	Dropped map[DropReason]uint64 `json:"dropped"`
	// Suppressed counts answers a passive server computed but did not send.
	Suppressed uint64 `json:"suppressed"`
	Relayed    uint64 `json:"relayed"`
	// LeasesInUse counts unexpired leases; DeclinedAddresses the addresses
	// in quarantine after a Decline.
	LeasesInUse       int    `json:"leases_in_use"`
	DeclinedAddresses int    `json:"declined_addresses"`
	PoolSize          uint64 `json:"pool_size"`
	Reservations      int    `json:"reservations"`
}

func (c *counters) status() (rx, tx map[string]uint64, dropped map[DropReason]uint64) {
	rx, tx, dropped = map[string]uint64{}, map[string]uint64{}, map[DropReason]uint64{}
	for i, n := range c.received {
		if n > 0 {
			rx[msgName(uint8(i))] += n
		}
	}
	for i, n := range c.sent {
		if n > 0 {
			tx[msgName(uint8(i))] += n
		}
	}
	for i, n := range c.dropped {
		if n > 0 {
			dropped[DropReason(i)] = n
		}
	}
	return rx, tx, dropped
}
