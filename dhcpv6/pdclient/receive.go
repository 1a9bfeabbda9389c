package pdclient

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// receive handles one datagram read from the socket. Whatever it holds, it
// either moves the exchange on or is refused and changes nothing.
func (c *Client) receive(now time.Time, b []byte, src netip.AddrPort) {
	m, r, ok := c.check(b)
	if !ok {
		c.refuse(now, r, "src", src.Addr())
		return
	}
	c.stats.mu.Lock()
	c.stats.received[strings.ToLower(m.MessageType.String())]++
	c.stats.mu.Unlock()
	c.solMaxRTOption(m)
	if m.MessageType == dhcpv6.MessageTypeAdvertise {
		c.onAdvertise(now, m, src.Addr())
	} else {
		c.onReply(now, m, src.Addr())
	}
}

// check parses b and checks that it answers the exchange in progress (RFC
// 8415 §16.3, §16.10): an Advertise to our Solicit or a Reply to our other
// messages, with our transaction id and Client Identifier and a Server
// Identifier.
func (c *Client) check(b []byte) (*dhcpv6.Message, Refusal, bool) {
	if len(b) < dhcpv6.MessageHeaderSize {
		return nil, RefusedMalformed, false
	}
	switch t := dhcpv6.MessageType(b[0]); t {
	case dhcpv6.MessageTypeAdvertise, dhcpv6.MessageTypeReply:
	case dhcpv6.MessageTypeReconfigure:
		return nil, RefusedReconfigure, false
	default:
		return nil, RefusedUnexpectedType, false
	}
	m, err := dhcpv6.MessageFromBytes(b)
	if err != nil {
		return nil, RefusedMalformed, false
	}
	ex := c.ex
	if ex == nil || ex.count == 0 || m.TransactionID != ex.xid {
		return nil, RefusedTransactionID, false
	}
	if (m.MessageType == dhcpv6.MessageTypeAdvertise) != (ex.kind == kindSolicit) {
		return nil, RefusedUnexpectedType, false
	}
	ids := m.Options.Get(dhcpv6.OptionClientID)
	if len(ids) != 1 || !bytes.Equal(m.Options.ClientID().ToBytes(), c.clientID.ToBytes()) {
		return nil, RefusedClientID, false
	}
	if len(m.Options.Get(dhcpv6.OptionServerID)) != 1 {
		return nil, RefusedNoServerID, false
	}
	return m, 0, true
}

// solMaxRTOption takes up a SOL_MAX_RT option in the allowed range (RFC 8415
// §18.2.9, §18.2.10, §21.24).
func (c *Client) solMaxRTOption(m *dhcpv6.Message) {
	o, ok := m.Options.GetOne(dhcpv6.OptionSolMaxRT).(*dhcpv6.OptionGeneric)
	if !ok || len(o.OptionData) != 4 {
		return
	}
	d := time.Duration(binary.BigEndian.Uint32(o.OptionData)) * time.Second
	if d < solMaxRTMin || d > solMaxRTMax {
		return
	}
	c.solMaxRT = d
	if c.ex != nil && c.ex.kind == kindSolicit {
		c.ex.p.mrt = d
	}
}

// serverUnicast is the address of a Server Unicast option (RFC 8415
// §21.12), if any usable.
func serverUnicast(m *dhcpv6.Message) netip.Addr {
	o, ok := m.Options.GetOne(dhcpv6.OptionUnicast).(*dhcpv6.OptionGeneric)
	if !ok || len(o.OptionData) != 16 {
		return netip.Addr{}
	}
	a := netip.AddrFrom16([16]byte(o.OptionData))
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.Is4In6() {
		return netip.Addr{}
	}
	return a
}

func statusRefusal(code iana.StatusCode) Refusal {
	switch code {
	case iana.StatusNoPrefixAvail:
		return RefusedNoPrefixAvail
	case iana.StatusNoBinding:
		return RefusedNoBinding
	case iana.StatusUseMulticast:
		return RefusedUseMulticast
	case iana.StatusUnspecFail:
		return RefusedUnspecFail
	}
	return RefusedStatusOther
}

