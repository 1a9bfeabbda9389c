package pdclient

import "fmt"

// Refusal says why a received message, or one delegated prefix in it, was not
// acted upon. A refused message changes nothing: the running delegation is
// kept and the exchange in progress goes on retransmitting.
type Refusal uint8

// Reasons for refusing a message or a delegated prefix.
const (
	// RefusedMalformed: the message does not parse (short, an option runs
	// past the end, an option of a known type with a bad body).
	RefusedMalformed Refusal = iota
	// RefusedUnexpectedType: not an Advertise or Reply, or one that does not
	// answer the exchange in progress (an Advertise to a Request).
	RefusedUnexpectedType
	// RefusedReconfigure: a Reconfigure; the client does not take part in
	// Reconfigure (RFC 8415 §18.2.11), it renews at T1.
	RefusedReconfigure
	// RefusedTransactionID: no exchange in progress has this transaction id.
	RefusedTransactionID
	// RefusedClientID: the Client Identifier is missing or not ours.
	RefusedClientID
	// RefusedNoServerID: the Server Identifier is missing.
	RefusedNoServerID
	// RefusedNoIAPD: no IA_PD with our IAID.
	RefusedNoIAPD
	// RefusedNoPrefix: our IA_PD holds no IA Prefix and no status code.
	RefusedNoPrefix
	// RefusedT1OverT2: T1 > T2, both non-zero (RFC 8415 §21.21).
	RefusedT1OverT2
	// RefusedZeroLifetime: a new prefix with a preferred or valid lifetime
	// of 0.
	RefusedZeroLifetime
	// RefusedPreferredOverValid: preferred lifetime > valid lifetime (RFC
	// 8415 §21.22).
	RefusedPreferredOverValid
	// RefusedPrefixTooLong: longer than /64, or too long to hold the largest
	// subnet id the consumers need (WithMaxSubnetID).
	RefusedPrefixTooLong
	// RefusedBadPrefix: length 0, or not a unicast prefix (link-local,
	// multicast, loopback, IPv4-mapped).
	RefusedBadPrefix
	// RefusedNoPrefixAvail: status NoPrefixAvail (the server has none).
	RefusedNoPrefixAvail
	// RefusedNoBinding: status NoBinding in a Reply to Renew or Rebind; the
	// client sends a Request for its prefix.
	RefusedNoBinding
	// RefusedUseMulticast: status UseMulticast; the client sends by
	// multicast from then on.
	RefusedUseMulticast
	// RefusedUnspecFail: status UnspecFail.
	RefusedUnspecFail
	// RefusedStatusOther: any other non-success status code.
	RefusedStatusOther
	numRefusals
)

var refusalNames = [numRefusals]string{
	"malformed", "unexpected_type", "reconfigure", "wrong_transaction_id",
	"wrong_client_id", "missing_server_id", "no_ia_pd", "no_prefix",
	"t1_over_t2", "zero_lifetime", "preferred_over_valid", "prefix_too_long",
	"bad_prefix", "no_prefix_avail", "no_binding", "use_multicast",
	"unspec_fail", "status_other",
}

func (r Refusal) String() string {
	if r < numRefusals {
		return refusalNames[r]
	}
	return fmt.Sprintf("refusal(%d)", uint8(r))
}

// MarshalText makes a Refusal a JSON key or value in its snake_case name.
func (r Refusal) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Refusals lists every reason, in order; for metrics that want every label
// from the start.
func Refusals() []Refusal {
	out := make([]Refusal, numRefusals)
	for i := range out {
		out[i] = Refusal(i)
	}
	return out
}
