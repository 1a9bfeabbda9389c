package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vrouter/vrouter/internal/ifname"
)

// Infinity is the lifetime value 0xffffffff seconds (RFC 4861 §4.6.2),
// written "infinity" in the config.
const Infinity = time.Duration(math.MaxUint32) * time.Second

// RFC 4861 §6.2.1 and §10 limits.
const (
	minMaxInterval     = 4 * time.Second
	maxMaxInterval     = 1800 * time.Second
	minMinInterval     = 3 * time.Second
	maxRouterLifetime  = MaxRouterLifetime
	maxReachableTime   = 3600 * time.Second
	defaultMaxInterval = 600 * time.Second
	minLinkMTU         = 1280
	maxLinkMTU         = 65535
)

// decoder walks a yaml.Node tree, collecting every problem with its position.
type decoder struct {
	file      string
	errs      Errors
	addrNodes []addrNode
	pos       positions
	// ifaceKeys holds every interface name written (valid or not), so that
	// cross-checks say nothing about one that has errors of its own.
	ifaceKeys   map[string]bool
	delegations []*delegation
	haSec       *haSection
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

func parse(name string, data []byte) (*Config, error) {
	d := &decoder{file: name, ifaceKeys: map[string]bool{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := 1, err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			if m[1] != "" {
				line, _ = strconv.Atoi(m[1])
			}
			msg = m[2]
		}
		return nil, Errors{{File: name, Line: line, Col: 1, Msg: "invalid YAML: " + msg}}
	}
	cfg := &Config{Source: name}
	if len(doc.Content) == 0 {
		return cfg, nil // an empty file configures nothing
	}
	d.config(doc.Content[0], cfg)
	cfg.Positions = Positions{d.pos}
	d.crossCheck(cfg)
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	return cfg, nil
}

// fields maps a key to its handler; mapping reports unknown and duplicate keys.
type fields map[string]func(key, val *yaml.Node, path string)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) mapping(n *yaml.Node, path string, fs fields) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, p, "duplicate key")
			continue
		}
		seen[k.Value] = true
		d.at(p, k, v)
		h, ok := fs[k.Value]
		if !ok {
			d.errorf(k, p, "unknown field (allowed: %s)", allowed(fs))
			continue
		}
		h(k, v, p)
	}
}

func allowed(fs fields) string {
	names := make([]string, 0, len(fs))
	for k := range fs {
		names = append(names, k)
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%s %s", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "nothing"
}

func (d *decoder) sequence(n *yaml.Node, path string, each func(i int, v *yaml.Node, path string)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list, got %s", kindName(n))
		return
	}
	for i, v := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.at(p, v, v)
		each(i, v, p)
	}
}

func (d *decoder) scalar(n *yaml.Node, path, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "must be %s, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	s, ok := d.scalar(n, path, "a string")
	if ok && n.Tag != "!!str" {
		d.errorf(n, path, "must be a string, got %s", kindName(n))
		return "", false
	}
	return s, ok
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, path, "must be true or false, got %s", kindName(n))
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(n.Value))
	if err != nil {
		d.errorf(n, path, "must be true or false, got %q", n.Value)
		return false, false
	}
	return b, true
}

func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, path, "must be an integer, got %s", kindName(n))
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil || v < lo || v > hi {
		d.errorf(n, path, "must be between %d and %d, got %s", lo, hi, n.Value)
		return 0, false
	}
	return v, true
}

// duration parses a Go duration ("600s", "10m") or "infinity".
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := d.scalar(n, path, `a duration such as "600s"`)
	if !ok {
		return 0, false
	}
	if strings.EqualFold(s, "infinity") {
		return Infinity, true
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			d.errorf(n, path, "must be a duration with a unit, e.g. %ss", s)
		} else {
			d.errorf(n, path, "must be a duration such as \"600s\" or \"10m\", got %q", s)
		}
		return 0, false
	}
	if v < 0 {
		d.errorf(n, path, "must not be negative, got %s", s)
		return 0, false
	}
	if v%time.Second != 0 {
		d.errorf(n, path, "must be a whole number of seconds, got %s", s)
		return 0, false
	}
	if v > Infinity {
		d.errorf(n, path, "must be at most 4294967295s or \"infinity\", got %s", s)
		return 0, false
	}
	return v, true
}

