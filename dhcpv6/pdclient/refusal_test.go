package pdclient_test

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6/pdclient"
	"github.com/vrouter/vrouter/dhcpv6/pdclient/pdtest"
)

// setIAPD replaces the IA_PD options of m by ias.
func setIAPD(m *dhcpv6.Message, ias ...*dhcpv6.OptIAPD) {
	m.Options.Del(dhcpv6.OptionIAPD)
	for _, ia := range ias {
		m.AddOption(ia)
	}
}

// withPrefixes makes the IA_PD of m hold opts.
func withPrefixes(m *dhcpv6.Message, opts ...dhcpv6.Option) {
	ia := m.Options.OneIAPD()
	ia.Options = dhcpv6.PDOptions{Options: opts}
}

type refusalCase struct {
	name string
	// prefix delegated first (default p56) and client options.
	prefix netip.Prefix
	opts   []pdclient.Option
	// reply turns the server's good Reply into the bad one; raw, when set,
	// makes the bytes.
	reply func(m *dhcpv6.Message)
	raw   func(good []byte) []byte
	want  pdclient.Refusal
}

var refusalCases = []refusalCase{
	{name: "truncated", raw: func(b []byte) []byte { return b[:len(b)-3] }, want: pdclient.RefusedMalformed},
	{name: "short header", raw: func(b []byte) []byte { return b[:3] }, want: pdclient.RefusedMalformed},
	{name: "garbage IA_PD body", reply: func(m *dhcpv6.Message) {
		m.Options.Del(dhcpv6.OptionIAPD)
		m.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionIAPD, OptionData: []byte{1, 2, 3}})
	}, want: pdclient.RefusedMalformed},
	{name: "garbage IA Prefix body", reply: func(m *dhcpv6.Message) {
		withPrefixes(m, &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionIAPrefix, OptionData: []byte{0, 0, 0, 1, 0, 0}})
	}, want: pdclient.RefusedMalformed},
	{name: "option past the end", raw: func(b []byte) []byte { return append(b, 0, 99, 0, 10, 1) }, want: pdclient.RefusedMalformed},
	{name: "advertise to a renew", reply: func(m *dhcpv6.Message) { m.MessageType = dhcpv6.MessageTypeAdvertise },
		want: pdclient.RefusedUnexpectedType},
	{name: "a solicit", reply: func(m *dhcpv6.Message) { m.MessageType = dhcpv6.MessageTypeSolicit },
		want: pdclient.RefusedUnexpectedType},
	{name: "relay-reply", raw: func(b []byte) []byte {
		return append([]byte{13, 0}, make([]byte, 32)...)
	}, want: pdclient.RefusedUnexpectedType},
	{name: "reconfigure", reply: func(m *dhcpv6.Message) { m.MessageType = dhcpv6.MessageTypeReconfigure },
		want: pdclient.RefusedReconfigure},
	{name: "wrong transaction id", reply: func(m *dhcpv6.Message) { m.TransactionID[0] ^= 0xff },
		want: pdclient.RefusedTransactionID},
	{name: "wrong client id", reply: func(m *dhcpv6.Message) {
		m.Options.Del(dhcpv6.OptionClientID)
		m.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: []byte{2, 1, 1, 1, 1, 1}}))
	}, want: pdclient.RefusedClientID},
	{name: "no client id", reply: func(m *dhcpv6.Message) { m.Options.Del(dhcpv6.OptionClientID) },
		want: pdclient.RefusedClientID},
	{name: "no server id", reply: func(m *dhcpv6.Message) { m.Options.Del(dhcpv6.OptionServerID) },
		want: pdclient.RefusedNoServerID},
	{name: "no IA_PD", reply: func(m *dhcpv6.Message) { setIAPD(m) }, want: pdclient.RefusedNoIAPD},
	{name: "IA_PD of another IAID", reply: func(m *dhcpv6.Message) { m.Options.OneIAPD().IaId[0] ^= 0xff },
		want: pdclient.RefusedNoIAPD},
	{name: "IA_PD without prefix", reply: func(m *dhcpv6.Message) { withPrefixes(m) }, want: pdclient.RefusedNoPrefix},
	{name: "T1 over T2", reply: func(m *dhcpv6.Message) {
		ia := m.Options.OneIAPD()
		ia.T1, ia.T2 = 90*time.Second, 60*time.Second
	}, want: pdclient.RefusedT1OverT2},
	{name: "new prefix, valid lifetime 0", reply: func(m *dhcpv6.Message) {
		withPrefixes(m, pdtest.IAPrefix(p56b, 0, 0))
	}, want: pdclient.RefusedZeroLifetime},
	{name: "new prefix, preferred lifetime 0", reply: func(m *dhcpv6.Message) {
		withPrefixes(m, pdtest.IAPrefix(p56b, 0, time.Hour))
	}, want: pdclient.RefusedZeroLifetime},
	{name: "preferred over valid", reply: func(m *dhcpv6.Message) {
		withPrefixes(m, pdtest.IAPrefix(p56, 300*time.Second, 200*time.Second))
	}, want: pdclient.RefusedPreferredOverValid},
	{name: "longer than /64", reply: func(m *dhcpv6.Message) {
		withPrefixes(m, pdtest.IAPrefix(netip.MustParsePrefix("2001:db8:100::/72"), time.Hour, time.Hour))
	}, want: pdclient.RefusedPrefixTooLong},
	{name: "too long for the subnet ids", prefix: netip.MustParsePrefix("2001:db8:100::/48"),
		opts: []pdclient.Option{pdclient.WithMaxSubnetID(256)},
		reply: func(m *dhcpv6.Message) {
			withPrefixes(m, pdtest.IAPrefix(p56b, time.Hour, time.Hour))
		}, want: pdclient.RefusedPrefixTooLong},
	{name: "link-local prefix", reply: func(m *dhcpv6.Message) {
		withPrefixes(m, pdtest.IAPrefix(netip.MustParsePrefix("fe80::/56"), time.Hour, time.Hour))
	}, want: pdclient.RefusedBadPrefix},
	{name: "multicast prefix", reply: func(m *dhcpv6.Message) {
		withPrefixes(m, pdtest.IAPrefix(netip.MustParsePrefix("ff05::/56"), time.Hour, time.Hour))
	}, want: pdclient.RefusedBadPrefix},
	{name: "prefix length 0", reply: func(m *dhcpv6.Message) {
		withPrefixes(m, &dhcpv6.OptIAPrefix{PreferredLifetime: time.Hour, ValidLifetime: time.Hour})
	}, want: pdclient.RefusedBadPrefix},
	{name: "IA_PD NoPrefixAvail", reply: func(m *dhcpv6.Message) {
		withPrefixes(m, &dhcpv6.OptStatusCode{StatusCode: iana.StatusNoPrefixAvail, StatusMessage: "none left"})
	}, want: pdclient.RefusedNoPrefixAvail},
	{name: "IA Prefix with NoPrefixAvail", reply: func(m *dhcpv6.Message) {
		iap := pdtest.IAPrefix(p56b, time.Hour, time.Hour)
		iap.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoPrefixAvail})
		withPrefixes(m, iap)
	}, want: pdclient.RefusedNoPrefixAvail},
	{name: "message UnspecFail", reply: func(m *dhcpv6.Message) {
		setIAPD(m)
		m.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusUnspecFail})
	}, want: pdclient.RefusedUnspecFail},
	{name: "message NotOnLink", reply: func(m *dhcpv6.Message) {
		m.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNotOnLink})
	}, want: pdclient.RefusedStatusOther},
	{name: "UseMulticast to a multicast Renew", reply: func(m *dhcpv6.Message) {
		m.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusUseMulticast})
	}, want: pdclient.RefusedUseMulticast},
}

