package dhcpv6

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

// answer is a datagram to send once the journal is synced.
type answer struct {
	b      []byte
	dst    netip.AddrPort
	typ    uint8 // advertise or reply, for the counters
	commit bool  // depends on lease changes of its batch
}

// request is a client message being handled.
type request struct {
	msg    *dhcpv6.Message
	relays []*dhcpv6.RelayMessage // outermost first
	duid   []byte                 // client DUID; nil in an Information-request without one
	macs   []net.HardwareAddr     // the client's MAC candidates, most trusted first
	res    netip.Addr             // the client's reservation, if any
	now    time.Time
	commit bool
}

// parse decodes b. The library is not trusted to reject every malformed
// input without panicking: a panic is a malformed message.
func parse(b []byte) (m dhcpv6.DHCPv6, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("decode panicked: %v", r)
		}
	}()
	return dhcpv6.FromBytes(b)
}

func (s *Server) drop(r DropReason) (answer, bool) {
	s.c.dropped[r]++
	return answer{}, false
}

// handle answers one datagram: every check of RFC 8415 §16 and §18.4,
// then the exchange of §18.3. Lease changes go to the table and the journal
// buffer; the caller syncs the journal before sending. s.mu is held.
func (s *Server) handle(m Meta, b []byte, now time.Time) (answer, bool) {
	d, err := parse(b)
	if err != nil {
		return s.drop(DropMalformed)
	}
	req := &request{now: now}
	switch v := d.(type) {
	case *dhcpv6.Message:
		req.msg = v
	case *dhcpv6.RelayMessage:
		if v.MessageType != dhcpv6.MessageTypeRelayForward {
			return s.drop(DropNotClientMessage)
		}
		cur := v
		for {
			req.relays = append(req.relays, cur)
			if len(req.relays) > hopCountLimit+1 || cur.HopCount > hopCountLimit {
				return s.drop(DropRelayHopLimit)
			}
			if len(cur.Options.Get(dhcpv6.OptionRelayMsg)) != 1 {
				return s.drop(DropRelayTruncated)
			}
			switch x := cur.Options.RelayMessage().(type) {
			case *dhcpv6.RelayMessage:
				if x.MessageType != dhcpv6.MessageTypeRelayForward {
					return s.drop(DropRelayTruncated)
				}
				cur = x
				continue
			case *dhcpv6.Message:
				req.msg = x
			default:
				return s.drop(DropRelayTruncated)
			}
			break
		}
		s.c.relayed++
	default:
		return s.drop(DropMalformed)
	}
	msg := req.msg
	typ := msg.MessageType
	switch typ {
	case dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeConfirm,
		dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind, dhcpv6.MessageTypeRelease,
		dhcpv6.MessageTypeDecline, dhcpv6.MessageTypeInformationRequest:
		s.c.received[typ]++
	default:
		if int(typ) < numMsgTypes {
			s.c.received[typ]++
		} else {
			s.c.received[0]++
		}
		return s.drop(DropNotClientMessage)
	}

	// §16: identifiers.
	cids := msg.Options.Get(dhcpv6.OptionClientID)
	sids := msg.Options.Get(dhcpv6.OptionServerID)
	if len(cids) > 1 || len(sids) > 1 {
		return s.drop(DropMalformed)
	}
	if len(cids) == 1 {
		req.duid = msg.Options.ClientID().ToBytes()
		if len(req.duid) < minDUIDLen || len(req.duid) > 130 {
			return s.drop(DropMalformed)
		}
	}
	var sid []byte
	if len(sids) == 1 {
		sid = msg.Options.ServerID().ToBytes()
	}
	switch typ {
	case dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeConfirm, dhcpv6.MessageTypeRebind:
		if req.duid == nil {
			return s.drop(DropNoClientID)
		}
		if sid != nil {
			return s.drop(DropUnexpectedServerID)
		}
	case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeDecline, dhcpv6.MessageTypeRelease:
		if req.duid == nil {
			return s.drop(DropNoClientID)
		}
		if sid == nil {
			return s.drop(DropNoServerID)
		}
		if !bytes.Equal(sid, s.duidBytes) {
			return s.drop(DropServerIDMismatch)
		}
	case dhcpv6.MessageTypeInformationRequest:
		if sid != nil && !bytes.Equal(sid, s.duidBytes) {
			return s.drop(DropServerIDMismatch)
		}
		for _, c := range []dhcpv6.OptionCode{dhcpv6.OptionIANA, dhcpv6.OptionIATA, dhcpv6.OptionIAPD} {
			if msg.Options.GetOne(c) != nil {
				return s.drop(DropIAInInformationRequest)
			}
		}
	}

	// §18.4: a message received directly by unicast.
	direct := len(req.relays) == 0
	if direct && !m.Dst.IsMulticast() {
		switch typ {
		case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeDecline, dhcpv6.MessageTypeRelease:
			rep := s.reply(dhcpv6.MessageTypeReply, msg)
			rep.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusUseMulticast, StatusMessage: "use multicast"})
			return s.answer(m, req, rep)
		default:
			return s.drop(DropUnicast)
		}
	}

	// The client's MAC: inside its DUID, from the relay closest to it
	// (RFC 6939), or the frame's source when it is on-link. The library's
	// ExtractMAC knows neither the frame nor the order of trust, and
	// guesses from EUI-64 peer addresses: it is not used.
	if mac := macFromDUID(req.duid); mac != nil {
		req.macs = append(req.macs, mac)
	}
	if !direct {
		if _, mac := req.relays[len(req.relays)-1].Options.ClientLinkLayerAddress(); len(mac) > 0 {
			req.macs = append(req.macs, mac)
		}
	} else if len(m.SrcMAC) > 0 && m.Src.Addr().IsLinkLocalUnicast() {
		req.macs = append(req.macs, m.SrcMAC)
	}
	if req.duid != nil {
		req.res, _ = s.pol.reservation(req.duid, req.macs)
	}

	var rep *dhcpv6.Message
	switch typ {
	case dhcpv6.MessageTypeSolicit:
		rep = s.solicit(req)
	case dhcpv6.MessageTypeRequest:
		rep = s.request(req)
	case dhcpv6.MessageTypeRenew:
		rep = s.renew(req, false)
	case dhcpv6.MessageTypeRebind:
		rep = s.renew(req, true)
		if rep == nil {
			return s.drop(DropRebindNoBinding)
		}
	case dhcpv6.MessageTypeRelease:
		rep = s.release(req)
	case dhcpv6.MessageTypeDecline:
		rep = s.decline(req)
	case dhcpv6.MessageTypeConfirm:
		rep = s.confirm(req)
		if rep == nil {
			return s.drop(DropConfirmNoAddresses)
		}
	case dhcpv6.MessageTypeInformationRequest:
		rep = s.reply(dhcpv6.MessageTypeReply, msg)
		if s.pol.irt > 0 {
			rep.AddOption(dhcpv6.OptInformationRefreshTime(s.pol.irt))
		}
		s.configOptions(rep)
	}
	return s.answer(m, req, rep)
}

