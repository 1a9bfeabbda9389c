package main

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// Answers of real servers to d6load, captured with dumpcap on the client's
// side of the link (UDP payloads): vrouter's, Kea 2.2's and dnsmasq 2.90's
// Reply to a Rapid Commit Solicit, Advertise, and Reply to the Request.
var realAnswers = map[string]string{
	"vrouter rapid reply": "070000000002001200044d8aa6c1c46743a4a9951b59b593f2a70001000a0003000102000000000000030028000000010000070800000b400005001820010db800000002000000006b87b58a00000e1000001c20000e0000",
	"vrouter advertise":   "020000000002001200044d8aa6c1c46743a4a9951b59b593f2a70001000a0003000102000000000000030028000000010000070800000b400005001820010db800000002000000006b87b58a00000e1000001c2000070001ff",
	"vrouter reply":       "078000000002001200044d8aa6c1c46743a4a9951b59b593f2a70001000a0003000102000000000000030028000000010000070800000b400005001820010db800000002000000006b87b58a00000e1000001c20",
	"kea rapid reply":     "070000000001000a000300010205000000000002000e0001000132a27670c28d5f903b5400030028000000010000070800000b400005001820010db800000002000000000000100000000e1000001c20000e0000",
	"kea advertise":       "020000000001000a000300010205000000000002000e0001000132a27670c28d5f903b5400030028000000010000070800000b400005001820010db800000002000000000000100000000e1000001c20",
	"kea reply":           "078000000001000a000300010205000000000002000e0001000132a27670c28d5f903b5400030028000000010000070800000b400005001820010db800000002000000000000100000000e1000001c20",
	"dnsmasq rapid reply": "070000000001000a000300010206000000000002000e0001000132a27678c28d5f903b54000e0000000300280000000100000e100000189c0005001820010db800000002000000000000128900001c2000001c20000d00090000737563636573730007000100",
	"dnsmasq advertise":   "020000000001000a000300010206000000000002000e0001000132a27678c28d5f903b54000300280000000100000e100000189c0005001820010db800000002000000000000128900001c2000001c20000d00090000737563636573730007000100",
	"dnsmasq reply":       "078000000001000a000300010206000000000002000e0001000132a27678c28d5f903b54000300280000000100000e100000189c0005001820010db800000002000000000000128900001c2000001c20000d0009000073756363657373",
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRealAnswers(t *testing.T) {
	want := map[string]struct {
		typ   byte
		xid   uint32
		addr  string
		rapid bool
	}{
		"vrouter rapid reply": {msgReply, 0, "2001:db8:0:2::6b87:b58a", true},
		"vrouter advertise":   {msgAdvertise, 0, "2001:db8:0:2::6b87:b58a", false},
		"vrouter reply":       {msgReply, reqBit, "2001:db8:0:2::6b87:b58a", false},
		"kea rapid reply":     {msgReply, 0, "2001:db8:0:2::1000", true},
		"kea advertise":       {msgAdvertise, 0, "2001:db8:0:2::1000", false},
		"kea reply":           {msgReply, reqBit, "2001:db8:0:2::1000", false},
		"dnsmasq rapid reply": {msgReply, 0, "2001:db8:0:2::1289", true},
		"dnsmasq advertise":   {msgAdvertise, 0, "2001:db8:0:2::1289", false},
		"dnsmasq reply":       {msgReply, reqBit, "2001:db8:0:2::1289", false},
	}
	for name, h := range realAnswers {
		a, err := parseAnswer(mustHex(t, h))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		w := want[name]
		if a.typ != w.typ || a.xid != w.xid || a.addr.String() != w.addr || a.rapid != w.rapid || a.status != 0 || a.serverID == nil {
			t.Errorf("%s: got type %d xid %#x addr %s rapid %t status %d server ID %x, want %+v",
				name, a.typ, a.xid, a.addr, a.rapid, a.status, a.serverID, w)
		}
	}
}

// TestSolicit decodes d6load's Solicits with an independent decoder.
func TestSolicit(t *testing.T) {
	for _, rapid := range []bool{false, true} {
		b := solicit(nil, 0x123456, duid(7, 0x01020304), rapid)
		m, err := dhcpv6.MessageFromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		if m.MessageType != dhcpv6.MessageTypeSolicit || m.TransactionID != (dhcpv6.TransactionID{0x12, 0x34, 0x56}) {
			t.Errorf("type %s xid %s", m.MessageType, m.TransactionID)
		}
		ll, ok := m.Options.ClientID().(*dhcpv6.DUIDLL)
		if !ok || !bytes.Equal(ll.LinkLayerAddr, net.HardwareAddr{2, 7, 1, 2, 3, 4}) || ll.HWType != iana.HWTypeEthernet {
			t.Errorf("client ID %v", m.Options.ClientID())
		}
		if ia := m.Options.OneIANA(); ia == nil || ia.IaId != [4]byte{0, 0, 0, 1} {
			t.Errorf("IA_NA %v", ia)
		}
		if got := m.GetOneOption(dhcpv6.OptionRapidCommit) != nil; got != rapid {
			t.Errorf("rapid commit %t, want %t", got, rapid)
		}
	}
}

func advertise(t testing.TB, typ dhcpv6.MessageType, xid uint32, addr string, valid time.Duration, status iana.StatusCode) []byte {
	t.Helper()
	m := &dhcpv6.Message{MessageType: typ, TransactionID: dhcpv6.TransactionID{byte(xid >> 16), byte(xid >> 8), byte(xid)}}
	m.AddOption(dhcpv6.OptServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}))
	m.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 7, 0, 0, 0, 9}}))
	ia := &dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, 1}, T1: time.Minute, T2: 2 * time.Minute}
	if addr != "" {
		ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP(addr), PreferredLifetime: valid / 2, ValidLifetime: valid})
	}
	if status != iana.StatusSuccess {
		ia.Options.Add(&dhcpv6.OptStatusCode{StatusCode: status, StatusMessage: "no"})
	}
	m.AddOption(ia)
	return m.ToBytes()
}

