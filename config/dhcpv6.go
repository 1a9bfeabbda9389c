package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DHCPv6 defaults and limits (RFC 8415).
const (
	defaultDHCPv6Preferred = 3600 * time.Second
	defaultDHCPv6Valid     = 7200 * time.Second
	// defaultIRT is IRT_DEFAULT and minIRT IRT_MINIMUM (RFC 8415 §7.6, §21.23).
	defaultIRT = 86400 * time.Second
	minIRT     = 600 * time.Second
	// DUIDs are 2 octets of type and at most 128 octets of content (RFC 8415 §11.1).
	minDUIDLen = 2
	maxDUIDLen = 130
)

// nodeAt is where something was written: its node and field path.
type nodeAt struct {
	node *yaml.Node
	path string
}

// dhcpv6Section is a decoded dhcpv6 section with the positions that the
// checks against the rest of its interface need (iface calls checkDHCPv6
// once the whole interface is decoded).
type dhcpv6Section struct {
	cfg  *DHCPv6
	key  *yaml.Node
	path string
	// pools[i] and hosts[i] tell where cfg.Pools[i] and cfg.Hosts[i]
	// were written: the entry, its start and end, the host's address.
	pools              []nodeAt
	poolStart, poolEnd []nodeAt
	hosts              []nodeAt
	// dnsWritten and domainsWritten: the keys were written (an empty list
	// sends no option instead of the RDNSS/DNSSL default).
	dnsWritten, domainsWritten bool
}

func (d *decoder) dhcpv6(key, n *yaml.Node, path string) *dhcpv6Section {
	s := &dhcpv6Section{cfg: &DHCPv6{}, key: key, path: path}
	c := s.cfg
	before := len(d.errs)
	var statefulOnly []nodeAt
	var prefN, validN, t1N, t2N *yaml.Node
	var haveDNS, haveDomains, haveIRT bool
	lifetime := func(v *yaml.Node, p string, into *time.Duration, at **yaml.Node) {
		if t, ok := d.duration(v, p); ok {
			if t == 0 {
				d.errorf(v, p, "must be more than 0s")
				return
			}
			*into, *at = t, v
		}
	}
	d.mapping(n, path, fields{
		"mode": func(k, v *yaml.Node, p string) {
			m, ok := d.scalar(v, p, "stateless or stateful")
			if !ok {
				return
			}
			switch mode := DHCPv6Mode(m); mode {
			case DHCPv6Stateless, DHCPv6Stateful:
				c.Mode = mode
			default:
				d.errorf(v, p, "must be stateless or stateful, got %q", m)
			}
		},
		"dns_servers": func(k, v *yaml.Node, p string) {
			haveDNS = true
			seen := map[netip.Addr]string{}
			d.sequence(v, p, func(i int, e *yaml.Node, p string) {
				a, ok := d.ipv6Addr(e, p)
				if !ok {
					return
				}
				if prev, dup := seen[a]; dup {
					d.errorf(e, p, "%s is already listed at %s", a, prev)
					return
				}
				seen[a] = p
				c.DNSServers = append(c.DNSServers, a)
			})
		},
		"domains": func(k, v *yaml.Node, p string) {
			haveDomains = true
			seen := map[string]string{}
			d.sequence(v, p, func(i int, e *yaml.Node, p string) {
				dom, ok := d.str(e, p)
				if !ok {
					return
				}
				if !ValidDomain(dom) {
					d.errorf(e, p, "invalid domain name %q", dom)
					return
				}
				if prev, dup := seen[domainKey(dom)]; dup {
					d.errorf(e, p, "%s is already listed at %s", dom, prev)
					return
				}
				seen[domainKey(dom)] = p
				c.Domains = append(c.Domains, dom)
			})
		},
		"rapid_commit": func(k, v *yaml.Node, p string) { c.RapidCommit, _ = d.boolean(v, p) },
		"preferred_lifetime": func(k, v *yaml.Node, p string) {
			statefulOnly = append(statefulOnly, nodeAt{k, p})
			lifetime(v, p, &c.PreferredLifetime, &prefN)
		},
		"valid_lifetime": func(k, v *yaml.Node, p string) {
			statefulOnly = append(statefulOnly, nodeAt{k, p})
			lifetime(v, p, &c.ValidLifetime, &validN)
		},
		"t1": func(k, v *yaml.Node, p string) {
			statefulOnly = append(statefulOnly, nodeAt{k, p})
			lifetime(v, p, &c.T1, &t1N)
		},
		"t2": func(k, v *yaml.Node, p string) {
			statefulOnly = append(statefulOnly, nodeAt{k, p})
			lifetime(v, p, &c.T2, &t2N)
		},
		"information_refresh_time": func(k, v *yaml.Node, p string) {
			if t, ok := d.duration(v, p); ok {
				if t < minIRT {
					d.errorf(v, p, "must be at least 600s (RFC 8415 §21.23 IRT_MINIMUM), got %s", v.Value)
					return
				}
				c.InformationRefreshTime, haveIRT = t, true
			}
		},
		"pools": func(k, v *yaml.Node, p string) {
			statefulOnly = append(statefulOnly, nodeAt{k, p})
			d.dhcpv6Pools(v, p, s)
		},
		"hosts": func(k, v *yaml.Node, p string) {
			statefulOnly = append(statefulOnly, nodeAt{k, p})
			d.dhcpv6Hosts(v, p, s)
		},
	})
	if isNull(n) || n.Kind == yaml.MappingNode {
		if _, written := mappingValue(n, "mode"); !written {
			d.errorf(key, path+".mode", "missing (stateless or stateful)")
		}
	}
	if !haveIRT {
		c.InformationRefreshTime = defaultIRT
	}
	s.dnsWritten, s.domainsWritten = haveDNS, haveDomains
	switch c.Mode {
	case DHCPv6Stateless:
		for _, f := range statefulOnly {
			d.errorf(f.node, f.path, "only with mode stateful (this server is stateless)")
		}
	case DHCPv6Stateful:
		d.dhcpv6Lifetimes(s, prefN, validN, t1N, t2N)
	}
	// Only when clean: a pool or host with errors is not in the lists.
	if len(d.errs) == before && c.Mode == DHCPv6Stateful && len(c.Pools) == 0 && len(c.Hosts) == 0 {
		d.errorf(key, path, "mode stateful needs at least one of pools or hosts")
	}
	return s
}