// reply starts an answer to msg: transaction ID, Server ID, Client ID.
func (s *Server) reply(t dhcpv6.MessageType, msg *dhcpv6.Message) *dhcpv6.Message {
	rep := &dhcpv6.Message{MessageType: t, TransactionID: msg.TransactionID}
	rep.AddOption(dhcpv6.OptServerID(s.duid))
	if cid := msg.Options.ClientID(); cid != nil {
		rep.AddOption(dhcpv6.OptClientID(cid))
	}
	return rep
}

// configOptions adds DNS servers (option 23) and the domain list (24).
func (s *Server) configOptions(rep *dhcpv6.Message) {
	if len(s.pol.dns) > 0 {
		rep.AddOption(dhcpv6.OptDNS(s.pol.dns...))
	}
	if len(s.pol.domains) > 0 {
		rep.AddOption(dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: s.pol.domains}))
	}
}

// answer wraps rep for the relay chain and addresses it (§18.3.10, §19.3).
func (s *Server) answer(m Meta, req *request, rep *dhcpv6.Message) (answer, bool) {
	a := answer{typ: uint8(rep.MessageType), commit: req.commit, dst: m.Src}
	if len(req.relays) == 0 {
		a.b = rep.ToBytes()
		return a, true
	}
	// Each level's Interface-Id comes back: a chain built to be large
	// would not fit in a datagram (nor its length in an option).
	var out dhcpv6.DHCPv6 = rep
	for i := len(req.relays) - 1; i >= 0; i-- {
		in := req.relays[i]
		rr := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayReply, HopCount: in.HopCount,
			LinkAddr: in.LinkAddr, PeerAddr: in.PeerAddr}
		if id := in.Options.GetOne(dhcpv6.OptionInterfaceID); id != nil {
			rr.AddOption(id)
		}
		rr.AddOption(dhcpv6.OptRelayMessage(out))
		out = rr
	}
	a.b = out.ToBytes()
	if len(a.b) > maxAnswer {
		return s.drop(DropAnswerTooLarge)
	}
	// RFC 8357: a relay that says so gets the answer on its source port.
	if req.relays[0].Options.GetOne(dhcpv6.OptionRelayPort) == nil {
		a.dst = netip.AddrPortFrom(m.Src.Addr(), ServerPort)
	}
	return a, true
}

