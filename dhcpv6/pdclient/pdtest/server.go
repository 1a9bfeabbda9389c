package pdtest

import (
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// Server is a delegating router: Answer returns what it sends back to a
// client message. Change its fields between calls to renumber, shorten
// lifetimes or refuse.
type Server struct {
	// DUID is the Server Identifier.
	DUID dhcpv6.DUID
	// Prefix is delegated to every client; an invalid Prefix answers
	// NoPrefixAvail.
	Prefix netip.Prefix
	// Lifetimes and timers of the delegation.
	Preferred, Valid, T1, T2 time.Duration
	// Preference goes into Advertises when non-zero.
	Preference uint8
	// Unicast, when valid, goes into a Server Unicast option.
	Unicast netip.Addr
	// Withdraw lists prefixes answered with lifetimes 0 in every Reply (a
	// renumbering server withdrawing the old prefix).
	Withdraw []netip.Prefix
	// NoBinding answers Renew and Rebind with status NoBinding.
	NoBinding bool
}

// NewServer returns a Server delegating prefix with preferred/valid
// lifetimes of 1h/2h and T1/T2 left to the client (0).
func NewServer(prefix netip.Prefix) *Server {
	return &Server{
		DUID:      &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x53}},
		Prefix:    prefix,
		Preferred: time.Hour, Valid: 2 * time.Hour,
	}
}

// Answer returns the Advertise (to a Solicit) or Reply (to the other
// messages) for req, or nil where a server stays silent: a message that is
// not a client's, a Request or Renew naming another server.
func (s *Server) Answer(req *dhcpv6.Message) *dhcpv6.Message {
	resp := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeReply, TransactionID: req.TransactionID}
	switch req.MessageType {
	case dhcpv6.MessageTypeSolicit:
		resp.MessageType = dhcpv6.MessageTypeAdvertise
		if s.Preference != 0 {
			resp.AddOption(dhcpv6.OptPreference(s.Preference))
		}
	case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRelease:
		if sid := req.Options.ServerID(); sid == nil || !sid.Equal(s.DUID) {
			return nil
		}
	case dhcpv6.MessageTypeRebind:
	default:
		return nil
	}
	cid := req.Options.ClientID()
	if cid == nil {
		return nil
	}
	resp.AddOption(dhcpv6.OptClientID(cid))
	resp.AddOption(dhcpv6.OptServerID(s.DUID))
	if s.Unicast.IsValid() {
		resp.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionUnicast, OptionData: s.Unicast.AsSlice()})
	}
	if req.MessageType == dhcpv6.MessageTypeRelease {
		resp.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess})
		return resp
	}
	for _, in := range req.Options.IAPD() {
		ia := &dhcpv6.OptIAPD{IaId: in.IaId}
		switch {
		case s.NoBinding && (req.MessageType == dhcpv6.MessageTypeRenew || req.MessageType == dhcpv6.MessageTypeRebind):
			ia.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoBinding})
		case !s.Prefix.IsValid():
			ia.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoPrefixAvail})
		default:
			ia.T1, ia.T2 = s.T1, s.T2
			for _, w := range s.Withdraw {
				ia.Options.Add(IAPrefix(w, 0, 0))
			}
			ia.Options.Add(IAPrefix(s.Prefix, s.Preferred, s.Valid))
		}
		resp.AddOption(ia)
	}
	return resp
}

// IAPrefix returns an IA Prefix option.
func IAPrefix(p netip.Prefix, preferred, valid time.Duration) *dhcpv6.OptIAPrefix {
	return &dhcpv6.OptIAPrefix{
		PreferredLifetime: preferred, ValidLifetime: valid,
		Prefix: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)},
	}
}
