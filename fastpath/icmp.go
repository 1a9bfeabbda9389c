package fastpath

import (
	"encoding/binary"
	"time"

	"github.com/vrouter/vrouter/internal/csum"
)

// ICMPv6 error types and codes (RFC 4443 §3).
const (
	icmpDstUnreach    = 1
	icmpPacketTooBig  = 2
	codeNoRoute       = 0
	codeAdminProhibit = 1
	codeAddrUnreach   = 3    // address unreachable: the next hop did not resolve
	minIPv6MTU        = 1280 // RFC 8200 §5
	icmpHdrLen        = 8
	icmpErrorHopLimit = 64
	maxICMPErrorFrame = ethLen + minIPv6MTU
	maxQuotedInvoking = minIPv6MTU - ipv6HdrLen - icmpHdrLen
)

// buildICMPError writes into out (len ≥ maxICMPErrorFrame) an Ethernet frame
// with an ICMPv6 error (typ, code, 32-bit param: the MTU for Packet Too Big)
// about the invoking IPv6 packet orig (starting at its IPv6 header). The
// error goes from src to orig's source, from Ethernet address srcMAC to
// dstMAC. As much of orig is quoted as fits in the IPv6 minimum MTU
// (RFC 4443 §2.4 (c)). It returns the frame, a prefix of out.
func buildICMPError(out []byte, dstMAC, srcMAC *[6]byte, src *[16]byte, orig []byte, typ, code uint8, param uint32) []byte {
	quoted := min(len(orig), maxQuotedInvoking)
	icmpLen := icmpHdrLen + quoted
	f := out[:ethLen+ipv6HdrLen+icmpLen]

	copy(f[offEthDst:], dstMAC[:])
	copy(f[offEthSrc:], srcMAC[:])
	binary.BigEndian.PutUint16(f[offEthType:], etherTypeIP6)

	ip := f[offIP:]
	binary.BigEndian.PutUint32(ip[0:], 6<<28) // version 6, traffic class 0, flow label 0
	binary.BigEndian.PutUint16(ip[4:], uint16(icmpLen))
	ip[6] = protoICMPv6
	ip[7] = icmpErrorHopLimit
	copy(ip[8:24], src[:])
	copy(ip[24:40], orig[8:24]) // to the invoking packet's source

	m := ip[ipv6HdrLen:]
	m[0], m[1] = typ, code
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint32(m[4:], param)
	copy(m[icmpHdrLen:], orig[:quoted])
	binary.BigEndian.PutUint16(m[2:], icmpv6Checksum(ip[8:24], ip[24:40], m))
	return f
}

// icmpv6Checksum is the checksum of the ICMPv6 message msg (checksum field
// zero) between the 16-byte addresses src and dst (RFC 4443 §2.3).
func icmpv6Checksum(src, dst, msg []byte) uint16 {
	return ^csum.Fold(csum.Add(csum.Pseudo(src, dst, len(msg), csum.ProtoICMPv6), msg))
}

// rateLimiter is a token bucket for ICMPv6 errors (RFC 4443 §2.4 (f)). It is
// used by one worker only.
type rateLimiter struct {
	now    func() time.Time
	perSec float64
	burst  float64
	tokens float64
	last   time.Time
}

func newRateLimiter(now func() time.Time, perSec, burst int) *rateLimiter {
	return &rateLimiter{now: now, perSec: float64(perSec), burst: float64(burst), tokens: float64(burst)}
}

// allow takes a token if there is one.
func (r *rateLimiter) allow() bool {
	t := r.now()
	if !r.last.IsZero() {
		r.tokens = min(r.burst, r.tokens+t.Sub(r.last).Seconds()*r.perSec)
	}
	r.last = t
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
