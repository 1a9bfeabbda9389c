package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vrouter/vrouter/internal/ifname"
	"go.yaml.in/yaml/v3"
)

// VRRPv3 limits (RFC 9568): the advertisement interval is a 12-bit count
// of centiseconds; priority 255 is the address owner.
const (
	minAdvertInterval     = 10 * time.Millisecond
	maxAdvertInterval     = 4095 * 10 * time.Millisecond
	defaultAdvertInterval = time.Second
	defaultHAPriority     = 100
	ownerPriority         = 255
)

// haSection keeps where the ha section was written, for crossCheck.
type haSection struct {
	cfg      *HA
	priority *nodeAt // nil unless written
	// ifaces[i] tells where cfg.Interfaces[i] was written: its name and
	// each virtual address.
	ifaces []haIfaceNodes
}

type haIfaceNodes struct {
	name nodeAt
	vips []nodeAt
}

func (d *decoder) ha(key, n *yaml.Node, path string) *haSection {
	h := &HA{Priority: defaultHAPriority, AdvertInterval: defaultAdvertInterval, Preempt: true}
	s := &haSection{cfg: h}
	var vridN, ifacesN *yaml.Node
	var ifacesClean bool
	d.mapping(n, path, fields{
		"vrid": func(k, v *yaml.Node, p string) {
			if id, ok := d.integer(v, p, 1, 255); ok {
				h.VRID = uint8(id)
			}
			vridN = v
		},
		"priority": func(k, v *yaml.Node, p string) {
			if pr, ok := d.integer(v, p, 1, 255); ok {
				h.Priority, s.priority = uint8(pr), &nodeAt{v, p}
			}
		},
		"advert_interval": func(k, v *yaml.Node, p string) {
			if t, ok := d.centiseconds(v, p); ok {
				h.AdvertInterval = t
			}
		},
		"preempt": func(k, v *yaml.Node, p string) {
			if b, ok := d.boolean(v, p); ok {
				h.Preempt = b
			}
		},
		"interfaces": func(k, v *yaml.Node, p string) {
			before := len(d.errs)
			d.haInterfaces(v, p, s)
			ifacesN, ifacesClean = k, len(d.errs) == before
		},
	})
	if isNull(n) || n.Kind == yaml.MappingNode {
		if vridN == nil {
			d.errorf(key, path+".vrid", "missing (1..255)")
		}
		switch {
		case ifacesN == nil:
			d.errorf(key, path+".interfaces", "at least one interface is required")
		case ifacesClean && len(h.Interfaces) == 0:
			d.errorf(ifacesN, path+".interfaces", "at least one interface is required")
		}
	}
	return s
}

// centiseconds parses the VRRP advertisement interval: a Go duration of
// 10ms..40.95s in whole centiseconds.
func (d *decoder) centiseconds(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := d.scalar(n, path, `a duration such as "100ms"`)
	if !ok {
		return 0, false
	}
	t, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			d.errorf(n, path, "must be a duration with a unit, e.g. %sms", s)
		} else {
			d.errorf(n, path, "must be a duration such as \"100ms\" or \"1s\", got %q", s)
		}
		return 0, false
	}
	if t < minAdvertInterval || t > maxAdvertInterval {
		d.errorf(n, path, "must be between 10ms and 40.95s (RFC 9568: 12 bits of centiseconds), got %s", s)
		return 0, false
	}
	if t%(10*time.Millisecond) != 0 {
		d.errorf(n, path, "must be a whole number of centiseconds (10ms steps), got %s", s)
		return 0, false
	}
	return t, true
}

