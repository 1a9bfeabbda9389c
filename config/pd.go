package config

import (
	"math"
	"net/netip"

	"go.yaml.in/yaml/v3"
)

// defaultPDLength is the prefix length asked for when prefix_delegation
// does not say (a /56 gives 256 /64s).
const defaultPDLength = 56

func (d *decoder) prefixDelegation(n *yaml.Node, path string) *PrefixDelegation {
	pd := &PrefixDelegation{Length: defaultPDLength}
	d.mapping(n, path, fields{
		"length": func(k, v *yaml.Node, p string) {
			l, ok := d.integer(v, p, math.MinInt64, math.MaxInt64)
			if !ok {
				return
			}
			if l < 0 || l > 64 {
				d.errorf(v, p, "must be 0 (ask without a hint) or between 1 and 64, got %s", v.Value)
				return
			}
			pd.Length = int(l)
		},
		"release_on_stop": func(k, v *yaml.Node, p string) { pd.ReleaseOnStop, _ = d.boolean(v, p) },
	})
	return pd
}

// delegation is a decoded delegated section with its positions, kept for
// crossCheck (its from names another interface).
type delegation struct {
	iface  string
	cfg    *Delegated
	key    *yaml.Node
	path   string
	from   *nodeAt // nil when missing or invalid
	subnet *nodeAt // nil when missing or invalid
}

func (d *decoder) delegated(ifName string, key, n *yaml.Node, path string) *delegation {
	dl := &delegation{iface: ifName, cfg: &Delegated{}, key: key, path: path}
	before := len(d.errs)
	d.mapping(n, path, fields{
		"from": func(k, v *yaml.Node, p string) {
			if s, ok := d.ifName(v, p); ok {
				dl.cfg.From, dl.from = s, &nodeAt{v, p}
			}
		},
		"subnet_id": func(k, v *yaml.Node, p string) {
			id, ok := d.integer(v, p, math.MinInt64, math.MaxInt64)
			if !ok {
				return
			}
			if id < 0 {
				d.errorf(v, p, "must be 0 or more, got %s", v.Value)
				return
			}
			dl.cfg.SubnetID, dl.subnet = uint64(id), &nodeAt{v, p}
		},
	})
	if len(d.errs) == before && (isNull(n) || n.Kind == yaml.MappingNode) {
		if dl.from == nil {
			d.errorf(key, path+".from", "missing (an upstream interface with prefix_delegation)")
		}
		if dl.subnet == nil {
			d.errorf(key, path+".subnet_id", "missing")
		}
	}
	d.delegations = append(d.delegations, dl)
	return dl
}

// checkDelegations checks each delegated section against the interface it
// takes its prefix from, and that no two take the same subnet.
func (d *decoder) checkDelegations(c *Config) {
	type subnet struct {
		from string
		id   uint64
	}
	taken := map[subnet]string{}
	for _, dl := range d.delegations {
		if dl.from == nil {
			continue
		}
		from := dl.cfg.From
		up := c.Interface(from)
		switch {
		case up == nil && !d.ifaceKeys[from]:
			d.errorf(dl.from.node, dl.from.path, "%s is not an interface of this config", from)
			continue
		case up == nil:
			continue // it has errors of its own
		case up.Role != RoleUpstream:
			d.errorf(dl.from.node, dl.from.path, "%s is not role upstream", from)
			continue
		case up.PrefixDelegation == nil:
			d.errorf(dl.from.node, dl.from.path, "%s has no prefix_delegation section", from)
			continue
		}
		if dl.subnet == nil {
			continue
		}
		if l := up.PrefixDelegation.Length; l != 0 && dl.cfg.SubnetID >= 1<<(64-l) {
			d.errorf(dl.subnet.node, dl.subnet.path, "must be below %d (%s asks for a /%d: 2^(64-%d) subnets of /64), got %d", uint64(1)<<(64-l), from, l, l, dl.cfg.SubnetID)
			continue
		}
		k := subnet{from, dl.cfg.SubnetID}
		if prev, dup := taken[k]; dup {
			d.errorf(dl.subnet.node, dl.subnet.path, "subnet %d of %s's delegated prefix is already taken by %s", k.id, from, prev)
			continue
		}
		taken[k] = dl.path
	}
}

// isSuffix reports whether a is an interface-identifier suffix (its upper
// 64 bits are zero), the form a delegated interface's pools and hosts take.
func isSuffix(a netip.Addr) bool {
	b := a.As16()
	return [8]byte(b[:8]) == [8]byte{}
}

// routerSuffix is the interface identifier vrouter adds to a delegated /64.
var routerSuffix = netip.MustParseAddr("::1")