func iaid(b [4]byte) uint32 { return binary.BigEndian.Uint32(b[:]) }

// ianas returns the IA_NA options of msg that are served: the first
// maxIAsPerClient. The others are ignored, which bounds the work and the
// size of the answer.
func ianas(msg *dhcpv6.Message) []*dhcpv6.OptIANA {
	ias := msg.Options.IANA()
	return ias[:min(len(ias), maxIAsPerClient)]
}

// iaAddrs lists the valid IPv6 addresses an IA carries (the first
// maxAddrsPerIA).
func iaAddrs(ia *dhcpv6.OptIANA) []netip.Addr {
	var out []netip.Addr
	for _, o := range ia.Options.Addresses() {
		if len(out) == maxAddrsPerIA {
			break
		}
		if a, ok := netip.AddrFromSlice(o.IPv6Addr); ok && a.Is6() && !a.Is4In6() {
			out = append(out, a)
		}
	}
	return out
}

// free reports whether addr is unleased at now, or leased to key.
func (s *Server) free(addr netip.Addr, key iaKey, now time.Time) bool {
	l := s.table.live(addr, now)
	return l == nil || (!l.Declined() && l.key() == key)
}

// choose picks the address for IA key without changing anything: its
// current address if still appropriate, the client's reservation, a free
// appropriate hint, else the first free address probing the pools from a
// hash of DUID and IAID. taken holds the addresses already picked for other
// IAs of the same message.
func (s *Server) choose(key iaKey, hints []netip.Addr, res netip.Addr, taken map[netip.Addr]bool, now time.Time) (netip.Addr, bool) {
	p := s.pol
	if l := s.table.ofIA(key, now); l != nil && p.appropriate(l.Addr, res) && !taken[l.Addr] {
		return l.Addr, true
	}
	if res.IsValid() && !taken[res] && s.free(res, key, now) {
		// The reservation is the client's, unless another IA of the same
		// client holds it.
		if l := s.table.live(res, now); l == nil || l.key() == key {
			return res, true
		}
	}
	full := s.table.len() >= s.maxLeases
	for _, h := range hints {
		if p.appropriate(h, res) && !taken[h] && s.free(h, key, now) && (!full || s.table.live(h, now) != nil) {
			return h, true
		}
	}
	if full || p.total.Sign() == 0 {
		return netip.Addr{}, false
	}
	// Within len(table)+len(reserved)+len(taken)+1 consecutive addresses
	// one is free, if the pools are not full.
	limit := int64(s.table.len() + len(p.reserved) + len(taken) + 1)
	if p.total.IsInt64() && p.total.Int64() < limit {
		limit = p.total.Int64()
	}
	c := p.at(p.start([]byte(key.duid), key.iaid))
	for range limit {
		a := c.addr
		if !p.reserved[a] && !taken[a] && s.free(a, key, now) {
			return a, true
		}
		c.next()
	}
	return netip.Addr{}, false
}