// grant is one delegated prefix with its lifetimes.
type grant struct {
	prefix           netip.Prefix
	preferred, valid time.Duration
}

// verdict is what our IA_PD of a message says.
type verdict struct {
	ia *dhcpv6.OptIAPD
	// refusal and status are set when the IA_PD as a whole is refused.
	refusal Refusal
	refused bool
	status  iana.StatusCode
	// accepted prefixes, current prefix withdrawn (valid lifetime 0), and
	// the refusal of each prefix not accepted.
	accepted  []grant
	withdrawn bool
	rejects   []Refusal
}

// judge reads our IA_PD in m. In a Reply (lifetimes true) a new prefix must
// have non-zero lifetimes, and the current prefix with a valid lifetime of 0
// is withdrawn; an Advertise only offers, so its lifetimes are not held
// against it.
func (c *Client) judge(m *dhcpv6.Message, lifetimes bool) verdict {
	var v verdict
	for _, ia := range m.Options.IAPD() {
		if ia.IaId == c.iaid {
			v.ia = ia
			break
		}
	}
	if v.ia == nil {
		v.refusal, v.refused = RefusedNoIAPD, true
		return v
	}
	if v.ia.T1 > v.ia.T2 && v.ia.T2 > 0 {
		v.refusal, v.refused = RefusedT1OverT2, true
		return v
	}
	if st := v.ia.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		v.refusal, v.refused, v.status = statusRefusal(st.StatusCode), true, st.StatusCode
		return v
	}
	var cur netip.Prefix
	if c.bind != nil {
		cur = c.bind.Prefix
	}
	iaps := v.ia.Options.Prefixes()
	for _, iap := range iaps {
		g, r, ok := c.prefix(iap)
		switch {
		case !ok:
			v.rejects = append(v.rejects, r)
		case g.prefix == cur && lifetimes && g.valid == 0:
			v.withdrawn = true
		case lifetimes && g.prefix != cur && (g.valid == 0 || g.preferred == 0):
			v.rejects = append(v.rejects, RefusedZeroLifetime)
		default:
			v.accepted = append(v.accepted, g)
		}
	}
	if len(iaps) == 0 {
		v.refusal, v.refused = RefusedNoPrefix, true
	}
	return v
}

// prefix checks one IA Prefix option.
func (c *Client) prefix(iap *dhcpv6.OptIAPrefix) (grant, Refusal, bool) {
	if iap.Prefix == nil {
		return grant{}, RefusedBadPrefix, false
	}
	a, ok := netip.AddrFromSlice(iap.Prefix.IP)
	ones, size := iap.Prefix.Mask.Size()
	if !ok || !a.Is6() || size != 128 || ones == 0 {
		return grant{}, RefusedBadPrefix, false
	}
	p := netip.PrefixFrom(a, ones).Masked()
	if st := iap.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		return grant{}, statusRefusal(st.StatusCode), false
	}
	if r := c.fits(p); r != nil {
		return grant{}, *r, false
	}
	if iap.PreferredLifetime > iap.ValidLifetime {
		return grant{}, RefusedPreferredOverValid, false
	}
	return grant{prefix: p, preferred: iap.PreferredLifetime, valid: iap.ValidLifetime}, 0, true
}

// fits checks that p is a unicast prefix that holds the subnets wanted.
func (c *Client) fits(p netip.Prefix) *Refusal {
	a := p.Addr()
	if a.IsUnspecified() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsLoopback() || a.Is4In6() {
		r := RefusedBadPrefix
		return &r
	}
	if p.Bits() > maxLength(c.maxSubnetID) {
		r := RefusedPrefixTooLong
		return &r
	}
	return nil
}