// TestRefusedDuringRenew delivers each bad Reply to a Renew: it is counted
// under its reason, the delegation is kept unchanged, nothing is notified,
// and the Renew goes on being retransmitted.
func TestRefusedDuringRenew(t *testing.T) {
	for _, tc := range refusalCases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, config.PrefixDelegation{Length: 56}, tc.opts...)
				if tc.prefix.IsValid() {
					h.srv.Prefix = tc.prefix
				}
				h.bind()
				before := h.client.Current()
				h.takeChanges()
				time.Sleep(50 * time.Second)
				ren := h.next(dhcpv6.MessageTypeRenew)
				good := h.srv.Answer(ren.Message)
				var b []byte
				if tc.raw != nil {
					b = tc.raw(good.ToBytes())
				} else {
					tc.reply(good)
					b = good.ToBytes()
				}
				h.conn.Deliver(b, serverLL)
				synctest.Wait()

				st := h.client.Status()
				if diff := cmp.Diff(map[pdclient.Refusal]uint64{tc.want: 1}, st.Refused); diff != "" {
					t.Errorf("refusals (-want +got):\n%s", diff)
				}
				if got := h.client.Current(); got != before {
					t.Errorf("delegation changed: %+v, was %+v", got, before)
				}
				if ch := h.takeChanges(); len(ch) != 0 {
					t.Errorf("changes notified: %+v", ch)
				}
				if st.State != pdclient.StateRenewing {
					t.Errorf("state %q, want renewing", st.State)
				}
				time.Sleep(11 * time.Second)
				for _, d := range h.sent() {
					if d.Message.MessageType != dhcpv6.MessageTypeRenew || d.Message.TransactionID != ren.Message.TransactionID {
						t.Errorf("sent %v, want the Renew retransmitted", d.Message.Summary())
					}
				}
				// The server's good Reply is still taken.
				h.answer(ren)
				if st := h.client.Status(); st.State != pdclient.StateBound {
					t.Errorf("state %q after the good Reply", st.State)
				}
			})
		})
	}
}