// dhcpv6Lifetimes fills in the stateful lifetimes not written and checks
// T1 <= T2 <= preferred <= valid (RFC 8415 §21.4). Each node is nil when the
// value was not written.
func (d *decoder) dhcpv6Lifetimes(s *dhcpv6Section, prefN, validN, t1N, t2N *yaml.Node) {
	c := s.cfg
	if prefN == nil {
		c.PreferredLifetime = defaultDHCPv6Preferred
	}
	if validN == nil {
		c.ValidLifetime = defaultDHCPv6Valid
	}
	if t1N == nil {
		c.T1 = fraction(c.PreferredLifetime, 5)
	}
	if t2N == nil {
		c.T2 = fraction(c.PreferredLifetime, 8)
	}
	// Report each broken order once, at the value that was written.
	switch {
	case c.PreferredLifetime > c.ValidLifetime && prefN != nil:
		d.errorf(prefN, s.path+".preferred_lifetime", "must not exceed valid_lifetime (%s%s), got %s", fmtLifetime(c.ValidLifetime), defaultNote(validN), prefN.Value)
	case c.PreferredLifetime > c.ValidLifetime:
		d.errorf(validN, s.path+".valid_lifetime", "must be at least preferred_lifetime (%s, the default), got %s", fmtLifetime(c.PreferredLifetime), validN.Value)
	}
	switch {
	case c.T2 > c.PreferredLifetime && t2N != nil:
		d.errorf(t2N, s.path+".t2", "must not exceed preferred_lifetime (%s%s) (RFC 8415 §21.4), got %s", fmtLifetime(c.PreferredLifetime), defaultNote(prefN), t2N.Value)
	case c.T1 > c.T2 && t1N != nil:
		d.errorf(t1N, s.path+".t1", "must not exceed t2 (%s%s) (RFC 8415 §21.4), got %s", fmtLifetime(c.T2), defaultNote(t2N), t1N.Value)
	case c.T1 > c.T2:
		d.errorf(t2N, s.path+".t2", "must be at least t1 (%s, the default) (RFC 8415 §21.4), got %s", fmtLifetime(c.T1), t2N.Value)
	}
}

