package dhcpv6

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vrouter/vrouter/config"
)

// maxLifetime is the largest lifetime a DHCPv6 option carries: 0xffffffff
// seconds means infinity (RFC 8415 §7.7).
const maxLifetime = time.Duration(0xffffffff) * time.Second

// policy is what a config.DHCPv6 means to the server: pools as index
// ranges, reservations by DUID and MAC, lifetimes in the order RFC 8415
// §21.4 requires (T1 <= T2 <= preferred <= valid).
type policy struct {
	stateful    bool
	rapidCommit bool
	dns         []net.IP
	domains     []string
	irt         time.Duration

	t1, t2, preferred, valid time.Duration

	pools []pool
	total *big.Int // addresses in all pools

	byDUID   map[string]netip.Addr // reservation by DUID bytes
	byMAC    map[string]netip.Addr // reservation by MAC bytes
	reserved map[netip.Addr]bool   // every reserved address
	onLink   []netip.Prefix        // prefixes the link serves (Confirm, appropriateness)
}

// pool is an inclusive address range.
type pool struct {
	start, end netip.Addr
	size       *big.Int
}

func (p pool) contains(a netip.Addr) bool {
	return p.start.Compare(a) <= 0 && a.Compare(p.end) <= 0
}

// compile derives the policy from cfg; onLink overrides the prefixes of the
// link (nil: the /64s of the pools and reservations).
func compile(cfg config.DHCPv6, onLink []netip.Prefix) (*policy, error) {
	p := &policy{
		stateful:    cfg.Mode == config.DHCPv6Stateful,
		rapidCommit: cfg.RapidCommit,
		irt:         min(max(cfg.InformationRefreshTime, 0), maxLifetime),
		total:       new(big.Int),
		byDUID:      make(map[string]netip.Addr),
		byMAC:       make(map[string]netip.Addr),
		reserved:    make(map[netip.Addr]bool),
	}
	if cfg.Mode != config.DHCPv6Stateless && cfg.Mode != config.DHCPv6Stateful {
		return nil, fmt.Errorf("dhcpv6 mode %q: want %q or %q", cfg.Mode, config.DHCPv6Stateless, config.DHCPv6Stateful)
	}
	// The library encodes a trailing dot as one more, empty, name.
	for _, d := range cfg.Domains {
		if d = strings.TrimSuffix(d, "."); d != "" {
			p.domains = append(p.domains, d)
		}
	}
	for _, a := range cfg.DNSServers {
		if !a.Is6() || a.Is4In6() {
			return nil, fmt.Errorf("dns server %s: not an IPv6 address", a)
		}
		p.dns = append(p.dns, net.IP(a.AsSlice()))
	}
	// RFC 8415 §21.4 and §21.6: T1 <= T2 <= preferred <= valid.
	p.valid = min(max(cfg.ValidLifetime, 0), maxLifetime)
	p.preferred = min(max(cfg.PreferredLifetime, 0), p.valid)
	p.t2 = min(max(cfg.T2, 0), p.preferred)
	p.t1 = min(max(cfg.T1, 0), p.t2)
	if p.stateful && p.valid == 0 {
		return nil, fmt.Errorf("stateful dhcpv6 needs a valid lifetime above 0")
	}
	for i, r := range cfg.Pools {
		if !r.Start.Is6() || !r.End.Is6() || r.Start.Zone() != "" || r.End.Zone() != "" || r.Start.Is4In6() {
			return nil, fmt.Errorf("pool %d: %s-%s: not IPv6 addresses", i, r.Start, r.End)
		}
		if r.End.Less(r.Start) {
			return nil, fmt.Errorf("pool %d: end %s before start %s", i, r.End, r.Start)
		}
		for _, q := range p.pools {
			if q.contains(r.Start) || q.contains(r.End) || (r.Start.Less(q.start) && q.end.Less(r.End)) {
				return nil, fmt.Errorf("pool %d: %s-%s overlaps %s-%s", i, r.Start, r.End, q.start, q.end)
			}
		}
		size := new(big.Int).Sub(addrInt(r.End), addrInt(r.Start))
		size.Add(size, big.NewInt(1))
		p.pools = append(p.pools, pool{start: r.Start, end: r.End, size: size})
		p.total.Add(p.total, size)
	}
	if p.stateful && len(p.pools) == 0 && len(cfg.Hosts) == 0 {
		return nil, fmt.Errorf("stateful dhcpv6 needs a pool or a host reservation")
	}
	for i, h := range cfg.Hosts {
		if !h.Address.Is6() || h.Address.Is4In6() {
			return nil, fmt.Errorf("host %d: address %s: not IPv6", i, h.Address)
		}
		if p.reserved[h.Address] {
			return nil, fmt.Errorf("host %d: address %s reserved twice", i, h.Address)
		}
		p.reserved[h.Address] = true
		switch {
		case len(h.DUID) > 0:
			p.byDUID[string(h.DUID)] = h.Address
		case len(h.MAC) > 0:
			p.byMAC[string(h.MAC)] = h.Address
		default:
			return nil, fmt.Errorf("host %d: neither mac nor duid", i)
		}
	}
	if onLink != nil {
		p.onLink = slices.Clone(onLink)
	} else {
		add := func(a netip.Addr) {
			pf := netip.PrefixFrom(a, 64).Masked()
			if !slices.Contains(p.onLink, pf) {
				p.onLink = append(p.onLink, pf)
			}
		}
		for _, q := range p.pools {
			add(q.start)
			add(q.end)
		}
		for a := range p.reserved {
			add(a)
		}
		slices.SortFunc(p.onLink, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	}
	return p, nil
}

// inPool reports whether a lies in a pool.
func (p *policy) inPool(a netip.Addr) bool {
	for _, q := range p.pools {
		if q.contains(a) {
			return true
		}
	}
	return false
}

// isOnLink reports whether a belongs to a prefix of the link.
func (p *policy) isOnLink(a netip.Addr) bool {
	for _, pf := range p.onLink {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// reservation returns the address reserved for a client with duid and any
// of macs: by DUID first, then by MAC in the order given.
func (p *policy) reservation(duid []byte, macs []net.HardwareAddr) (netip.Addr, bool) {
	if a, ok := p.byDUID[string(duid)]; ok {
		return a, true
	}
	for _, m := range macs {
		if a, ok := p.byMAC[string(m)]; ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// appropriate reports whether a may be leased to a client whose reservation
// is res (invalid: none): it is its reservation, or it lies in a pool and is
// nobody's reservation.
func (p *policy) appropriate(a, res netip.Addr) bool {
	if res.IsValid() && a == res {
		return true
	}
	return p.inPool(a) && !p.reserved[a]
}

// poolSize is the number of addresses in the pools, saturated at 2^64-1.
func (p *policy) poolSize() uint64 {
	if p.total.IsUint64() {
		return p.total.Uint64()
	}
	return ^uint64(0)
}

// start is where the probe sequence of a client's IA begins: a hash of DUID
// and IAID into the pools, so that two servers with the same leases pick
// the same address for the same client.
func (p *policy) start(duid []byte, iaid uint32) *big.Int {
	if p.total.Sign() == 0 {
		return new(big.Int)
	}
	h := fnv.New128a()
	h.Write(duid)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], iaid)
	h.Write(b[:])
	v := new(big.Int).SetBytes(h.Sum(nil))
	return v.Mod(v, p.total)
}

// cursor walks the pools from an index, wrapping around.
type cursor struct {
	p    *policy
	pool int
	addr netip.Addr
}

// at returns a cursor on the address at index i of the concatenated pools.
func (p *policy) at(i *big.Int) cursor {
	rest := new(big.Int).Set(i)
	for k, q := range p.pools {
		if rest.Cmp(q.size) < 0 {
			return cursor{p: p, pool: k, addr: intAddr(rest.Add(rest, addrInt(q.start)))}
		}
		rest.Sub(rest, q.size)
	}
	return cursor{p: p, addr: p.pools[0].start}
}

func (c *cursor) next() {
	if c.addr == c.p.pools[c.pool].end {
		c.pool = (c.pool + 1) % len(c.p.pools)
		c.addr = c.p.pools[c.pool].start
		return
	}
	c.addr = c.addr.Next()
}

func addrInt(a netip.Addr) *big.Int {
	b := a.As16()
	return new(big.Int).SetBytes(b[:])
}

func intAddr(v *big.Int) netip.Addr {
	var b [16]byte
	v.FillBytes(b[:])
	return netip.AddrFrom16(b)
}

// macFromDUID returns the link-layer address inside a DUID-LLT or DUID-LL
// of an Ethernet-like hardware type, or nil.
func macFromDUID(duid []byte) net.HardwareAddr {
	if len(duid) < 4 {
		return nil
	}
	var ll []byte
	switch binary.BigEndian.Uint16(duid) {
	case 1: // DUID-LLT: type, hardware type, time, address
		if len(duid) < 8 {
			return nil
		}
		ll = duid[8:]
	case 3: // DUID-LL: type, hardware type, address
		ll = duid[4:]
	default:
		return nil
	}
	if len(ll) == 0 {
		return nil
	}
	return net.HardwareAddr(bytes.Clone(ll))
}
