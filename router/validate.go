package router

import (
	"fmt"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/ifname"
)

// Validate returns the parts of cfg the reconciler would refuse on every
// pass (paths from the config root), for the daemon's one validation path:
// a config that passes it is configured whenever its links exist.
func Validate(cfg *config.Config) []config.Problem {
	var ps []config.Problem
	for _, ifc := range cfg.Interfaces {
		at := func(field string) string { return "interfaces." + ifc.Name + field }
		if err := ifname.Check(ifc.Name); err != nil {
			ps = append(ps, config.Problemf(at(""), "%v", err))
		}
		switch ifc.Role {
		case config.RoleUpstream, config.RoleDownstream, "":
		default:
			ps = append(ps, config.Problemf(at(".role"), "unknown role %q", ifc.Role))
		}
		if ifc.MTU != 0 && ifc.MTU < minIPv6MTU {
			ps = append(ps, config.Problemf(at(".mtu"), "mtu %d is below the IPv6 minimum %d", ifc.MTU, minIPv6MTU))
		}
		for i, p := range ifc.Addresses {
			if !validAddr(p) {
				ps = append(ps, config.Problemf(at(fmt.Sprintf(".addresses[%d]", i)), "address %s: not an IPv6 interface address", p))
			}
		}
	}
	return ps
}