// fraction returns tenths/10 of a lifetime in whole seconds, at least 1s
// (0 would leave T1/T2 to the client); an infinite lifetime stays infinite
// (RFC 8415 §21.4: T1 and T2 are then infinite too).
func fraction(lifetime time.Duration, tenths int64) time.Duration {
	if lifetime == Infinity {
		return Infinity
	}
	return max(time.Second, (lifetime / 10 * time.Duration(tenths)).Truncate(time.Second))
}

func fmtLifetime(t time.Duration) string {
	if t == Infinity {
		return "infinity"
	}
	return t.String()
}

func defaultNote(written *yaml.Node) string {
	if written == nil {
		return ", the default"
	}
	return ""
}

// domainKey is the form in which two domain names compare equal.
func domainKey(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

// mappingValue returns the value of key in mapping n.
func mappingValue(n *yaml.Node, key string) (*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], true
		}
	}
	return nil, false
}

func (d *decoder) dhcpv6Pools(n *yaml.Node, path string, s *dhcpv6Section) {
	d.sequence(n, path, func(i int, v *yaml.Node, p string) {
		var pool DHCPv6Pool
		var startN, endN *yaml.Node
		before := len(d.errs)
		d.mapping(v, p, fields{
			"start": func(k, v *yaml.Node, p string) {
				if a, ok := d.ipv6Addr(v, p); ok {
					pool.Start, startN = a, v
				}
			},
			"end": func(k, v *yaml.Node, p string) {
				if a, ok := d.ipv6Addr(v, p); ok {
					pool.End, endN = a, v
				}
			},
		})
		if len(d.errs) != before {
			return
		}
		if v.Kind != yaml.MappingNode {
			d.errorf(v, p, "must be a mapping {start, end}, got %s", kindName(v))
			return
		}
		if startN == nil {
			d.errorf(v, p+".start", "missing")
		}
		if endN == nil {
			d.errorf(v, p+".end", "missing")
		}
		if startN == nil || endN == nil {
			return
		}
		if pool.End.Less(pool.Start) {
			d.errorf(endN, p+".end", "must not be below start (%s)", pool.Start)
			return
		}
		for j, q := range s.cfg.Pools {
			if !pool.End.Less(q.Start) && !q.End.Less(pool.Start) {
				d.errorf(v, p, "overlaps %s (%s-%s)", s.pools[j].path, q.Start, q.End)
				return
			}
		}
		s.cfg.Pools = append(s.cfg.Pools, pool)
		s.pools = append(s.pools, nodeAt{v, p})
		s.poolStart = append(s.poolStart, nodeAt{startN, p + ".start"})
		s.poolEnd = append(s.poolEnd, nodeAt{endN, p + ".end"})
	})
}