// bind leases addr to key from now on and records it.
func (s *Server) bind(req *request, key iaKey, addr netip.Addr) {
	l := &Lease{Addr: addr, DUID: []byte(key.duid), IAID: key.iaid, Expires: req.now.Add(s.pol.valid)}
	s.table.put(l)
	if s.journal != nil {
		s.journal.lease(l)
	}
	req.commit = true
}

// unbind removes the lease l and records it.
func (s *Server) unbind(req *request, l *Lease) {
	s.table.remove(l)
	if s.journal != nil {
		s.journal.free(l.Addr)
	}
	req.commit = true
}

func (s *Server) iaAddr(a netip.Addr, zero bool) *dhcpv6.OptIAAddress {
	o := &dhcpv6.OptIAAddress{IPv6Addr: net.IP(a.AsSlice())}
	if !zero {
		o.PreferredLifetime, o.ValidLifetime = s.pol.preferred, s.pol.valid
	}
	return o
}

func statusOpt(code iana.StatusCode, msg string) *dhcpv6.OptStatusCode {
	return &dhcpv6.OptStatusCode{StatusCode: code, StatusMessage: msg}
}

// otherIAs answers IA_TA and IA_PD options, which this server does not
// serve: NoAddrsAvail / NoPrefixAvail in Solicit and Request, NoBinding in
// Renew and Rebind.
func otherIAs(rep, msg *dhcpv6.Message, renew bool) {
	tas, pds := msg.Options.IATA(), msg.Options.IAPD()
	for _, o := range tas[:min(len(tas), maxIAsPerClient)] {
		ia := &dhcpv6.OptIATA{IaId: o.IaId}
		if renew {
			ia.Options.Add(statusOpt(iana.StatusNoBinding, "no binding"))
		} else {
			ia.Options.Add(statusOpt(iana.StatusNoAddrsAvail, "no temporary addresses"))
		}
		rep.AddOption(ia)
	}
	for _, o := range pds[:min(len(pds), maxIAsPerClient)] {
		ia := &dhcpv6.OptIAPD{IaId: o.IaId}
		if renew {
			ia.Options.Add(statusOpt(iana.StatusNoBinding, "no binding"))
		} else {
			ia.Options.Add(statusOpt(iana.StatusNoPrefixAvail, "no prefixes"))
		}
		rep.AddOption(ia)
	}
}

// solicit answers a Solicit (§18.3.1, §18.3.9): an Advertise of the
// addresses a Request would get, or with Rapid Commit a Reply that commits
// them.
func (s *Server) solicit(req *request) *dhcpv6.Message {
	msg := req.msg
	rapid := s.pol.rapidCommit && msg.GetOneOption(dhcpv6.OptionRapidCommit) != nil
	ias := ianas(msg)
	taken := map[netip.Addr]bool{}
	type pick struct {
		ia   *dhcpv6.OptIANA
		addr netip.Addr
	}
	var picks []pick
	if s.pol.stateful {
		for _, ia := range ias {
			key := iaKey{string(req.duid), iaid(ia.IaId)}
			if a, ok := s.choose(key, iaAddrs(ia), req.res, taken, req.now); ok {
				taken[a] = true
				picks = append(picks, pick{ia, a})
			}
		}
	}
	if len(picks) == 0 {
		// §18.3.9: only a status NoAddrsAvail, Server ID and Client ID
		// (and the other configuration).
		adv := s.reply(dhcpv6.MessageTypeAdvertise, msg)
		adv.AddOption(statusOpt(iana.StatusNoAddrsAvail, "no addresses available"))
		s.configOptions(adv)
		return adv
	}
	t := dhcpv6.MessageTypeAdvertise
	if rapid {
		t = dhcpv6.MessageTypeReply
	}
	rep := s.reply(t, msg)
	got := map[*dhcpv6.OptIANA]netip.Addr{}
	for _, p := range picks {
		got[p.ia] = p.addr
		if rapid {
			s.bind(req, iaKey{string(req.duid), iaid(p.ia.IaId)}, p.addr)
		}
	}
	for _, ia := range ias {
		out := &dhcpv6.OptIANA{IaId: ia.IaId}
		if a, ok := got[ia]; ok {
			out.T1, out.T2 = s.pol.t1, s.pol.t2
			out.Options.Add(s.iaAddr(a, false))
		} else {
			out.Options.Add(statusOpt(iana.StatusNoAddrsAvail, "no addresses available"))
		}
		rep.AddOption(out)
	}
	otherIAs(rep, msg, false)
	if rapid {
		rep.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
	} else {
		rep.AddOption(dhcpv6.OptPreference(s.pref))
	}
	s.configOptions(rep)
	return rep
}

