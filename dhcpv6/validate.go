package dhcpv6

import (
	"fmt"

	"github.com/vrouter/vrouter/config"
)

// minDUIDLen is the shortest client DUID the server reads: 2 octets of
// type and at least one of content (RFC 8415 §11.1); shorter ones are
// malformed.
const minDUIDLen = 3

// Problems returns the rules of the server that a decoded dhcpv6 section
// breaks, with paths relative to the section ("hosts[1].duid"); the
// daemon's one validation path places them (config.Under), so `vrouter
// check` refuses what NewServer and Update would.
func Problems(c config.DHCPv6) []config.Problem {
	var ps []config.Problem
	for i, h := range c.Hosts {
		if len(h.DUID) > 0 && len(h.DUID) < minDUIDLen {
			ps = append(ps, config.Problemf(fmt.Sprintf("hosts[%d].duid", i),
				"must be at least %d bytes: the server discards client DUIDs shorter than that (2 bytes of type and some content, RFC 8415 §11.1), so this reservation could never match, got %d", minDUIDLen, len(h.DUID)))
		}
	}
	if len(ps) > 0 {
		return ps
	}
	// Whatever else the server refuses (the decoder checks it all first;
	// this keeps check and run in agreement should they ever part).
	if _, err := compile(c, nil); err != nil {
		ps = append(ps, config.Problemf("", "%v", err))
	}
	return ps
}