func TestParseAnswer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		b        []byte
		addr     string
		status   uint16
		wantFail bool
	}{
		{name: "address", b: advertise(t, dhcpv6.MessageTypeAdvertise, 5, "2001:db8::5", time.Hour, 0), addr: "2001:db8::5"},
		{name: "lifetime 0 is no address", b: advertise(t, dhcpv6.MessageTypeReply, 5, "2001:db8::5", 0, 0), addr: "invalid IP"},
		{name: "NoAddrsAvail", b: advertise(t, dhcpv6.MessageTypeAdvertise, 5, "", 0, iana.StatusNoAddrsAvail), addr: "invalid IP", status: 2},
		{name: "truncated option", b: advertise(t, dhcpv6.MessageTypeAdvertise, 5, "2001:db8::5", time.Hour, 0)[:30], wantFail: true},
		{name: "short header", b: []byte{2, 0}, wantFail: true},
	} {
		a, err := parseAnswer(tc.b)
		if (err != nil) != tc.wantFail {
			t.Errorf("%s: error %v", tc.name, err)
			continue
		}
		if !tc.wantFail && (a.addr.String() != tc.addr || a.status != tc.status || a.xid != 5) {
			t.Errorf("%s: addr %s status %d xid %d, want %s %d 5", tc.name, a.addr, a.status, a.xid, tc.addr, tc.status)
		}
	}
}

// TestRequest: the Request built from an Advertise carries the server's
// Server ID and the offered address, as an independent decoder reads it.
func TestRequest(t *testing.T) {
	a, err := parseAnswer(mustHex(t, realAnswers["kea advertise"]))
	if err != nil {
		t.Fatal(err)
	}
	m, err := dhcpv6.MessageFromBytes(request(nil, a.xid|reqBit, a.clientID, &a))
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageType != dhcpv6.MessageTypeRequest || m.TransactionID != (dhcpv6.TransactionID{0x80, 0, 0}) {
		t.Errorf("type %s xid %s", m.MessageType, m.TransactionID)
	}
	if !bytes.Equal(m.Options.ServerID().ToBytes(), a.serverID) || !bytes.Equal(m.Options.ClientID().ToBytes(), a.clientID) {
		t.Errorf("server ID %v client ID %v", m.Options.ServerID(), m.Options.ClientID())
	}
	ia := m.Options.OneIANA()
	if ia == nil || ia.Options.OneAddress() == nil || ia.Options.OneAddress().IPv6Addr.String() != "2001:db8:0:2::1000" {
		t.Errorf("IA_NA %v", ia)
	}
}

func TestHistQuantile(t *testing.T) {
	h := newHist(time.Second)
	if h.quantile(0.99) != 0 {
		t.Error("empty histogram")
	}
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	h.add(5 * time.Second) // past the end: counted in the last bucket
	got := []int{h.quantile(0.5), h.quantile(0.99), h.quantile(1), h.maxUS}
	if diff := cmp.Diff([]int{501, 991, 1000000, 1000000}, got); diff != "" {
		t.Errorf("quantiles (-want +got):\n%s", diff)
	}
}