// request answers a Request (§18.3.2): it commits an address to every IA
// it can, NoAddrsAvail in the others. Hints it will not give are ignored.
func (s *Server) request(req *request) *dhcpv6.Message {
	msg := req.msg
	rep := s.reply(dhcpv6.MessageTypeReply, msg)
	taken := map[netip.Addr]bool{}
	for _, ia := range ianas(msg) {
		out := &dhcpv6.OptIANA{IaId: ia.IaId}
		key := iaKey{string(req.duid), iaid(ia.IaId)}
		var a netip.Addr
		ok := false
		if s.pol.stateful {
			a, ok = s.choose(key, iaAddrs(ia), req.res, taken, req.now)
		}
		if ok {
			taken[a] = true
			s.bind(req, key, a)
			out.T1, out.T2 = s.pol.t1, s.pol.t2
			out.Options.Add(s.iaAddr(a, false))
		} else {
			out.Options.Add(statusOpt(iana.StatusNoAddrsAvail, "no addresses available"))
		}
		rep.AddOption(out)
	}
	otherIAs(rep, msg, false)
	s.configOptions(rep)
	return rep
}

// renew answers a Renew (§18.3.4) or a Rebind (§18.3.5). An IA keeps its
// address while it is appropriate (in a pool and nobody else's
// reservation, or the client's reservation) and gets its lifetimes
// extended; an address that is not appropriate any more (a pool that shrank
// on reload, a new reservation) is returned with lifetimes 0 and another
// one given in the same IA. A binding this server does not know (lost, or
// made by the other router of an HA pair) is created again when the address
// is appropriate and free. For a Rebind that this server can say nothing
// about, nil: the message is discarded.
func (s *Server) renew(req *request, rebind bool) *dhcpv6.Message {
	msg := req.msg
	rep := s.reply(dhcpv6.MessageTypeReply, msg)
	taken := map[netip.Addr]bool{}
	said := false
	for _, ia := range ianas(msg) {
		out := &dhcpv6.OptIANA{IaId: ia.IaId}
		key := iaKey{string(req.duid), iaid(ia.IaId)}
		asked := iaAddrs(ia)
		cur := s.table.ofIA(key, req.now)
		var keep netip.Addr
		if s.pol.stateful {
			if cur != nil && s.pol.appropriate(cur.Addr, req.res) && !taken[cur.Addr] {
				keep = cur.Addr
			} else if cur == nil && s.table.len() < s.maxLeases {
				for _, a := range asked {
					if s.pol.appropriate(a, req.res) && !taken[a] && s.free(a, key, req.now) {
						keep = a
						break
					}
				}
			}
		}
		for _, a := range asked {
			if a != keep {
				out.Options.Add(s.iaAddr(a, true))
				said = true
			}
		}
		if cur != nil && cur.Addr != keep {
			if !containsAddr(asked, cur.Addr) {
				out.Options.Add(s.iaAddr(cur.Addr, true))
			}
			s.unbind(req, cur)
		}
		if !keep.IsValid() && s.pol.stateful {
			keep, _ = s.choose(key, nil, req.res, taken, req.now)
		}
		switch {
		case keep.IsValid():
			taken[keep] = true
			s.bind(req, key, keep)
			out.T1, out.T2 = s.pol.t1, s.pol.t2
			out.Options.Add(s.iaAddr(keep, false))
			said = true
		case cur == nil && !rebind:
			out.Options.Add(statusOpt(iana.StatusNoBinding, "no binding"))
			said = true
		case cur != nil:
			out.Options.Add(statusOpt(iana.StatusNoAddrsAvail, "no addresses available"))
			said = true
		}
		rep.AddOption(out)
	}
	otherIAs(rep, msg, true)
	if rebind && !said {
		return nil
	}
	s.configOptions(rep)
	return rep
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, b := range as {
		if a == b {
			return true
		}
	}
	return false
}