// onAdvertise collects an offer during the first RT of the Solicit, or takes
// it at once if its preference is 255 or the first RT is over (RFC 8415
// §18.2.1, §18.2.9). An Advertise that offers no usable prefix is ignored.
func (c *Client) onAdvertise(now time.Time, m *dhcpv6.Message, src netip.Addr) {
	if st := m.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		c.refuse(now, statusRefusal(st.StatusCode), "src", src, "message", "advertise")
		return
	}
	v := c.judge(m, false)
	if v.refused {
		c.refuse(now, v.refusal, "src", src, "message", "advertise")
		return
	}
	if len(v.accepted) == 0 {
		c.refuseAll(now, v.rejects, "src", src, "message", "advertise")
		return
	}
	c.refuseSome(now, v.rejects, src)
	o := offer{serverID: m.Options.ServerID().ToBytes(), pref: m.Options.Preference(), src: src}
	for _, g := range v.accepted {
		o.prefixes = append(o.prefixes, g.prefix)
	}
	ex := c.ex
	if o.pref == 255 || ex.count > 1 {
		c.request(now, o)
		return
	}
	ex.offers = append(ex.offers, o)
}

// onReply acts on a Reply to Request, Renew, Rebind or Release (RFC 8415
// §18.2.10).
func (c *Client) onReply(now time.Time, m *dhcpv6.Message, src netip.Addr) {
	ex := c.ex
	if ex.kind == kindRelease {
		c.ex = nil
		return
	}
	if st := m.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		c.refuse(now, statusRefusal(st.StatusCode), "src", src, "message", "reply", "status_message", st.StatusMessage)
		if st.StatusCode == iana.StatusUseMulticast && ex.unicast.IsValid() && !ex.multicast {
			ex.multicast = true
			if c.bind != nil {
				c.bind.unicast = netip.Addr{}
			}
			c.transmit(now)
		}
		return
	}
	v := c.judge(m, true)
	if v.refused {
		c.refuse(now, v.refusal, "src", src, "message", "reply")
		switch {
		case v.status == iana.StatusNoBinding && c.bind != nil && (ex.kind == kindRenew || ex.kind == kindRebind):
			// The server lost our binding: ask for the prefix again.
			re := c.newExchange(now, kindRequest, params{irt: reqTimeout, mrt: reqMaxRT, mrc: reqMaxRC})
			re.serverID = m.Options.ServerID().ToBytes()
			re.prefixes = []netip.Prefix{c.bind.Prefix}
			c.transmit(now)
		case ex.kind == kindRequest && c.bind == nil:
			c.solicitAgain(now)
		case ex.kind == kindRequest && v.status != 0:
			// The server lost our binding and will not give the
			// prefix back: look for another while the old one lives
			// out its valid lifetime.
			c.log.Warn("the server will not delegate the prefix again; soliciting for another", "prefix", c.bind.Prefix)
			c.solicitAgain(now)
		}
		return
	}
	var chosen *grant
	for i, g := range v.accepted {
		if c.bind != nil && g.prefix == c.bind.Prefix {
			chosen = &v.accepted[i]
			break
		}
		if chosen == nil || g.valid > chosen.valid {
			chosen = &v.accepted[i]
		}
	}
	if chosen == nil {
		if v.withdrawn {
			c.refuseSome(now, v.rejects, src)
			old := c.bind
			c.bind = nil
			c.ex = nil
			c.log.Warn("the server withdrew the delegation; waiting for a delegation", "prefix", old.Prefix, "server", src)
			c.publish(Change{Gone: []Delegation{{Prefix: old.Prefix, Obtained: now}}})
			c.startSolicit(now, time.Duration(c.rng.Float64()*float64(solMaxDelay)))
			return
		}
		c.refuseAll(now, v.rejects, "src", src, "message", "reply")
		if ex.kind == kindRequest && c.bind == nil {
			c.solicitAgain(now)
		}
		return
	}
	c.refuseSome(now, v.rejects, src)
	c.bound(now, *chosen, v, m, src)
}