// ipv6Prefix parses a network prefix (no host bits) of an IPv6 address.
func (d *decoder) ipv6Prefix(n *yaml.Node, path string) (netip.Prefix, bool) {
	s, ok := d.scalar(n, path, "an IPv6 prefix such as 2001:db8::/64")
	if !ok {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		d.errorf(n, path, "invalid IPv6 prefix %q", s)
		return netip.Prefix{}, false
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		d.errorf(n, path, "%s is not an IPv6 prefix", s)
		return netip.Prefix{}, false
	}
	if p.Addr().Zone() != "" {
		d.errorf(n, path, "%s: a prefix takes no zone", s)
		return netip.Prefix{}, false
	}
	if m := p.Masked(); m != p {
		d.errorf(n, path, "%s has host bits set (did you mean %s?)", s, m)
		return netip.Prefix{}, false
	}
	return p, true
}

// ifaceAddr parses an interface address with prefix length.
func (d *decoder) ifaceAddr(n *yaml.Node, path string) (netip.Prefix, bool) {
	s, ok := d.scalar(n, path, "an IPv6 address with prefix length such as 2001:db8::1/64")
	if !ok {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if _, aerr := netip.ParseAddr(s); aerr == nil {
			d.errorf(n, path, "%s needs a prefix length, e.g. %s/64", s, s)
		} else {
			d.errorf(n, path, "invalid IPv6 address %q", s)
		}
		return netip.Prefix{}, false
	}
	a := p.Addr()
	switch {
	case !a.Is6() || a.Is4In6():
		d.errorf(n, path, "%s is not an IPv6 address", s)
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
		d.errorf(n, path, "%s is not a unicast address", s)
	case a.Zone() != "":
		d.errorf(n, path, "%s: an address takes no zone", s)
	default:
		return p, true
	}
	return netip.Prefix{}, false
}

func (d *decoder) ipv6Addr(n *yaml.Node, path string) (netip.Addr, bool) {
	s, ok := d.scalar(n, path, "an IPv6 address")
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		d.errorf(n, path, "invalid IPv6 address %q", s)
		return netip.Addr{}, false
	}
	if a.IsUnspecified() || a.IsMulticast() {
		d.errorf(n, path, "%s is not a unicast address", s)
		return netip.Addr{}, false
	}
	return a, true
}

func (d *decoder) preference(n *yaml.Node, path string) (Preference, bool) {
	s, ok := d.scalar(n, path, "low, medium or high")
	if !ok {
		return "", false
	}
	switch p := Preference(s); p {
	case PreferenceLow, PreferenceMedium, PreferenceHigh:
		return p, true
	}
	d.errorf(n, path, "must be low, medium or high, got %q", s)
	return "", false
}

func (d *decoder) ifName(n *yaml.Node, path string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	if !ifname.Valid(s) {
		d.errorf(n, path, "invalid interface name %q (1-15 characters, no '/', ':' or spaces)", s)
		return "", false
	}
	return s, true
}

