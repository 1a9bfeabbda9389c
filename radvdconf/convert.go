package radvdconf

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/ifname"
)

// Limits of the vrouter config that are narrower than radvd's.
const (
	maxMaxInterval    = 1800 // seconds, RFC 4861 §6.2.1
	minMaxInterval    = 4
	minMinInterval    = 3
	maxRouterLifetime = 9000 // seconds, RFC 4861 §6.2.1
	maxPREF64Lifetime = 65528
	infinity          = math.MaxUint32
)

// Convert parses a radvd.conf and returns the equivalent vrouter config in
// YAML. name is used in error positions. The error is an Errors listing
// every option that cannot be carried over, with its position.
func Convert(name string, src []byte) ([]byte, error) {
	stmts, err := Parse(name, src)
	if err != nil {
		return nil, err
	}
	c := &converter{file: name}
	var out []iface
	seen := map[string]Pos{}
	for _, s := range stmts {
		if !strings.EqualFold(s.Name, "interface") {
			c.errorf(s.Pos, "%s: expected an interface section", s.Name)
			continue
		}
		if len(s.Args) != 1 || !s.Block {
			c.errorf(s.Pos, "interface: expected `interface NAME { ... };`")
			continue
		}
		n := s.Args[0]
		if !ifname.Valid(n.Text) {
			c.errorf(n.Pos, "interface %q: invalid name (1-15 characters, no '/', ':' or spaces)", n.Text)
			continue
		}
		if prev, dup := seen[n.Text]; dup {
			c.errorf(n.Pos, "interface %s: already defined at %d:%d", n.Text, prev.Line, prev.Col)
			continue
		}
		seen[n.Text] = n.Pos
		if ifc, ok := c.iface(s); ok {
			out = append(out, ifc)
		}
	}
	if len(stmts) == 0 {
		c.errorf(Pos{1, 1}, "no interface sections")
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	y := emit(name, out)
	// What we write must be a valid vrouter config; anything else is a bug
	// here, reported rather than handed to the operator.
	if _, err := config.Parse("converted", y); err != nil {
		return nil, Errors{{name, Pos{1, 1}, "converted config is not valid, please report: " + strings.ReplaceAll(err.Error(), "\n", "; ")}}
	}
	return y, nil
}

type iface struct {
	name      string
	advertise *config.Advertise // nil: AdvSendAdvert off
	notes     []string
}

type converter struct {
	file string
	errs Errors
}

func (c *converter) errorf(p Pos, format string, args ...any) {
	c.errs = append(c.errs, &Error{c.file, p, fmt.Sprintf(format, args...)})
}

// unsupported reports an option vrouter cannot reproduce.
func (c *converter) unsupported(s Stmt, why string) {
	c.errorf(s.Pos, "%s cannot be carried over: %s", s.Name, why)
}

// arg1 returns the only argument of an option.
func (c *converter) arg1(s Stmt) (Arg, bool) {
	if len(s.Args) != 1 || s.Block {
		c.errorf(s.Pos, "%s: expected one value", s.Name)
		return Arg{}, false
	}
	return s.Args[0], true
}

func (c *converter) onOff(s Stmt) (bool, bool) {
	a, ok := c.arg1(s)
	if !ok {
		return false, false
	}
	switch strings.ToLower(a.Text) {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	c.errorf(a.Pos, "%s: expected on or off, got %q", s.Name, a.Text)
	return false, false
}

// mustBe accepts an on/off option only with the value vrouter implements.
func (c *converter) mustBe(s Stmt, want bool, why string) {
	if v, ok := c.onOff(s); ok && v != want {
		c.unsupported(s, why)
	}
}

func (c *converter) number(s Stmt, lo, hi uint64) (uint64, bool) {
	a, ok := c.arg1(s)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(a.Text, 10, 64)
	if err != nil || v < lo || v > hi {
		c.errorf(a.Pos, "%s: expected an integer from %d to %d, got %q", s.Name, lo, hi, a.Text)
		return 0, false
	}
	return v, true
}

// lifetime parses seconds or "infinity".
func (c *converter) lifetime(s Stmt) (time.Duration, bool) {
	a, ok := c.arg1(s)
	if !ok {
		return 0, false
	}
	if strings.EqualFold(a.Text, "infinity") {
		return config.Infinity, true
	}
	v, err := strconv.ParseUint(a.Text, 10, 32)
	if err != nil {
		c.errorf(a.Pos, "%s: expected seconds or infinity, got %q", s.Name, a.Text)
		return 0, false
	}
	return time.Duration(v) * time.Second, true
}

// interval parses radvd's decimal seconds; vrouter takes whole seconds.
func (c *converter) interval(s Stmt) (time.Duration, bool) {
	a, ok := c.arg1(s)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(a.Text, 64)
	if err != nil || f < 0 || f > 65535 {
		c.errorf(a.Pos, "%s: expected seconds, got %q", s.Name, a.Text)
		return 0, false
	}
	if f != math.Trunc(f) {
		c.unsupported(s, fmt.Sprintf("vrouter takes whole seconds (fractions are for Mobile IPv6), got %s", a.Text))
		return 0, false
	}
	return time.Duration(f) * time.Second, true
}

func (c *converter) preference(s Stmt) (config.Preference, bool) {
	a, ok := c.arg1(s)
	if !ok {
		return "", false
	}
	switch p := config.Preference(strings.ToLower(a.Text)); p {
	case config.PreferenceLow, config.PreferenceMedium, config.PreferenceHigh:
		return p, true
	}
	c.errorf(a.Pos, "%s: expected low, medium or high, got %q", s.Name, a.Text)
	return "", false
}

func (c *converter) prefixArg(s Stmt) (netip.Prefix, Arg, bool) {
	if len(s.Args) != 1 {
		c.errorf(s.Pos, "%s: expected one prefix such as 2001:db8::/64", s.Name)
		return netip.Prefix{}, Arg{}, false
	}
	a := s.Args[0]
	p, err := netip.ParsePrefix(a.Text)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		c.errorf(a.Pos, "%s: invalid IPv6 prefix %q", s.Name, a.Text)
		return netip.Prefix{}, a, false
	}
	return p, a, true
}

// Lifetimes whose radvd default depends on MaxRtrAdvInterval are resolved
// once the whole interface is read.
const unset = -1

func (c *converter) iface(s Stmt) (iface, bool) {
	ifc := iface{name: s.Args[0].Text}
	before := len(c.errs)
	a := &config.Advertise{
		MaxInterval:    600 * time.Second,
		MinInterval:    unset,
		RouterLifetime: unset,
		Preference:     config.PreferenceMedium,
		HopLimit:       64,
	}
	send := false
	var minS, maxS, lifeS *Stmt
	for _, o := range s.Body {
		switch strings.ToLower(o.Name) {
		case "ignoreifmissing":
			c.onOff(o) // vrouter always waits for a missing interface
		case "advsendadvert":
			send, _ = c.onOff(o)
		case "maxrtradvinterval":
			if d, ok := c.interval(o); ok {
				a.MaxInterval, maxS = d, &o
			}
		case "minrtradvinterval":
			if d, ok := c.interval(o); ok {
				a.MinInterval, minS = d, &o
			}
		case "mindelaybetweenras":
			if d, ok := c.interval(o); ok && d != 3*time.Second {
				c.unsupported(o, "vrouter keeps MIN_DELAY_BETWEEN_RAS at 3s (RFC 4861 §10)")
			}
		case "advmanagedflag":
			a.Managed, _ = c.onOff(o)
		case "advotherconfigflag":
			a.OtherConfig, _ = c.onOff(o)
		case "advlinkmtu":
			if v, ok := c.number(o, 0, 65535); ok {
				if v != 0 && v < 1280 {
					c.errorf(o.Pos, "%s: must be 0 or at least 1280, got %d", o.Name, v)
				}
				a.LinkMTU = int(v)
			}
		case "advramtu":
			c.unsupported(o, "vrouter sizes RAs by the link MTU and splits them when needed")
		case "advreachabletime":
			if v, ok := c.number(o, 0, 3600000); ok {
				a.ReachableTime = time.Duration(v) * time.Millisecond
			}
		case "advretranstimer":
			if v, ok := c.number(o, 0, math.MaxUint32); ok {
				a.RetransTimer = time.Duration(v) * time.Millisecond
			}
		case "advcurhoplimit":
			if v, ok := c.number(o, 0, 255); ok {
				a.HopLimit = uint8(v)
			}
		case "advdefaultlifetime":
			if v, ok := c.number(o, 0, 65535); ok {
				a.RouterLifetime, lifeS = time.Duration(v)*time.Second, &o
			}
		case "advdefaultpreference":
			if p, ok := c.preference(o); ok {
				a.Preference = p
			}
		case "advsourcelladdress":
			c.mustBe(o, true, "vrouter always sends the source link-layer address option")
		case "removeadvonexit":
			c.mustBe(o, true, "vrouter always sends final RAs with router lifetime 0 on exit")
		case "advrasolicitedunicast":
			c.mustBe(o, true, "vrouter always answers an RS from a unicast source by unicast (RFC 7772)")
		case "unicastonly", "unrestrictedunicast":
			c.mustBe(o, false, "vrouter sends periodic multicast RAs to every host")
		case "advhomeagentflag", "advhomeagentinfo", "advmobrtrsupportflag", "advintervalopt":
			c.mustBe(o, false, "Mobile IPv6 options are not supported")
		case "homeagentlifetime", "homeagentpreference":
			c.unsupported(o, "Mobile IPv6 options are not supported")
		case "advcaptiveportalapi":
			if v, ok := c.arg1(o); ok {
				if !strings.HasPrefix(v.Text, "https://") && v.Text != "urn:ietf:params:capport:unrestricted" {
					c.errorf(v.Pos, "%s: vrouter takes an https:// URI or urn:ietf:params:capport:unrestricted (RFC 8910), got %q", o.Name, v.Text)
					continue
				}
				a.CaptivePortal = v.Text
			}
		case "prefix":
			c.prefix(o, a)
		case "route":
			c.route(o, a)
		case "rdnss":
			c.rdnss(o, a)
		case "dnssl":
			c.dnssl(o, a)
		case "nat64prefix":
			c.nat64(o, a)
		case "clients":
			c.unsupported(o, "vrouter advertises to every host on the link; restrict hosts with a firewall instead")
		case "advrasrcaddress":
			c.unsupported(o, "vrouter sends from the interface's link-local address")
		case "abro", "lowpanco":
			c.unsupported(o, "6LoWPAN options (RFC 6775) are not supported")
		case "autoignoreprefixes":
			c.unsupported(o, "::/64 advertises every global /64 of the interface; there is no ignore list")
		default:
			c.errorf(o.Pos, "unknown option %s", o.Name)
		}
	}

	// RFC 4861 §6.2.1 as radvd applies it, then vrouter's narrower limits.
	if maxS != nil && (a.MaxInterval < minMaxInterval*time.Second || a.MaxInterval > maxMaxInterval*time.Second) {
		c.errorf(maxS.Pos, "%s: vrouter allows 4 to 1800 seconds (RFC 4861 §6.2.1), got %s", maxS.Name, secs(a.MaxInterval))
	}
	if a.MinInterval == unset {
		m := max(time.Duration(float64(a.MaxInterval)*0.33).Truncate(time.Second), minMinInterval*time.Second)
		a.MinInterval = min(m, (a.MaxInterval * 3 / 4).Truncate(time.Second))
	} else if a.MinInterval < minMinInterval*time.Second || a.MinInterval > a.MaxInterval*3/4 {
		c.errorf(minS.Pos, "%s: must be from 3 seconds to 0.75 * MaxRtrAdvInterval (%s), got %s", minS.Name, a.MaxInterval*3/4, secs(a.MinInterval))
	}
	if a.RouterLifetime == unset {
		a.RouterLifetime = min(3*a.MaxInterval, maxRouterLifetime*time.Second)
	} else if a.RouterLifetime != 0 && (a.RouterLifetime < a.MaxInterval || a.RouterLifetime > maxRouterLifetime*time.Second) {
		c.errorf(lifeS.Pos, "%s: vrouter allows 0 or MaxRtrAdvInterval (%s) to 9000 seconds (RFC 4861 §6.2.1), got %s", lifeS.Name, secs(a.MaxInterval), secs(a.RouterLifetime))
	}
	def := 3 * a.MaxInterval
	for i := range a.Routes {
		if a.Routes[i].Lifetime == unset {
			a.Routes[i].Lifetime = def
		}
	}
	for i := range a.RDNSS {
		if a.RDNSS[i].Lifetime == unset {
			a.RDNSS[i].Lifetime = def
		}
	}
	for i := range a.DNSSL {
		if a.DNSSL[i].Lifetime == unset {
			a.DNSSL[i].Lifetime = def
		}
	}
	for i := range a.PREF64 {
		if a.PREF64[i].Lifetime == unset {
			a.PREF64[i].Lifetime = min(def, maxPREF64Lifetime*time.Second)
		}
	}
	if len(c.errs) > before {
		return ifc, false
	}
	if send {
		ifc.advertise = a
	} else if len(s.Body) > 0 {
		ifc.notes = append(ifc.notes, "AdvSendAdvert is off in radvd.conf: no router advertisements on this interface")
	}
	return ifc, true
}

func (c *converter) prefix(s Stmt, a *config.Advertise) {
	p, arg, ok := c.prefixArg(s)
	if !ok {
		return
	}
	if !s.Block {
		c.errorf(s.Pos, "prefix: expected `prefix %s { ... };`", arg.Text)
		return
	}
	pi := config.Prefix{Prefix: p.Masked(), OnLink: true, Autonomous: true,
		ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second}
	if pi.Prefix.Addr().IsUnspecified() && p.Bits() != 64 {
		c.errorf(arg.Pos, "prefix %s: only ::/64 stands for the interface's prefixes", arg.Text)
		return
	}
	var validS, prefS *Stmt
	for _, o := range s.Body {
		switch strings.ToLower(o.Name) {
		case "advonlink":
			pi.OnLink, _ = c.onOff(o)
		case "advautonomous":
			pi.Autonomous, _ = c.onOff(o)
		case "advvalidlifetime":
			if d, ok := c.lifetime(o); ok {
				pi.ValidLifetime, validS = d, &o
			}
		case "advpreferredlifetime":
			if d, ok := c.lifetime(o); ok {
				pi.PreferredLifetime, prefS = d, &o
			}
		case "decrementlifetimes":
			pi.DecrementLifetimes, _ = c.onOff(o)
		case "advrouteraddr":
			c.mustBe(o, false, "the R flag of RFC 6275 (Mobile IPv6) is not supported")
		case "advdhcpv6pdpreferred":
			c.mustBe(o, false, "the P flag (RFC 9762) is not supported")
		case "advsnacrouterflag":
			c.mustBe(o, false, "the SNAC router flag is not supported")
		case "deprecateprefix":
			c.mustBe(o, false, "vrouter does not deprecate prefixes on exit; it withdraws removed prefixes (RFC 9096)")
		case "base6interface", "base6to4interface":
			c.unsupported(o, "prefixes derived from another interface's address are not supported; write the prefix")
		default:
			c.errorf(o.Pos, "unknown prefix option %s", o.Name)
		}
	}
	if pi.PreferredLifetime > pi.ValidLifetime {
		at := s.Pos
		if prefS != nil {
			at = prefS.Pos
		} else if validS != nil {
			at = validS.Pos
		}
		c.errorf(at, "prefix %s: AdvPreferredLifetime (%s) exceeds AdvValidLifetime (%s)", arg.Text, secs(pi.PreferredLifetime), secs(pi.ValidLifetime))
		return
	}
	if pi.DecrementLifetimes && (pi.ValidLifetime == config.Infinity || pi.PreferredLifetime == config.Infinity) {
		c.errorf(s.Pos, "prefix %s: DecrementLifetimes needs finite lifetimes", arg.Text)
		return
	}
	for _, q := range a.Prefixes {
		if q.Prefix == pi.Prefix {
			c.errorf(arg.Pos, "prefix %s: defined twice", arg.Text)
			return
		}
	}
	a.Prefixes = append(a.Prefixes, pi)
}

func (c *converter) route(s Stmt, a *config.Advertise) {
	p, arg, ok := c.prefixArg(s)
	if !ok {
		return
	}
	if p != p.Masked() {
		c.errorf(arg.Pos, "route %s: host bits set (did you mean %s?)", arg.Text, p.Masked())
		return
	}
	r := config.Route{Prefix: p, Preference: config.PreferenceMedium, Lifetime: unset}
	for _, o := range s.Body {
		switch strings.ToLower(o.Name) {
		case "advroutelifetime":
			if d, ok := c.lifetime(o); ok {
				r.Lifetime = d
			}
		case "advroutepreference":
			if pr, ok := c.preference(o); ok {
				r.Preference = pr
			}
		case "removeroute":
			c.mustBe(o, true, "vrouter always sends routes with lifetime 0 on exit")
		default:
			c.errorf(o.Pos, "unknown route option %s", o.Name)
		}
	}
	a.Routes = append(a.Routes, r)
}

func (c *converter) rdnss(s Stmt, a *config.Advertise) {
	r := config.RDNSS{Lifetime: unset}
	for _, arg := range s.Args {
		ip, err := netip.ParseAddr(arg.Text)
		if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() {
			c.errorf(arg.Pos, "RDNSS: invalid IPv6 unicast address %q", arg.Text)
			return
		}
		r.Servers = append(r.Servers, ip)
	}
	if len(r.Servers) == 0 {
		c.errorf(s.Pos, "RDNSS: expected at least one address")
		return
	}
	for _, o := range s.Body {
		switch strings.ToLower(o.Name) {
		case "advrdnsslifetime":
			if d, ok := c.lifetime(o); ok {
				r.Lifetime = d
			}
		case "flushrdnss":
			c.mustBe(o, true, "vrouter always sends DNS servers with lifetime 0 on exit")
		case "advrdnsspreference", "advrdnssopen":
			c.unsupported(o, "not part of RFC 8106")
		default:
			c.errorf(o.Pos, "unknown RDNSS option %s", o.Name)
		}
	}
	a.RDNSS = append(a.RDNSS, r)
}

func (c *converter) dnssl(s Stmt, a *config.Advertise) {
	d := config.DNSSL{Lifetime: unset}
	for _, arg := range s.Args {
		name := strings.TrimSuffix(arg.Text, ".")
		if !config.ValidDomain(name) {
			c.errorf(arg.Pos, "DNSSL: invalid domain name %q", arg.Text)
			return
		}
		d.Domains = append(d.Domains, name)
	}
	if len(d.Domains) == 0 {
		c.errorf(s.Pos, "DNSSL: expected at least one domain")
		return
	}
	for _, o := range s.Body {
		switch strings.ToLower(o.Name) {
		case "advdnssllifetime":
			if l, ok := c.lifetime(o); ok {
				d.Lifetime = l
			}
		case "flushdnssl":
			c.mustBe(o, true, "vrouter always sends search domains with lifetime 0 on exit")
		default:
			c.errorf(o.Pos, "unknown DNSSL option %s", o.Name)
		}
	}
	a.DNSSL = append(a.DNSSL, d)
}

func (c *converter) nat64(s Stmt, a *config.Advertise) {
	p, arg, ok := c.prefixArg(s)
	if !ok {
		return
	}
	switch p.Bits() {
	case 32, 40, 48, 56, 64, 96:
	default:
		c.errorf(arg.Pos, "nat64prefix %s: length must be 32, 40, 48, 56, 64 or 96", arg.Text)
		return
	}
	if p != p.Masked() {
		c.errorf(arg.Pos, "nat64prefix %s: host bits set (did you mean %s?)", arg.Text, p.Masked())
		return
	}
	r := config.PREF64{Prefix: p, Lifetime: unset}
	for _, o := range s.Body {
		switch strings.ToLower(o.Name) {
		case "advvalidlifetime":
			if v, ok := c.number(o, 0, maxPREF64Lifetime); ok {
				// radvd rounds up to a multiple of 8 seconds.
				r.Lifetime = time.Duration((v+7)/8*8) * time.Second
			}
		default:
			c.errorf(o.Pos, "unknown nat64prefix option %s", o.Name)
		}
	}
	a.PREF64 = append(a.PREF64, r)
}

// secs formats a duration the way radvd.conf writes it.
func secs(d time.Duration) string {
	if d == config.Infinity {
		return "infinity"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// dur formats a duration for the vrouter config.
func dur(d time.Duration) string {
	switch {
	case d == config.Infinity:
		return "infinity"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
}

func onOff(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// emit writes the vrouter config, every advertised value explicit, in the
// order of DESIGN §4.
func emit(name string, ifcs []iface) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Converted from %s by `vrouter import-radvd`. Every value radvd\n", name)
	b.WriteString("# would advertise is written out. Review the roles and add the\n")
	b.WriteString("# interfaces' addresses before use.\n")
	b.WriteString("interfaces:\n")
	for _, ifc := range ifcs {
		fmt.Fprintf(&b, "  %s:\n", ifc.name)
		for _, n := range ifc.notes {
			fmt.Fprintf(&b, "    # %s\n", n)
		}
		b.WriteString("    role: downstream\n")
		a := ifc.advertise
		if a == nil {
			continue
		}
		w := func(indent int, k, v string) {
			fmt.Fprintf(&b, "%s%s: %s\n", strings.Repeat(" ", indent), k, v)
		}
		b.WriteString("    advertise:\n")
		w(6, "min_interval", dur(a.MinInterval))
		w(6, "max_interval", dur(a.MaxInterval))
		w(6, "router_lifetime", dur(a.RouterLifetime))
		w(6, "preference", string(a.Preference))
		w(6, "managed", onOff(a.Managed))
		w(6, "other_config", onOff(a.OtherConfig))
		w(6, "hop_limit", strconv.Itoa(int(a.HopLimit)))
		w(6, "reachable_time", dur(a.ReachableTime))
		w(6, "retrans_timer", dur(a.RetransTimer))
		w(6, "link_mtu", strconv.Itoa(a.LinkMTU))
		if len(a.Prefixes) > 0 {
			b.WriteString("      prefixes:\n")
			for _, p := range a.Prefixes {
				w(8, "- prefix", p.Prefix.String())
				w(10, "on_link", onOff(p.OnLink))
				w(10, "autonomous", onOff(p.Autonomous))
				w(10, "valid_lifetime", dur(p.ValidLifetime))
				w(10, "preferred_lifetime", dur(p.PreferredLifetime))
				if p.DecrementLifetimes {
					w(10, "decrement_lifetimes", "true")
				}
			}
		}
		if len(a.Routes) > 0 {
			b.WriteString("      routes:\n")
			for _, r := range a.Routes {
				w(8, "- prefix", r.Prefix.String())
				w(10, "preference", string(r.Preference))
				w(10, "lifetime", dur(r.Lifetime))
			}
		}
		if len(a.RDNSS) > 0 {
			b.WriteString("      rdnss:\n")
			for _, r := range a.RDNSS {
				s := make([]string, len(r.Servers))
				for i, a := range r.Servers {
					s[i] = a.String()
				}
				w(8, "- servers", "["+strings.Join(s, ", ")+"]")
				w(10, "lifetime", dur(r.Lifetime))
			}
		}
		if len(a.DNSSL) > 0 {
			b.WriteString("      dnssl:\n")
			for _, d := range a.DNSSL {
				s := make([]string, len(d.Domains))
				for i, n := range d.Domains {
					s[i] = strconv.Quote(n)
				}
				w(8, "- domains", "["+strings.Join(s, ", ")+"]")
				w(10, "lifetime", dur(d.Lifetime))
			}
		}
		if len(a.PREF64) > 0 {
			b.WriteString("      pref64:\n")
			for _, p := range a.PREF64 {
				w(8, "- prefix", p.Prefix.String())
				w(10, "lifetime", dur(p.Lifetime))
			}
		}
		if a.CaptivePortal != "" {
			w(6, "captive_portal", strconv.Quote(a.CaptivePortal))
		}
	}
	return b.Bytes()
}
