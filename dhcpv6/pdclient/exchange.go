package pdclient

import (
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// kind is the message an exchange sends.
type kind uint8

const (
	kindSolicit kind = iota
	kindRequest
	kindRenew
	kindRebind
	kindRelease
)

func (k kind) String() string {
	return [...]string{"solicit", "request", "renew", "rebind", "release"}[k]
}

func (k kind) messageType() dhcpv6.MessageType {
	return [...]dhcpv6.MessageType{dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeRequest,
		dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind, dhcpv6.MessageTypeRelease}[k]
}

// exchange is the message being (re)transmitted and what it waits for.
type exchange struct {
	kind  kind
	xid   dhcpv6.TransactionID
	p     params
	start time.Time     // first transmission
	count int           // transmissions so far
	rt    time.Duration // the current RT
	next  time.Time     // next transmission (or, at the deadline, failure)
	// deadline ends the exchange (MRD, or T2 and the expiry for Renew
	// and Rebind); zero: none.
	deadline time.Time
	// confirm marks the Rebind that confirms a lease after a restart.
	confirm bool

	serverID  []byte         // Request, Renew, Release: the server named
	unicast   netip.Addr     // Renew, Release: the server's unicast address
	multicast bool           // the server said UseMulticast
	prefixes  []netip.Prefix // in the IA_PD sent
	offers    []offer        // Solicit: Advertises collected in the first RT
}

// offer is an acceptable Advertise.
type offer struct {
	serverID []byte
	pref     uint8
	prefixes []netip.Prefix
	src      netip.Addr
}

// best picks the offer of the highest preference, the first received among
// equals (RFC 8415 §18.2.9).
func best(offers []offer) offer {
	b := offers[0]
	for _, o := range offers[1:] {
		if o.pref > b.pref {
			b = o
		}
	}
	return b
}
