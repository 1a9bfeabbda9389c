package main

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// DHCPv6 message types and options the load client speaks (RFC 8415 §7.3,
// §21).
const (
	msgSolicit   = 1
	msgAdvertise = 2
	msgRequest   = 3
	msgReply     = 7

	optClientID    = 1
	optServerID    = 2
	optIANA        = 3
	optIAAddr      = 5
	optElapsedTime = 8
	optStatusCode  = 13
	optRapidCommit = 14
)

// duid returns the DUID-LL (RFC 8415 §11.4, hardware type 1) of client
// number n: the MAC 02:SS:nn:nn:nn:nn, SS the run's seed byte.
func duid(seed byte, n uint32) []byte {
	d := []byte{0, 3, 0, 1, 0x02, seed, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(d[6:], n)
	return d
}

func appendOpt(b []byte, code uint16, data []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, code)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

func appendHeader(b []byte, typ byte, xid uint32) []byte {
	return append(b, typ, byte(xid>>16), byte(xid>>8), byte(xid))
}

// solicit appends a Solicit from client d asking for one IA_NA (IAID 1),
// with the Rapid Commit option when rapid is set.
func solicit(b []byte, xid uint32, d []byte, rapid bool) []byte {
	b = appendHeader(b, msgSolicit, xid)
	b = appendOpt(b, optClientID, d)
	b = appendOpt(b, optIANA, []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	b = appendOpt(b, optElapsedTime, []byte{0, 0})
	if rapid {
		b = appendOpt(b, optRapidCommit, nil)
	}
	return b
}

// request appends the Request of client d that takes the offer of adv: the
// server's Server ID and the IA_NA of the Advertise as they came.
func request(b []byte, xid uint32, d []byte, adv *answer) []byte {
	b = appendHeader(b, msgRequest, xid)
	b = appendOpt(b, optClientID, d)
	b = appendOpt(b, optServerID, adv.serverID)
	b = appendOpt(b, optIANA, adv.iana)
	b = appendOpt(b, optElapsedTime, []byte{0, 0})
	return b
}

// answer is what the load client reads from an Advertise or a Reply. Its
// byte slices point into the datagram.
type answer struct {
	typ      byte
	xid      uint32
	clientID []byte
	serverID []byte
	iana     []byte     // body of the first IA_NA
	addr     netip.Addr // first address of the IA_NA with a valid lifetime > 0
	status   uint16     // status code of the message or the IA_NA (0 = success or none)
	rapid    bool       // Rapid Commit option present
}

var errShort = errors.New("truncated")

// options calls fn for each option of b; it fails on a truncated option.
func options(b []byte, fn func(code uint16, data []byte)) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return errShort
		}
		code, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+n {
			return errShort
		}
		fn(code, b[4:4+n])
		b = b[4+n:]
	}
	return nil
}

// parseAnswer reads a server message (Advertise or Reply; any other type is
// returned with only typ and xid).
func parseAnswer(b []byte) (answer, error) {
	var a answer
	if len(b) < 4 {
		return a, errShort
	}
	a.typ, a.xid = b[0], uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])
	if a.typ != msgAdvertise && a.typ != msgReply {
		return a, nil
	}
	var ierr error
	err := options(b[4:], func(code uint16, data []byte) {
		switch code {
		case optClientID:
			a.clientID = data
		case optServerID:
			a.serverID = data
		case optStatusCode:
			if len(data) >= 2 {
				a.status = binary.BigEndian.Uint16(data)
			}
		case optRapidCommit:
			a.rapid = true
		case optIANA:
			if a.iana != nil {
				return
			}
			a.iana = data
			if len(data) < 12 {
				ierr = errShort
				return
			}
			if err := options(data[12:], func(code uint16, data []byte) {
				switch code {
				case optIAAddr:
					if len(data) >= 24 && !a.addr.IsValid() && binary.BigEndian.Uint32(data[20:]) > 0 {
						a.addr = netip.AddrFrom16([16]byte(data[:16]))
					}
				case optStatusCode:
					if len(data) >= 2 && a.status == 0 {
						a.status = binary.BigEndian.Uint16(data)
					}
				}
			}); err != nil {
				ierr = err
			}
		}
	})
	if err == nil {
		err = ierr
	}
	return a, err
}