func (d *decoder) dhcpv6Hosts(n *yaml.Node, path string, s *dhcpv6Section) {
	addrs := map[netip.Addr]string{}
	ids := map[string]string{} // "mac "+MAC or "duid "+DUID → path
	d.sequence(n, path, func(i int, v *yaml.Node, p string) {
		var h DHCPv6Host
		var macN, duidN, addrN *yaml.Node
		var macP, duidP string
		before := len(d.errs)
		d.mapping(v, p, fields{
			"mac": func(k, v *yaml.Node, p string) {
				s, ok := d.str(v, p)
				if !ok {
					return
				}
				mac, err := net.ParseMAC(s)
				if err != nil || len(mac) != 6 {
					d.errorf(v, p, "must be a 48-bit MAC address such as \"fa:16:3e:33:33:33\", got %q", s)
					return
				}
				if mac[0]&1 != 0 {
					d.errorf(v, p, "%s is a multicast MAC address, not a client's", mac)
					return
				}
				h.MAC, macN, macP = mac, v, p
			},
			"duid": func(k, v *yaml.Node, p string) {
				s, ok := d.str(v, p)
				if !ok {
					return
				}
				duid, ok := parseHexBytes(s)
				if !ok || len(duid) < minDUIDLen || len(duid) > maxDUIDLen {
					d.errorf(v, p, "must be %d to %d hex bytes separated by colons such as \"00:03:00:01:fa:16:3e:44:44:44\" (RFC 8415 §11), got %q", minDUIDLen, maxDUIDLen, s)
					return
				}
				h.DUID, duidN, duidP = duid, v, p
			},
			"address": func(k, v *yaml.Node, p string) {
				if a, ok := d.ipv6Addr(v, p); ok {
					h.Address, addrN = a, v
				}
			},
			"hostname": func(k, v *yaml.Node, p string) {
				s, ok := d.str(v, p)
				if !ok {
					return
				}
				if !ValidDomain(s) {
					d.errorf(v, p, "invalid host name %q", s)
					return
				}
				h.Hostname = s
			},
		})
		if len(d.errs) != before {
			return
		}
		if v.Kind != yaml.MappingNode {
			d.errorf(v, p, "must be a mapping {mac or duid, address, hostname}, got %s", kindName(v))
			return
		}
		switch {
		case macN == nil && duidN == nil:
			d.errorf(v, p, "needs mac or duid")
		case macN != nil && duidN != nil:
			second := macN
			if duidN.Line > macN.Line || duidN.Line == macN.Line && duidN.Column > macN.Column {
				second = duidN
			}
			d.errorf(second, p, "takes mac or duid, not both")
		}
		if addrN == nil {
			d.errorf(v, p+".address", "missing")
		}
		if len(d.errs) != before {
			return
		}
		id, idN, idP := "mac "+h.MAC.String(), macN, macP
		if duidN != nil {
			id, idN, idP = "duid "+fmt.Sprintf("% x", h.DUID), duidN, duidP
		}
		if prev, dup := ids[id]; dup {
			d.errorf(idN, idP, "%s is already reserved at %s", idN.Value, prev)
			return
		}
		if prev, dup := addrs[h.Address]; dup {
			d.errorf(addrN, p+".address", "%s is already reserved at %s", h.Address, prev)
			return
		}
		ids[id], addrs[h.Address] = idP, p+".address"
		s.cfg.Hosts = append(s.cfg.Hosts, h)
		s.hosts = append(s.hosts, nodeAt{addrN, p + ".address"})
	})
}

// parseHexBytes parses colon-separated pairs of hex digits ("00:03:00:01").
func parseHexBytes(s string) ([]byte, bool) {
	parts := strings.Split(s, ":")
	b := make([]byte, len(parts))
	for i, p := range parts {
		if len(p) != 2 {
			return nil, false
		}
		var v byte
		for _, r := range p {
			switch {
			case r >= '0' && r <= '9':
				v = v<<4 | byte(r-'0')
			case r >= 'a' && r <= 'f':
				v = v<<4 | byte(r-'a'+10)
			case r >= 'A' && r <= 'F':
				v = v<<4 | byte(r-'A'+10)
			default:
				return nil, false
			}
		}
		b[i] = v
	}
	return b, true
}

// checkDHCPv6 checks a dhcpv6 section against the rest of its interface
// and resolves what the section implies for it: the DNS defaults and the
// RA flags of the mode (DESIGN §4.1).
func (d *decoder) checkDHCPv6(ifc *Interface, s *dhcpv6Section, adv advertiseNodes) {
	c := s.cfg
	if ifc.Role == RoleUpstream {
		d.errorf(s.key, s.path, "only on role downstream (%s is upstream)", ifc.Name)
		return
	}
	if ifc.Delegated != nil {
		d.checkSuffixes(ifc, s)
	} else {
		d.checkAddresses(ifc, s)
	}
	a := ifc.Advertise
	if a == nil {
		return
	}
	if !s.dnsWritten {
		seen := map[netip.Addr]bool{}
		for _, r := range a.RDNSS {
			for _, srv := range r.Servers {
				if !seen[srv] {
					seen[srv] = true
					c.DNSServers = append(c.DNSServers, srv)
				}
			}
		}
	}
	if !s.domainsWritten {
		seen := map[string]bool{}
		for _, l := range a.DNSSL {
			for _, dom := range l.Domains {
				if !seen[domainKey(dom)] {
					seen[domainKey(dom)] = true
					c.Domains = append(c.Domains, dom)
				}
			}
		}
	}
	switch c.Mode {
	case DHCPv6Stateless:
		if adv.otherConfig != nil && !a.OtherConfig {
			d.errorf(adv.otherConfig.node, adv.otherConfig.path, "must be true (or left out) with dhcpv6 mode stateless, got false")
		}
		a.OtherConfig = true
	case DHCPv6Stateful:
		if adv.managed != nil && !a.Managed {
			d.errorf(adv.managed.node, adv.managed.path, "must be true (or left out) with dhcpv6 mode stateful, got false")
		}
		if adv.otherConfig != nil && !a.OtherConfig {
			d.errorf(adv.otherConfig.node, adv.otherConfig.path, "must be true (or left out) with dhcpv6 mode stateful, got false")
		}
		a.Managed, a.OtherConfig = true, true
		for i := range a.Prefixes {
			if !a.Prefixes[i].AutonomousSet {
				a.Prefixes[i].Autonomous = false
			}
		}
	}
}