// bound takes up a delegation granted by a Reply.
func (c *Client) bound(now time.Time, g grant, v verdict, m *dhcpv6.Message, src netip.Addr) {
	d := Delegation{Prefix: g.prefix, Preferred: g.preferred, Valid: g.valid, Obtained: now}
	t1, t2 := timers(v.ia.T1, v.ia.T2, g.preferred, g.valid)
	old := c.bind
	c.bind = &binding{Delegation: d, t1: t1, t2: t2, serverID: m.Options.ServerID().ToBytes(),
		server: src, unicast: serverUnicast(m)}
	c.ex = nil
	c.backoff = 0
	if c.cfg.Length == 0 || c.cfg.Length == g.prefix.Bits() {
		c.hint = g.prefix
	}
	ch := Change{Current: d}
	switch {
	case old == nil:
		c.log.Info("delegated", "prefix", d.Prefix, "preferred", g.preferred, "valid", g.valid,
			"t1", t1, "t2", t2, "server", src)
	case old.Prefix != d.Prefix:
		gone := Delegation{Prefix: old.Prefix, Obtained: now}
		if !v.withdrawn {
			_, gone.Valid = old.Remaining(now)
		}
		ch.Gone = []Delegation{gone}
		c.log.Warn("the delegated prefix changed", "prefix", d.Prefix, "old", old.Prefix,
			"old_valid", gone.Valid, "server", src)
	default:
		c.log.Debug("delegation extended", "prefix", d.Prefix, "preferred", g.preferred, "valid", g.valid)
	}
	if old == nil || old.Prefix != d.Prefix {
		c.stats.mu.Lock()
		c.stats.delegations++
		c.stats.mu.Unlock()
	}
	c.save(c.bind, false)
	c.publish(ch)
}

// timers returns T1 and T2 as the client applies them: the server's, or
// where it sent 0, 0.5 and 0.8 of the preferred lifetime (of the valid one
// for a deprecated prefix), T1 no later than T2 (RFC 8415 §21.21).
func timers(t1, t2, preferred, valid time.Duration) (time.Duration, time.Duration) {
	base := preferred
	if base == 0 {
		base = valid
	}
	part := func(num, den time.Duration) time.Duration {
		if base >= Infinity {
			return Infinity
		}
		return base * num / den
	}
	if t1 == 0 {
		t1 = part(1, 2)
	}
	if t2 == 0 {
		t2 = part(4, 5)
	}
	return min(t1, t2), t2
}

// refuse counts a refusal and logs it, at most once a minute per reason.
func (c *Client) refuse(now time.Time, r Refusal, attrs ...any) {
	c.stats.mu.Lock()
	c.stats.refused[r]++
	c.stats.mu.Unlock()
	if last := c.logged[r]; !last.IsZero() && now.Sub(last) < refusalLogEvery {
		c.suppressed[r]++
		return
	}
	c.logged[r] = now
	args := append([]any{"reason", r.String()}, attrs...)
	if n := c.suppressed[r]; n > 0 {
		args = append(args, "suppressed", n)
		c.suppressed[r] = 0
	}
	if c.bind != nil {
		args = append(args, "kept", c.bind.Prefix)
	}
	c.log.Warn("dhcpv6 message refused", args...)
}

// refuseAll refuses a message none of whose prefixes was acceptable.
func (c *Client) refuseAll(now time.Time, rejects []Refusal, attrs ...any) {
	if len(rejects) == 0 {
		c.refuse(now, RefusedNoPrefix, attrs...)
		return
	}
	for _, r := range rejects {
		c.refuse(now, r, attrs...)
	}
}

// refuseSome counts the prefixes refused in a message acted upon.
func (c *Client) refuseSome(now time.Time, rejects []Refusal, src netip.Addr) {
	for _, r := range rejects {
		c.refuse(now, r, "src", src, "message", "prefix")
	}
}