// A bad Reply to a Request binds nothing: the client solicits again.
func TestRefusedReplyToRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(m *dhcpv6.Message)
		want  pdclient.Refusal
	}{
		{"T1 over T2", func(m *dhcpv6.Message) {
			ia := m.Options.OneIAPD()
			ia.T1, ia.T2 = 90*time.Second, 60*time.Second
		}, pdclient.RefusedT1OverT2},
		{"lifetimes 0", func(m *dhcpv6.Message) { withPrefixes(m, pdtest.IAPrefix(p56, 0, 0)) }, pdclient.RefusedZeroLifetime},
		{"longer than /64", func(m *dhcpv6.Message) {
			withPrefixes(m, pdtest.IAPrefix(netip.MustParsePrefix("2001:db8:100::/80"), time.Hour, time.Hour))
		}, pdclient.RefusedPrefixTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, config.PrefixDelegation{Length: 56})
				sol := h.firstSolicit()
				h.answer(sol)
				time.Sleep(1100 * time.Millisecond)
				req := h.next(dhcpv6.MessageTypeRequest)
				resp := h.srv.Answer(req.Message)
				tc.reply(resp)
				h.deliver(resp, serverLL)
				st := h.client.Status()
				if st.Refused[tc.want] != 1 || st.Prefix.IsValid() || st.State != pdclient.StateWaiting {
					t.Errorf("status %+v, want one %v refusal and no delegation", st, tc.want)
				}
				if ch := h.takeChanges(); len(ch) != 0 {
					t.Errorf("changes: %+v", ch)
				}
				time.Sleep(1200 * time.Millisecond)
				h.next(dhcpv6.MessageTypeSolicit)
			})
		})
	}
}

// RFC 8415 lets the server delegate a shorter prefix than the hint.
func TestShorterThanHintAccepted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56}, pdclient.WithMaxSubnetID(2))
		p48 := netip.MustParsePrefix("2001:db8:100::/48")
		h.srv.Prefix = p48
		h.bind()
		if st := h.client.Status(); st.Prefix != p48 || len(st.Refused) != 0 {
			t.Errorf("status %+v, want %v accepted", st, p48)
		}
	})
}

// Replies that come when nothing waits for them, or twice, are refused and
// change nothing.
func TestDuplicateReplyRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		h.bind()
		req := h.conn.Sent()[len(h.conn.Sent())-1]
		h.takeChanges()
		h.answer(req)
		if st := h.client.Status(); st.Refused[pdclient.RefusedTransactionID] != 1 || st.Delegations != 1 {
			t.Errorf("status %+v, want the duplicate refused", st)
		}
		if ch := h.takeChanges(); len(ch) != 0 {
			t.Errorf("changes: %+v", ch)
		}
	})
}