// release answers a Release (§18.3.7): the IA's addresses are freed; IAs
// without a binding get NoBinding.
func (s *Server) release(req *request) *dhcpv6.Message {
	msg := req.msg
	rep := s.reply(dhcpv6.MessageTypeReply, msg)
	rep.AddOption(statusOpt(iana.StatusSuccess, "released"))
	for _, ia := range ianas(msg) {
		key := iaKey{string(req.duid), iaid(ia.IaId)}
		cur := s.table.ofIA(key, req.now)
		if cur != nil && containsAddr(iaAddrs(ia), cur.Addr) {
			s.unbind(req, cur)
			continue
		}
		out := &dhcpv6.OptIANA{IaId: ia.IaId}
		out.Options.Add(statusOpt(iana.StatusNoBinding, "no binding"))
		rep.AddOption(out)
	}
	return rep
}

// decline answers a Decline (§18.3.8): the addresses are taken from the
// client and kept from everybody for the probation period. The library
// refuses to build a Reply to a Decline (NewReplyFromMessage); the Reply is
// built here.
func (s *Server) decline(req *request) *dhcpv6.Message {
	msg := req.msg
	rep := s.reply(dhcpv6.MessageTypeReply, msg)
	rep.AddOption(statusOpt(iana.StatusSuccess, "declined"))
	for _, ia := range ianas(msg) {
		key := iaKey{string(req.duid), iaid(ia.IaId)}
		cur := s.table.ofIA(key, req.now)
		if cur != nil && containsAddr(iaAddrs(ia), cur.Addr) {
			l := &Lease{Addr: cur.Addr, Expires: req.now.Add(s.probation)}
			s.table.remove(cur)
			s.table.put(l)
			if s.journal != nil {
				s.journal.lease(l)
			}
			req.commit = true
			s.c.declined++
			continue
		}
		out := &dhcpv6.OptIANA{IaId: ia.IaId}
		out.Options.Add(statusOpt(iana.StatusNoBinding, "no binding"))
		rep.AddOption(out)
	}
	return rep
}

// confirm answers a Confirm (§18.3.3): Success when every address is on
// the link, NotOnLink otherwise; nil (discard) without addresses.
func (s *Server) confirm(req *request) *dhcpv6.Message {
	msg := req.msg
	var addrs []netip.Addr
	for _, ia := range msg.Options.IANA() {
		for _, o := range ia.Options.Addresses() {
			if a, ok := netip.AddrFromSlice(o.IPv6Addr); ok {
				addrs = append(addrs, a)
			}
		}
	}
	for _, ia := range msg.Options.IATA() {
		for _, o := range ia.Options.Addresses() {
			if a, ok := netip.AddrFromSlice(o.IPv6Addr); ok {
				addrs = append(addrs, a)
			}
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	rep := s.reply(dhcpv6.MessageTypeReply, msg)
	for _, a := range addrs {
		if !s.pol.isOnLink(a) {
			rep.AddOption(statusOpt(iana.StatusNotOnLink, "not on link"))
			return rep
		}
	}
	rep.AddOption(statusOpt(iana.StatusSuccess, "all addresses on link"))
	s.configOptions(rep)
	return rep
}