func (d *decoder) haInterfaces(n *yaml.Node, path string, s *haSection) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of interface names, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	global := map[netip.Addr]string{} // non-link-local virtual address → path
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, p, "duplicate interface")
			continue
		}
		seen[k.Value] = true
		if !ifname.Valid(k.Value) || k.Tag != "!!str" {
			d.errorf(k, p, "invalid interface name %q (1-15 characters, no '/', ':' or spaces)", k.Value)
			continue
		}
		hi := HAInterface{Name: k.Value}
		nodes := haIfaceNodes{name: nodeAt{k, p}}
		before := len(d.errs)
		var haveVIPs bool
		d.mapping(v, p, fields{
			"virtual_addresses": func(_, v *yaml.Node, p string) {
				haveVIPs = true
				local := map[netip.Addr]string{}
				d.sequence(v, p, func(i int, e *yaml.Node, p string) {
					a, ok := d.virtualAddr(e, p)
					if !ok {
						return
					}
					if i == 0 && !a.Addr().IsLinkLocalUnicast() {
						d.errorf(e, p, "the first virtual address must be link-local (fe80::/10, RFC 9568), got %s", e.Value)
						return
					}
					if prev, dup := local[a.Addr()]; dup {
						d.errorf(e, p, "%s is already listed at %s", a.Addr(), prev)
						return
					}
					local[a.Addr()] = p
					if !a.Addr().IsLinkLocalUnicast() {
						if prev, dup := global[a.Addr()]; dup {
							d.errorf(e, p, "%s is already a virtual address at %s", a.Addr(), prev)
							return
						}
						global[a.Addr()] = p
					}
					hi.VirtualAddresses = append(hi.VirtualAddresses, a)
					nodes.vips = append(nodes.vips, nodeAt{e, p})
				})
			},
		})
		if len(d.errs) != before {
			continue
		}
		if len(hi.VirtualAddresses) == 0 {
			at := k
			if haveVIPs {
				at = v
			}
			d.errorf(at, p+".virtual_addresses", "at least one virtual address is required, the first link-local")
			continue
		}
		s.cfg.Interfaces = append(s.cfg.Interfaces, hi)
		s.ifaces = append(s.ifaces, nodes)
	}
}

// virtualAddr parses a virtual address with an optional prefix length; it
// defaults to /64 for a link-local address and /128 otherwise.
func (d *decoder) virtualAddr(n *yaml.Node, path string) (netip.Prefix, bool) {
	s, ok := d.scalar(n, path, "an IPv6 address such as fe80::1 or 2001:db8::1/64")
	if !ok {
		return netip.Prefix{}, false
	}
	var p netip.Prefix
	var err error
	var zone string
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil {
			bits := 128
			if a.IsLinkLocalUnicast() {
				bits = 64
			}
			p, zone = netip.PrefixFrom(a.WithZone(""), bits), a.Zone()
		}
	}
	a := p.Addr()
	switch {
	case err != nil && strings.Contains(s, "%") || zone != "":
		d.errorf(n, path, "%s: a virtual address takes no zone (its interface is the key)", s)
	case err != nil:
		d.errorf(n, path, "invalid IPv6 address %q", s)
	case !a.Is6() || a.Is4In6():
		d.errorf(n, path, "%s is not an IPv6 address", s)
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
		d.errorf(n, path, "%s is not a unicast address", s)
	default:
		return p, true
	}
	return netip.Prefix{}, false
}

// checkHA checks the ha section against the interfaces: each HA interface
// is one of them, and the virtual addresses are the interface's own exactly
// when the router is the address owner (priority 255).
func (d *decoder) checkHA(c *Config, s *haSection) {
	h := s.cfg
	for i, hi := range h.Interfaces {
		nodes := s.ifaces[i]
		ifc := c.Interface(hi.Name)
		if ifc == nil {
			if !d.ifaceKeys[hi.Name] {
				d.errorf(nodes.name.node, nodes.name.path, "%s is not an interface of this config", hi.Name)
			}
			continue
		}
		for j, vip := range hi.VirtualAddresses {
			a := vip.Addr()
			if a.IsLinkLocalUnicast() {
				continue
			}
			at := nodes.vips[j]
			own := false
			for _, an := range d.addrNodes {
				if an.addr.Addr() != a {
					continue
				}
				if an.iface != hi.Name {
					d.errorf(at.node, at.path, "%s is an address of another interface, at %s", a, an.path)
				}
				own = an.iface == hi.Name
			}
			switch {
			case h.Priority == ownerPriority && !own && s.priority != nil:
				d.errorf(s.priority.node, s.priority.path, "255 (address owner) needs every virtual address among its interface's addresses: %s is not in interfaces.%s.addresses", a, hi.Name)
			case h.Priority != ownerPriority && own:
				d.errorf(at.node, at.path, "%s is also in interfaces.%s.addresses: only the address owner (priority 255) may have it, else both routers would own it", a, hi.Name)
			}
		}
	}
}