// checkAddresses checks the pools and hosts of an interface with static
// addresses: full addresses, on-link, none of them the router's own.
func (d *decoder) checkAddresses(ifc *Interface, s *dhcpv6Section) {
	c := s.cfg
	for i, pool := range c.Pools {
		if d.notSuffix(pool.Start, s.poolStart[i], ifc) || d.notSuffix(pool.End, s.poolEnd[i], ifc) {
			continue
		}
		d.onLink(ifc, pool.Start, pool.End, s.pools[i])
		for _, a := range ifc.Addresses {
			if !a.Addr().Less(pool.Start) && !pool.End.Less(a.Addr()) {
				d.errorf(s.pools[i].node, s.pools[i].path, "contains the interface's own address %s", a.Addr())
			}
		}
	}
	for i, h := range c.Hosts {
		if d.notSuffix(h.Address, s.hosts[i], ifc) {
			continue
		}
		d.onLink(ifc, h.Address, h.Address, s.hosts[i])
		for _, a := range ifc.Addresses {
			if a.Addr() == h.Address {
				d.errorf(s.hosts[i].node, s.hosts[i].path, "%s is the interface's own address", h.Address)
			}
		}
	}
}

// notSuffix reports a suffix written on an interface that is not delegated.
func (d *decoder) notSuffix(a netip.Addr, at nodeAt, ifc *Interface) bool {
	if !isSuffix(a) {
		return false
	}
	d.errorf(at.node, at.path, "%s is an interface-identifier suffix, which only a delegated interface takes; write a full address of a prefix of interfaces.%s.addresses", a, ifc.Name)
	return true
}

// checkSuffixes checks the pools and hosts of a delegated interface: they
// are interface identifiers applied to the delegated /64 at run time, so
// they are written with the upper 64 bits zero ("::1000"), and none of them
// is the router's own ::1.
func (d *decoder) checkSuffixes(ifc *Interface, s *dhcpv6Section) {
	c := s.cfg
	for i, pool := range c.Pools {
		okS := d.suffix(pool.Start, s.poolStart[i])
		okE := d.suffix(pool.End, s.poolEnd[i])
		if okS && okE && !routerSuffix.Less(pool.Start) && !pool.End.Less(routerSuffix) {
			d.errorf(s.pools[i].node, s.pools[i].path, "contains ::1, the router's own address in the delegated /64")
		}
	}
	for i, h := range c.Hosts {
		if d.suffix(h.Address, s.hosts[i]) && h.Address == routerSuffix {
			d.errorf(s.hosts[i].node, s.hosts[i].path, "::1 is the router's own address in the delegated /64")
		}
	}
}

// suffix reports a full address written where a delegated interface takes
// an interface-identifier suffix.
func (d *decoder) suffix(a netip.Addr, at nodeAt) bool {
	if isSuffix(a) {
		return true
	}
	d.errorf(at.node, at.path, "a delegated interface takes interface identifiers applied to its delegated /64 (upper 64 bits zero, such as \"::1000\"), got %s", a)
	return false
}

// onLink reports a pool (lo..hi) or a reservation (lo == hi) that is not on
// the interface's link: inside one /64 (or shorter) prefix of its addresses.
func (d *decoder) onLink(ifc *Interface, lo, hi netip.Addr, at nodeAt) {
	for _, p := range ifc.Addresses {
		if p.Bits() <= 64 && p.Masked().Contains(lo) && p.Masked().Contains(hi) {
			return
		}
	}
	what := lo.String()
	if lo != hi {
		what = fmt.Sprintf("pool %s-%s", lo, hi)
	}
	if len(ifc.Addresses) == 0 {
		d.errorf(at.node, at.path, "%s is not on-link: interfaces.%s has no addresses", what, ifc.Name)
		return
	}
	d.errorf(at.node, at.path, "%s is not on-link: not inside one /64 (or shorter) prefix of interfaces.%s.addresses", what, ifc.Name)
}