// TestHandle follows exchanges through the client's state machine: an
// Advertise gets a Request, its Reply completes the exchange; late, foreign
// and duplicate answers are not counted as completed.
func TestHandle(t *testing.T) {
	c := &client{table: make([]slot, 1<<tableBits), seed: 7, clients: 1000, dropTime: time.Second, h: newHist(time.Second)}
	const t0 = int64(1e18)
	for n := uint32(0); n < 3; n++ {
		c.table[n] = slot{n: n, sent: t0, stage: 1}
	}
	adv := advertise(t, dhcpv6.MessageTypeAdvertise, 0, "2001:db8::10", time.Hour, 0)
	req := c.handle(adv, t0+int64(time.Millisecond), nil)
	if req == nil || req[0] != msgRequest || req[1] != 0x80 {
		t.Fatalf("Advertise answered with %x, want a Request with xid 0x800000", req)
	}
	if c.handle(adv, t0+int64(2*time.Millisecond), nil) != nil {
		t.Error("a duplicate Advertise got a second Request")
	}
	rep := advertise(t, dhcpv6.MessageTypeReply, reqBit, "2001:db8::10", time.Hour, 0)
	c.handle(rep, t0+int64(3*time.Millisecond), nil)
	c.handle(rep, t0+int64(4*time.Millisecond), nil) // duplicate
	// Client 1: its Advertise is too late.
	c.handle(advertise(t, dhcpv6.MessageTypeAdvertise, 1, "2001:db8::11", time.Hour, 0), t0+int64(2*time.Second), nil)
	// Client 2: NoAddrsAvail.
	c.handle(advertise(t, dhcpv6.MessageTypeAdvertise, 2, "", 0, iana.StatusNoAddrsAvail), t0+int64(time.Millisecond), nil)
	// Nobody asked this one.
	c.handle(advertise(t, dhcpv6.MessageTypeAdvertise, 99, "2001:db8::99", time.Hour, 0), t0, nil)
	c.handle([]byte{7, 0}, t0, nil)
	want := result{Completed: 1, Late: 1, NoAddrs: 1, Orphans: 3, Malformed: 1}
	if diff := cmp.Diff(want, c.res); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	if len(c.acked) != 1 || c.acked[0] != (ack{0, netip.MustParseAddr("2001:db8::10")}) {
		t.Errorf("acked %v, want client 0 with 2001:db8::10", c.acked)
	}
	if c.h.n != 1 || c.h.quantile(1) != 3000 {
		t.Errorf("latency: %d samples, max %d µs; want 1 of 3000 µs", c.h.n, c.h.quantile(1))
	}
}

// TestHandleRapid: in the Rapid Commit exchange the Reply to the Solicit
// completes it, and an Advertise (the server ignored Rapid Commit) is
// counted as such.
func TestHandleRapid(t *testing.T) {
	c := &client{table: make([]slot, 1<<tableBits), rapid: true, clients: 1000, dropTime: time.Second, h: newHist(time.Second)}
	c.table[0] = slot{n: 0, sent: 1, stage: 1}
	c.table[1] = slot{n: 1, sent: 1, stage: 1}
	if c.handle(advertise(t, dhcpv6.MessageTypeReply, 0, "2001:db8::10", time.Hour, 0), 2, nil) != nil {
		t.Error("a Reply got an answer")
	}
	c.handle(advertise(t, dhcpv6.MessageTypeAdvertise, 1, "2001:db8::11", time.Hour, 0), 2, nil)
	if c.res.Completed != 1 || c.res.Advertised != 1 {
		t.Errorf("completed %d advertised %d, want 1 and 1", c.res.Completed, c.res.Advertised)
	}
}

// FuzzParseAnswer: any datagram parses or fails without panicking, and
// what it returns points into the datagram.
func FuzzParseAnswer(f *testing.F) {
	for _, h := range realAnswers {
		f.Add(mustHex(f, h))
	}
	f.Add(advertise(f, dhcpv6.MessageTypeAdvertise, 5, "", 0, iana.StatusNoAddrsAvail))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAnswer(b)
		if err != nil {
			return
		}
		for _, s := range [][]byte{a.clientID, a.serverID, a.iana} {
			if len(s) > len(b) {
				t.Fatalf("option of %d bytes from a datagram of %d", len(s), len(b))
			}
		}
		c := &client{table: make([]slot, 1<<tableBits), clients: 1, dropTime: time.Second, h: newHist(time.Second)}
		c.table[a.xid&(1<<tableBits-1)&(reqBit-1)] = slot{n: a.xid & (reqBit - 1), sent: 1, stage: 1}
		// A Request echoes the Server ID and IA_NA as they came, in
		// well-formed options.
		if req := c.handle(b, 2, nil); req != nil {
			var sid, ia []byte
			if len(req) < 4 || req[0] != msgRequest {
				t.Fatalf("Request %x", req)
			}
			if err := options(req[4:], func(code uint16, data []byte) {
				switch code {
				case optServerID:
					sid = data
				case optIANA:
					ia = data
				}
			}); err != nil {
				t.Fatalf("Request %x: %v", req, err)
			}
			if !bytes.Equal(sid, a.serverID) || !bytes.Equal(ia, a.iana) {
				t.Fatalf("Request %x does not echo Server ID %x and IA_NA %x", req, a.serverID, a.iana)
			}
		}
	})
}