var dnsLabel = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$`)

// ValidDomain reports whether s (with or without the trailing dot) is a
// domain name a DNSSL option can carry: 1-253 characters, labels of 1-63
// letters, digits, '-' or '_', not starting or ending with '-'.
func ValidDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !dnsLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// --- the schema ---

func (d *decoder) config(n *yaml.Node, c *Config) {
	d.mapping(n, "", fields{
		"interfaces": func(k, v *yaml.Node, p string) { d.interfaces(v, p, c) },
		"forwarding": func(k, v *yaml.Node, p string) {
			if b, ok := d.boolean(v, p); ok {
				c.Forwarding = &b
			}
		},
		"ndproxy":  func(k, v *yaml.Node, p string) { d.ndproxies(v, p, c) },
		"fastpath": func(k, v *yaml.Node, p string) { d.fastpath(v, p, &c.Fastpath) },
		"metrics":  func(k, v *yaml.Node, p string) { d.metrics(v, p, &c.Metrics) },
		"ha": func(k, v *yaml.Node, p string) {
			d.haSec = d.ha(k, v, p)
			c.HA = d.haSec.cfg
		},
	})
}

// interfaces decodes the interfaces mapping; names are keys, so each
// handler is generated per key.
func (d *decoder) interfaces(n *yaml.Node, path string, c *Config) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of interface names, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, p, "duplicate interface")
			continue
		}
		seen[k.Value] = true
		d.at(p, k, v)
		d.ifaceKeys[k.Value] = true
		if !ifname.Valid(k.Value) || k.Tag != "!!str" {
			d.errorf(k, p, "invalid interface name %q (1-15 characters, no '/', ':' or spaces)", k.Value)
			continue
		}
		ifc := Interface{Name: k.Value}
		if d.iface(k, v, p, &ifc) {
			c.Interfaces = append(c.Interfaces, ifc)
		}
	}
}

func (d *decoder) iface(key, n *yaml.Node, path string, ifc *Interface) bool {
	before := len(d.errs)
	var hasRole bool
	var advN advertiseNodes
	var dhcp *dhcpv6Section
	var pdKey, delegatedKey *yaml.Node
	d.mapping(n, path, fields{
		"role": func(k, v *yaml.Node, p string) {
			s, ok := d.scalar(v, p, "upstream or downstream")
			if !ok {
				return
			}
			hasRole = true
			switch r := Role(s); r {
			case RoleUpstream, RoleDownstream:
				ifc.Role = r
			default:
				d.errorf(v, p, "must be upstream or downstream, got %q", s)
			}
		},
		"addresses": func(k, v *yaml.Node, p string) {
			d.sequence(v, p, func(i int, e *yaml.Node, p string) {
				if a, ok := d.ifaceAddr(e, p); ok {
					ifc.Addresses = append(ifc.Addresses, a)
					d.addrNodes = append(d.addrNodes, addrNode{a, e, p, ifc.Name})
				}
			})
		},
		"mtu": func(k, v *yaml.Node, p string) {
			if m, ok := d.integer(v, p, 0, maxLinkMTU); ok {
				if m != 0 && m < minLinkMTU {
					d.errorf(v, p, "must be 0 (leave as is) or between %d and %d, got %d", minLinkMTU, maxLinkMTU, m)
					return
				}
				ifc.MTU = int(m)
			}
		},
		"advertise": func(k, v *yaml.Node, p string) {
			ifc.Advertise, advN = d.advertise(v, p)
		},
		"dhcpv6": func(k, v *yaml.Node, p string) {
			dhcp = d.dhcpv6(k, v, p)
			ifc.DHCPv6 = dhcp.cfg
		},
		"prefix_delegation": func(k, v *yaml.Node, p string) {
			ifc.PrefixDelegation, pdKey = d.prefixDelegation(v, p), k
		},
		"delegated": func(k, v *yaml.Node, p string) {
			ifc.Delegated, delegatedKey = d.delegated(ifc.Name, k, v, p).cfg, k
		},
	})
	if !hasRole && n.Kind == yaml.MappingNode {
		d.errorf(key, path+".role", "missing (upstream or downstream)")
	}
	if isNull(n) {
		d.errorf(key, path+".role", "missing (upstream or downstream)")
	}
	if pdKey != nil && ifc.Role == RoleDownstream {
		d.errorf(pdKey, path+".prefix_delegation", "only on role upstream (%s is downstream)", ifc.Name)
	}
	if delegatedKey != nil && ifc.Role == RoleUpstream {
		d.errorf(delegatedKey, path+".delegated", "only on role downstream (%s is upstream)", ifc.Name)
	}
	if dhcp != nil && ifc.Role != "" {
		d.checkDHCPv6(ifc, dhcp, advN)
	}
	return len(d.errs) == before
}

// advertiseNodes tells where RA flags were written explicitly (nil: not
// written), for the checks against the interface's dhcpv6 mode.
type advertiseNodes struct {
	managed, otherConfig *nodeAt
}

func (d *decoder) advertise(n *yaml.Node, path string) (*Advertise, advertiseNodes) {
	a := &Advertise{Preference: PreferenceMedium, HopLimit: 64}
	var an advertiseNodes
	var minN, maxN, lifeN *yaml.Node
	var haveMin, haveLife bool
	a.MaxInterval = defaultMaxInterval
	d.mapping(n, path, fields{
		"min_interval": func(k, v *yaml.Node, p string) {
			if t, ok := d.duration(v, p); ok {
				a.MinInterval, minN, haveMin = t, v, true
			}
		},
		"max_interval": func(k, v *yaml.Node, p string) {
			if t, ok := d.duration(v, p); ok {
				if t < minMaxInterval || t > maxMaxInterval {
					d.errorf(v, p, "must be between 4s and 1800s (RFC 4861 §6.2.1), got %s", v.Value)
					return
				}
				a.MaxInterval, maxN = t, v
			}
		},
		"router_lifetime": func(k, v *yaml.Node, p string) {
			if t, ok := d.duration(v, p); ok {
				a.RouterLifetime, lifeN, haveLife = t, v, true
			}
		},
		"preference": func(k, v *yaml.Node, p string) {
			if pr, ok := d.preference(v, p); ok {
				a.Preference = pr
			}
		},
		"managed": func(k, v *yaml.Node, p string) {
			if b, ok := d.boolean(v, p); ok {
				a.Managed, an.managed = b, &nodeAt{v, p}
			}
		},
		"other_config": func(k, v *yaml.Node, p string) {
			if b, ok := d.boolean(v, p); ok {
				a.OtherConfig, an.otherConfig = b, &nodeAt{v, p}
			}
		},
		"hop_limit": func(k, v *yaml.Node, p string) {
			if h, ok := d.integer(v, p, 0, 255); ok {
				a.HopLimit = uint8(h)
			}
		},
		"reachable_time": func(k, v *yaml.Node, p string) {
			if t, ok := d.durationMax(v, p, maxReachableTime, "3600s (RFC 4861 §6.2.1)"); ok {
				a.ReachableTime = t
			}
		},
		"retrans_timer": func(k, v *yaml.Node, p string) {
			if t, ok := d.durationMax(v, p, 4294967295*time.Millisecond, "4294967295ms"); ok {
				a.RetransTimer = t
			}
		},
		"link_mtu": func(k, v *yaml.Node, p string) {
			if m, ok := d.integer(v, p, 0, maxLinkMTU); ok {
				if m != 0 && m < minLinkMTU {
					d.errorf(v, p, "must be 0 (no MTU option) or between %d and %d, got %d", minLinkMTU, maxLinkMTU, m)
					return
				}
				a.LinkMTU = int(m)
			}
		},
		"prefixes": func(k, v *yaml.Node, p string) { d.prefixes(v, p, a) },
		"routes":   func(k, v *yaml.Node, p string) { d.routes(v, p, a) },
		"rdnss":    func(k, v *yaml.Node, p string) { d.rdnss(v, p, a) },
		"dnssl":    func(k, v *yaml.Node, p string) { d.dnssl(v, p, a) },
		"pref64":   func(k, v *yaml.Node, p string) { d.pref64(v, p, a) },
		"captive_portal": func(k, v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				if msg := captivePortalProblem(s); msg != "" {
					d.errorf(v, p, "%s", msg)
					return
				}
				a.CaptivePortal = s
			}
		},
	})
	// Defaults and cross-field limits, RFC 4861 §6.2.1.
	if !haveMin {
		if a.MaxInterval >= 9*time.Second {
			a.MinInterval = (a.MaxInterval * 33 / 100).Truncate(time.Second)
		} else {
			a.MinInterval = (a.MaxInterval * 3 / 4).Truncate(time.Second)
		}
	} else if lim := a.MaxInterval * 3 / 4; a.MinInterval < minMinInterval || a.MinInterval > lim {
		d.errorf(minN, path+".min_interval", "must be between 3s and 0.75 * max_interval (%s) (RFC 4861 §6.2.1), got %s", lim, minN.Value)
	}
	if !haveLife {
		a.RouterLifetime = 3 * a.MaxInterval
		if a.RouterLifetime > maxRouterLifetime {
			a.RouterLifetime = maxRouterLifetime
		}
	} else if a.RouterLifetime != 0 && (a.RouterLifetime < a.MaxInterval || a.RouterLifetime > maxRouterLifetime) {
		d.errorf(lifeN, path+".router_lifetime", "must be 0 or between max_interval (%s) and 9000s (RFC 4861 §6.2.1), got %s", a.MaxInterval, lifeN.Value)
	}
	_ = maxN
	def := 3 * a.MaxInterval
	for i := range a.Routes {
		if a.Routes[i].Lifetime < 0 {
			a.Routes[i].Lifetime = def
		}
	}
	for i := range a.RDNSS {
		if a.RDNSS[i].Lifetime < 0 {
			a.RDNSS[i].Lifetime = def
		}
	}
	for i := range a.DNSSL {
		if a.DNSSL[i].Lifetime < 0 {
			a.DNSSL[i].Lifetime = def
		}
	}
	for i := range a.PREF64 {
		if a.PREF64[i].Lifetime < 0 {
			a.PREF64[i].Lifetime = min(def, maxPREF64Lifetime)
		}
	}
	return a, an
}

// maxPREF64Lifetime is the largest scaled lifetime of RFC 8781 §4 (8191
// units of 8 seconds).
const maxPREF64Lifetime = 65528 * time.Second

// captivePortalURN is the RFC 8910 §2 URI for "no captive portal".
const captivePortalURN = "urn:ietf:params:capport:unrestricted"

// captivePortalProblem returns what is wrong with a captive portal URI, or
// "". RFC 8910 §2: an https URI of the RFC 8908 API (no IP literal), or the
// "unrestricted" URN; the option length limits it to 2038 bytes.
func captivePortalProblem(s string) string {
	if s == captivePortalURN {
		return ""
	}
	if len(s) > 2038 {
		return fmt.Sprintf("must be at most 2038 bytes, got %d", len(s))
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Sprintf("must be an https:// URI or %q, got %q", captivePortalURN, s)
	}
	if _, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		return fmt.Sprintf("must name a host, not an IP address (RFC 8910 §2), got %q", s)
	}
	return ""
}

func (d *decoder) pref64(n *yaml.Node, path string, a *Advertise) {
	d.sequence(n, path, func(i int, v *yaml.Node, p string) {
		r := PREF64{Lifetime: -1}
		var have bool
		before := len(d.errs)
		d.mapping(v, p, fields{
			"prefix": func(k, v *yaml.Node, p string) {
				pp, ok := d.ipv6Prefix(v, p)
				if !ok {
					return
				}
				switch pp.Bits() {
				case 32, 40, 48, 56, 64, 96:
					r.Prefix, have = pp, true
				default:
					d.errorf(v, p, "prefix length must be 32, 40, 48, 56, 64 or 96 (RFC 8781 §4), got /%d", pp.Bits())
				}
			},
			"lifetime": func(k, v *yaml.Node, p string) {
				if t, ok := d.duration(v, p); ok {
					if t > maxPREF64Lifetime {
						d.errorf(v, p, "must be at most 65528s (RFC 8781 §4), got %s", v.Value)
						return
					}
					r.Lifetime = t
				}
			},
		})
		if !have && len(d.errs) == before && v.Kind == yaml.MappingNode {
			d.errorf(v, p+".prefix", "missing")
		}
		if have && len(d.errs) == before {
			a.PREF64 = append(a.PREF64, r)
		}
	})
}

func (d *decoder) durationMax(n *yaml.Node, path string, max time.Duration, maxText string) (time.Duration, bool) {
	s, ok := d.scalar(n, path, `a duration such as "30s"`)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.errorf(n, path, "must be a duration such as \"30s\" or \"500ms\", got %q", s)
		return 0, false
	}
	if v > max {
		d.errorf(n, path, "must be at most %s, got %s", maxText, s)
		return 0, false
	}
	if v%time.Millisecond != 0 {
		d.errorf(n, path, "must be a whole number of milliseconds, got %s", s)
		return 0, false
	}
	return v, true
}

func (d *decoder) prefixes(n *yaml.Node, path string, a *Advertise) {
	seen := map[netip.Prefix]string{}
	d.sequence(n, path, func(i int, v *yaml.Node, p string) {
		pi := Prefix{OnLink: true, Autonomous: true, ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second}
		var havePrefix, ok = false, true
		var prefN, prefLifeN *yaml.Node
		before := len(d.errs)
		d.mapping(v, p, fields{
			"prefix": func(k, v *yaml.Node, p string) {
				pi.Prefix, havePrefix = d.ipv6Prefix(v, p)
				prefN = v
				if havePrefix {
					if prev, dup := seen[pi.Prefix]; dup {
						d.errorf(v, p, "%s is already advertised at %s", pi.Prefix, prev)
					}
					seen[pi.Prefix] = p
				}
			},
			"on_link":             func(k, v *yaml.Node, p string) { pi.OnLink, _ = d.boolean(v, p) },
			"decrement_lifetimes": func(k, v *yaml.Node, p string) { pi.DecrementLifetimes, _ = d.boolean(v, p) },
			"autonomous":          func(k, v *yaml.Node, p string) { pi.Autonomous, pi.AutonomousSet = d.boolean(v, p) },
			"valid_lifetime": func(k, v *yaml.Node, p string) {
				if t, ok := d.duration(v, p); ok {
					pi.ValidLifetime = t
				}
			},
			"preferred_lifetime": func(k, v *yaml.Node, p string) {
				if t, ok := d.duration(v, p); ok {
					pi.PreferredLifetime, prefLifeN = t, v
				}
			},
		})
		if !havePrefix && len(d.errs) == before && v.Kind == yaml.MappingNode {
			d.errorf(v, p+".prefix", "missing")
		}
		if havePrefix && pi.Auto() && pi.Prefix.Bits() != 64 {
			d.errorf(prefN, p+".prefix", "only ::/64 may stand for the interface's prefixes, got %s", pi.Prefix)
			ok = false
		}
		if pi.PreferredLifetime > pi.ValidLifetime {
			n := prefLifeN
			if n == nil {
				n = v
			}
			d.errorf(n, p+".preferred_lifetime", "must not exceed valid_lifetime (%s), got %s", pi.ValidLifetime, pi.PreferredLifetime)
			ok = false
		}
		if pi.DecrementLifetimes && (pi.ValidLifetime == Infinity || pi.PreferredLifetime == Infinity) {
			d.errorf(v, p+".decrement_lifetimes", "needs finite valid_lifetime and preferred_lifetime")
			ok = false
		}
		if havePrefix && ok && len(d.errs) == before {
			a.Prefixes = append(a.Prefixes, pi)
		}
	})
}

func (d *decoder) routes(n *yaml.Node, path string, a *Advertise) {
	d.sequence(n, path, func(i int, v *yaml.Node, p string) {
		r := Route{Preference: PreferenceMedium, Lifetime: -1}
		var have bool
		before := len(d.errs)
		d.mapping(v, p, fields{
			"prefix":     func(k, v *yaml.Node, p string) { r.Prefix, have = d.ipv6Prefix(v, p) },
			"preference": func(k, v *yaml.Node, p string) { r.Preference, _ = d.preference(v, p) },
			"lifetime": func(k, v *yaml.Node, p string) {
				if t, ok := d.duration(v, p); ok {
					r.Lifetime = t
				}
			},
		})
		if !have && len(d.errs) == before && v.Kind == yaml.MappingNode {
			d.errorf(v, p+".prefix", "missing")
		}
		if have && len(d.errs) == before {
			a.Routes = append(a.Routes, r)
		}
	})
}

func (d *decoder) rdnss(n *yaml.Node, path string, a *Advertise) {
	d.sequence(n, path, func(i int, v *yaml.Node, p string) {
		r := RDNSS{Lifetime: -1}
		before := len(d.errs)
		d.mapping(v, p, fields{
			"servers": func(k, v *yaml.Node, p string) {
				d.sequence(v, p, func(i int, e *yaml.Node, p string) {
					if s, ok := d.ipv6Addr(e, p); ok {
						r.Servers = append(r.Servers, s)
					}
				})
			},
			"lifetime": func(k, v *yaml.Node, p string) {
				if t, ok := d.duration(v, p); ok {
					r.Lifetime = t
				}
			},
		})
		if len(r.Servers) == 0 && len(d.errs) == before {
			d.errorf(v, p+".servers", "at least one server is required")
		}
		if len(d.errs) == before {
			a.RDNSS = append(a.RDNSS, r)
		}
	})
}

func (d *decoder) dnssl(n *yaml.Node, path string, a *Advertise) {
	d.sequence(n, path, func(i int, v *yaml.Node, p string) {
		r := DNSSL{Lifetime: -1}
		before := len(d.errs)
		d.mapping(v, p, fields{
			"domains": func(k, v *yaml.Node, p string) {
				d.sequence(v, p, func(i int, e *yaml.Node, p string) {
					s, ok := d.str(e, p)
					if !ok {
						return
					}
					if !ValidDomain(s) {
						d.errorf(e, p, "invalid domain name %q", s)
						return
					}
					r.Domains = append(r.Domains, s)
				})
			},
			"lifetime": func(k, v *yaml.Node, p string) {
				if t, ok := d.duration(v, p); ok {
					r.Lifetime = t
				}
			},
		})
		if len(r.Domains) == 0 && len(d.errs) == before {
			d.errorf(v, p+".domains", "at least one domain is required")
		}
		if len(d.errs) == before {
			a.DNSSL = append(a.DNSSL, r)
		}
	})
}

func (d *decoder) ndproxies(n *yaml.Node, path string, c *Config) {
	d.sequence(n, path, func(i int, v *yaml.Node, p string) {
		np := NDProxy{Mode: NDProxyStatic}
		before := len(d.errs)
		var haveUp, haveDown, havePrefix bool
		var downN *yaml.Node
		d.mapping(v, p, fields{
			"upstream":   func(k, v *yaml.Node, p string) { np.Upstream, haveUp = d.ifName(v, p) },
			"downstream": func(k, v *yaml.Node, p string) { np.Downstream, haveDown = d.ifName(v, p); downN = v },
			"prefix":     func(k, v *yaml.Node, p string) { np.Prefix, havePrefix = d.ipv6Prefix(v, p) },
			"mode": func(k, v *yaml.Node, p string) {
				s, ok := d.scalar(v, p, "static or auto")
				if !ok {
					return
				}
				switch m := NDProxyMode(s); m {
				case NDProxyStatic, NDProxyAuto:
					np.Mode = m
				default:
					d.errorf(v, p, "must be static or auto, got %q", s)
				}
			},
			"router":             func(k, v *yaml.Node, p string) { np.Router, _ = d.boolean(v, p) },
			"answer_from_target": func(k, v *yaml.Node, p string) { np.AnswerFromTarget, _ = d.boolean(v, p) },
		})
		if clean := len(d.errs) == before; clean && v.Kind == yaml.MappingNode {
			for _, m := range []struct {
				have bool
				name string
			}{{haveUp, "upstream"}, {haveDown, "downstream"}, {havePrefix, "prefix"}} {
				if !m.have {
					d.errorf(v, p+"."+m.name, "missing")
				}
			}
		}
		if haveUp && haveDown && np.Upstream == np.Downstream {
			d.errorf(downN, p+".downstream", "must differ from upstream (%s)", np.Upstream)
		}
		if len(d.errs) == before {
			c.NDProxy = append(c.NDProxy, np)
		}
	})
}

func (d *decoder) fastpath(n *yaml.Node, path string, f *Fastpath) {
	d.mapping(n, path, fields{
		"enabled": func(k, v *yaml.Node, p string) { f.Enabled, _ = d.boolean(v, p) },
		"interfaces": func(k, v *yaml.Node, p string) {
			d.sequence(v, p, func(i int, e *yaml.Node, p string) {
				if s, ok := d.ifName(e, p); ok {
					f.Interfaces = append(f.Interfaces, s)
				}
			})
		},
		"cpus": func(k, v *yaml.Node, p string) {
			d.sequence(v, p, func(i int, e *yaml.Node, p string) {
				if c, ok := d.integer(e, p, 0, 4095); ok {
					f.CPUs = append(f.CPUs, int(c))
				}
			})
		},
		"io": func(k, v *yaml.Node, p string) {
			s, ok := d.str(v, p)
			if !ok {
				return
			}
			switch s {
			case FastpathIOAuto, FastpathIOXDP, FastpathIOAFXDP, FastpathIOPacket:
				f.IO = s
			default:
				d.errorf(v, p, "must be %q, %q, %q or %q, got %q", FastpathIOAuto, FastpathIOXDP, FastpathIOAFXDP, FastpathIOPacket, s)
			}
		},
	})
}

func (d *decoder) metrics(n *yaml.Node, path string, m *Metrics) {
	d.mapping(n, path, fields{
		"listen": func(k, v *yaml.Node, p string) {
			s, ok := d.str(v, p)
			if !ok || s == "" {
				return
			}
			if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
				d.errorf(v, p, "must be host:port such as \"[::1]:9430\", got %q", s)
				return
			}
			m.Listen = s
		},
	})
}

// addrNode remembers where an interface address was written, for the
// cross-interface duplicate check.
type addrNode struct {
	addr  netip.Prefix
	node  *yaml.Node
	path  string
	iface string
}

// crossCheck reports problems that span sections.
func (d *decoder) crossCheck(c *Config) {
	d.checkDelegations(c)
	if d.haSec != nil {
		d.checkHA(c, d.haSec)
	}
	first := map[netip.Addr]string{}
	for _, an := range d.addrNodes {
		a := an.addr.Addr()
		if prev, ok := first[a]; ok {
			d.errorf(an.node, an.path, "address %s is already configured at %s", a, prev)
			continue
		}
		first[a] = an.path
	}
}
