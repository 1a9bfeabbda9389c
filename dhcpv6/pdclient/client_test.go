package pdclient_test

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vrouter/vrouter/config"
	vdhcp "github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/dhcpv6/pdclient"
	"github.com/vrouter/vrouter/dhcpv6/pdclient/pdtest"
)

var (
	p56       = netip.MustParsePrefix("2001:db8:100::/56")
	p56b      = netip.MustParsePrefix("2001:db8:200::/56")
	serverLL  = netip.AddrPortFrom(netip.MustParseAddr("fe80::53"), pdclient.ServerPort)
	server2LL = netip.AddrPortFrom(netip.MustParseAddr("fe80::54"), pdclient.ServerPort)
	allServer = netip.AddrPortFrom(pdclient.AllServers, pdclient.ServerPort)
	clientID  = []byte{0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16} // DUID-UUID
)

// eq compares the netip values of Changes.
var eq = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

// harness runs a Client on a pdtest.Conn inside a synctest bubble.
type harness struct {
	t      *testing.T
	conn   *pdtest.Conn
	srv    *pdtest.Server
	client *pdclient.Client
	cancel context.CancelFunc
	done   chan error
	seen   int

	mu      sync.Mutex
	changes []pdclient.Change
}

func newHarness(t *testing.T, cfg config.PrefixDelegation, opts ...pdclient.Option) *harness {
	t.Helper()
	h := &harness{t: t, conn: pdtest.NewConn(), srv: pdtest.NewServer(p56), done: make(chan error, 1)}
	h.srv.Preferred, h.srv.Valid, h.srv.T1, h.srv.T2 = 100*time.Second, 200*time.Second, 50*time.Second, 80*time.Second
	opts = append([]pdclient.Option{
		pdclient.WithConn(h.conn),
		pdclient.WithDUID(clientID),
		pdclient.WithRand(rand.New(rand.NewPCG(7, 8))),
		pdclient.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))),
		pdclient.WithNotify(func(ch pdclient.Change) {
			h.mu.Lock()
			h.changes = append(h.changes, ch)
			h.mu.Unlock()
		}),
	}, opts...)
	h.client = pdclient.New("eth0", cfg, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.client.Run(ctx) }()
	t.Cleanup(func() { h.stop() })
	synctest.Wait()
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
}

// sent returns the datagrams written since the last call.
func (h *harness) sent() []pdtest.Datagram {
	synctest.Wait()
	all := h.conn.Sent()
	out := all[h.seen:]
	h.seen = len(all)
	return out
}

// next returns the one datagram written since the last call.
func (h *harness) next(want dhcpv6.MessageType) pdtest.Datagram {
	h.t.Helper()
	s := h.sent()
	if len(s) != 1 {
		h.t.Fatalf("want one %v sent, got %d: %v", want, len(s), types(s))
	}
	if s[0].Message == nil || s[0].Message.MessageType != want {
		h.t.Fatalf("want a %v, got %v", want, types(s))
	}
	return s[0]
}

func types(ds []pdtest.Datagram) []string {
	var out []string
	for _, d := range ds {
		if d.Message == nil {
			out = append(out, "unparsable")
		} else {
			out = append(out, d.Message.MessageType.String())
		}
	}
	return out
}

// answer has the server answer d and delivers its answer.
func (h *harness) answer(d pdtest.Datagram) {
	h.t.Helper()
	resp := h.srv.Answer(d.Message)
	if resp == nil {
		h.t.Fatalf("server does not answer %v", d.Message.MessageType)
	}
	h.deliver(resp, serverLL)
}

func (h *harness) deliver(m *dhcpv6.Message, src netip.AddrPort) {
	h.conn.Deliver(m.ToBytes(), src)
	synctest.Wait()
}

func (h *harness) takeChanges() []pdclient.Change {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.changes
	h.changes = nil
	return ch
}

// bind runs Solicit/Advertise/Request/Reply and returns the time of the
// Reply.
func (h *harness) bind() time.Time {
	h.t.Helper()
	sol := h.firstSolicit()
	h.answer(sol)
	time.Sleep(1100 * time.Millisecond) // the first RT: the Advertise is taken then
	req := h.next(dhcpv6.MessageTypeRequest)
	h.answer(req)
	if st := h.client.Status(); st.State != pdclient.StateBound {
		h.t.Fatalf("state %q after the Reply, want bound", st.State)
	}
	return time.Now()
}

// firstSolicit waits for the first Solicit, sent within SOL_MAX_DELAY (1s).
func (h *harness) firstSolicit() pdtest.Datagram {
	h.t.Helper()
	for range 100 {
		synctest.Wait()
		if len(h.conn.Sent()) > h.seen {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h.next(dhcpv6.MessageTypeSolicit)
}

func iaPD(t *testing.T, m *dhcpv6.Message) *dhcpv6.OptIAPD {
	t.Helper()
	ias := m.Options.IAPD()
	if len(ias) != 1 {
		t.Fatalf("%v has %d IA_PD, want 1", m.MessageType, len(ias))
	}
	return ias[0]
}

func iaPrefixes(t *testing.T, m *dhcpv6.Message) []string {
	t.Helper()
	var out []string
	for _, p := range iaPD(t, m).Options.Prefixes() {
		out = append(out, p.Prefix.String())
	}
	return out
}

func TestSolicitBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		if st := h.client.Status(); st.State != "waiting for a delegation" {
			t.Fatalf("state %q, want waiting for a delegation", st.State)
		}
		time.Sleep(6 * time.Hour)
		sols := h.sent()
		if len(sols) < 15 {
			t.Fatalf("%d Solicits in 6h, want at least 15", len(sols))
		}
		if d := sols[0].Time.Sub(start); d < 0 || d > time.Second {
			t.Errorf("first Solicit after %v, want within SOL_MAX_DELAY (1s)", d)
		}
		xid := sols[0].Message.TransactionID
		var prev time.Duration
		for i, s := range sols {
			m := s.Message
			if m == nil || m.MessageType != dhcpv6.MessageTypeSolicit || m.TransactionID != xid {
				t.Fatalf("datagram %d: %v, want a Solicit of transaction %v", i, m, xid)
			}
			if s.Dst != allServer {
				t.Errorf("Solicit %d to %v, want %v", i, s.Dst, allServer)
			}
			if got, want := m.Options.ElapsedTime(), min(s.Time.Sub(sols[0].Time), 655350*time.Millisecond); got != want.Round(10*time.Millisecond) {
				t.Errorf("Solicit %d: elapsed time %v, want %v", i, got, want)
			}
			if got := iaPrefixes(t, m); !cmp.Equal(got, []string{"::/56"}) {
				t.Errorf("Solicit %d: IA_PD prefixes %v, want the length hint ::/56", i, got)
			}
			if oro := m.Options.RequestedOptions(); !oro.Contains(dhcpv6.OptionSolMaxRT) {
				t.Errorf("Solicit %d: ORO %v lacks SOL_MAX_RT", i, oro)
			}
			if m.Options.ServerID() != nil {
				t.Errorf("Solicit %d names a server", i)
			}
			if i == len(sols)-1 {
				break
			}
			rt := sols[i+1].Time.Sub(s.Time)
			switch {
			case i == 0: // RT = IRT + RAND*IRT with RAND > 0
				if rt <= time.Second || rt > 1100*time.Millisecond {
					t.Errorf("first RT %v, want in (1s, 1.1s]", rt)
				}
			case 2*prev+prev/10 < 3600*time.Second: // RT = 2RTprev + RAND*RTprev
				if lo, hi := 2*prev-prev/10, 2*prev+prev/10; rt < lo || rt > hi {
					t.Errorf("RT %d = %v after %v, want in [%v, %v]", i, rt, prev, lo, hi)
				}
			case 2*prev-prev/10 > 3960*time.Second: // MRT + RAND*MRT
				if rt < 3240*time.Second || rt > 3960*time.Second {
					t.Errorf("RT %d = %v, want SOL_MAX_RT 3600s ±10%%", i, rt)
				}
			}
			prev = rt
		}
		if prev < 3240*time.Second {
			t.Errorf("last RT %v: back-off never reached SOL_MAX_RT", prev)
		}
		if st := h.client.Status(); st.Sent["solicit"] != uint64(len(sols)) || st.Exchange != "solicit" {
			t.Errorf("status sent %v exchange %q, want %d solicits", st.Sent, st.Exchange, len(sols))
		}
	})
}

func TestSolicitNoLengthHint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{})
		time.Sleep(time.Second)
		sol := h.next(dhcpv6.MessageTypeSolicit)
		if got := iaPrefixes(t, sol.Message); len(got) != 0 {
			t.Errorf("IA_PD prefixes %v, want none without a length", got)
		}
	})
}

// An Advertise with NoPrefixAvail is ignored (RFC 8415 §18.2.9), but its
// SOL_MAX_RT option caps the Solicit back-off.
func TestAdvertiseNoPrefixAvailAndSolMaxRT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		h.srv.Prefix = netip.Prefix{}
		time.Sleep(time.Second)
		sol := h.next(dhcpv6.MessageTypeSolicit)
		adv := h.srv.Answer(sol.Message)
		adv.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionSolMaxRT, OptionData: []byte{0, 0, 0, 60}})
		h.deliver(adv, serverLL)
		time.Sleep(2 * time.Hour)
		sols := h.sent()
		for i := 1; i < len(sols); i++ {
			if rt := sols[i].Time.Sub(sols[i-1].Time); rt > 66*time.Second {
				t.Fatalf("RT %v after SOL_MAX_RT 60s, want at most 66s", rt)
			}
		}
		if len(sols) < 100 {
			t.Errorf("%d Solicits in 2h with SOL_MAX_RT 60s, want over 100", len(sols))
		}
		st := h.client.Status()
		if st.Refused[pdclient.RefusedNoPrefixAvail] != 1 || st.Prefix.IsValid() || st.State != pdclient.StateWaiting {
			t.Errorf("status %+v, want one no_prefix_avail refusal and no delegation", st)
		}
	})
}

func TestBindRenewRebindExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		bound := h.bind()
		want := []pdclient.Change{{Current: pdclient.Delegation{Prefix: p56, Preferred: 100 * time.Second, Valid: 200 * time.Second, Obtained: bound}}}
		if diff := cmp.Diff(want, h.takeChanges(), eq); diff != "" {
			t.Fatalf("changes (-want +got):\n%s", diff)
		}
		st := h.client.Status()
		if st.Prefix != p56 || !st.T1.Equal(bound.Add(50*time.Second)) || !st.T2.Equal(bound.Add(80*time.Second)) ||
			!st.Valid.Equal(bound.Add(200*time.Second)) || st.Delegations != 1 || st.Server != serverLL.Addr() {
			t.Fatalf("status after binding: %+v", st)
		}

		// T1: Renew to the server that delegated, by multicast (no Server
		// Unicast option), naming it; retransmitted until T2.
		time.Sleep(50*time.Second - time.Nanosecond)
		if s := h.sent(); len(s) != 0 {
			t.Fatalf("sent %v before T1", types(s))
		}
		time.Sleep(time.Nanosecond)
		ren := h.next(dhcpv6.MessageTypeRenew)
		if !ren.Time.Equal(bound.Add(50*time.Second)) || ren.Dst != allServer {
			t.Errorf("Renew at +%v to %v, want at T1 (+50s) to %v", ren.Time.Sub(bound), ren.Dst, allServer)
		}
		if sid := ren.Message.Options.ServerID(); sid == nil || !sid.Equal(h.srv.DUID) {
			t.Errorf("Renew server id %v, want %v", sid, h.srv.DUID)
		}
		if got := iaPrefixes(t, ren.Message); !cmp.Equal(got, []string{p56.String()}) {
			t.Errorf("Renew IA_PD %v, want %v", got, p56)
		}
		if st := h.client.Status(); st.State != pdclient.StateRenewing {
			t.Errorf("state %q during Renew", st.State)
		}
		time.Sleep(30*time.Second - time.Nanosecond) // up to T2
		renews := h.sent()
		if len(renews) != 2 { // at ~+10s and ~+30s (RT 10s ±10%, then doubled)
			t.Errorf("Renew retransmissions before T2: %v, want 2", types(renews))
		}
		time.Sleep(time.Nanosecond)
		reb := h.next(dhcpv6.MessageTypeRebind)
		if !reb.Time.Equal(bound.Add(80*time.Second)) || reb.Dst != allServer || reb.Message.Options.ServerID() != nil {
			t.Errorf("Rebind at +%v to %v with server id %v; want at T2 (+80s), multicast, no server id",
				reb.Time.Sub(bound), reb.Dst, reb.Message.Options.ServerID())
		}
		if st := h.client.Status(); st.State != pdclient.StateRebinding {
			t.Errorf("state %q during Rebind", st.State)
		}
		if ch := h.takeChanges(); len(ch) != 0 {
			t.Errorf("changes before expiry: %v", ch)
		}

		// Expiry at the valid lifetime: the delegation is gone, soliciting
		// again with the old prefix as a hint.
		time.Sleep(120*time.Second - time.Nanosecond)
		if st := h.client.Status(); st.Prefix != p56 {
			t.Fatalf("delegation lost before its valid lifetime: %+v", st)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		want = []pdclient.Change{{Gone: []pdclient.Delegation{{Prefix: p56, Obtained: bound.Add(200 * time.Second)}}}}
		if diff := cmp.Diff(want, h.takeChanges(), eq); diff != "" {
			t.Errorf("changes at expiry (-want +got):\n%s", diff)
		}
		st = h.client.Status()
		if st.State != pdclient.StateWaiting || st.Prefix.IsValid() || st.Expired != 1 {
			t.Errorf("status after expiry: %+v", st)
		}
		time.Sleep(time.Second)
		s := h.sent()
		sol := s[len(s)-1]
		if sol.Message.MessageType != dhcpv6.MessageTypeSolicit {
			t.Fatalf("after expiry sent %v, want a Solicit last", types(s))
		}
		if got := iaPrefixes(t, sol.Message); !cmp.Equal(got, []string{p56.String()}) {
			t.Errorf("Solicit after expiry hints %v, want the old prefix %v", got, p56)
		}
	})
}

func TestRenewExtends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		h.bind()
		h.takeChanges()
		time.Sleep(50 * time.Second)
		ren := h.next(dhcpv6.MessageTypeRenew)
		h.answer(ren)
		renewed := time.Now()
		want := []pdclient.Change{{Current: pdclient.Delegation{Prefix: p56, Preferred: 100 * time.Second, Valid: 200 * time.Second, Obtained: renewed}}}
		if diff := cmp.Diff(want, h.takeChanges(), eq); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		st := h.client.Status()
		if st.State != pdclient.StateBound || !st.T1.Equal(renewed.Add(50*time.Second)) || st.Delegations != 1 {
			t.Errorf("status after renew: %+v", st)
		}
		// The next Renew comes at the new T1, with no retransmission of
		// the answered one.
		time.Sleep(50*time.Second - time.Nanosecond)
		if s := h.sent(); len(s) != 0 {
			t.Errorf("sent %v between renewals", types(s))
		}
		time.Sleep(time.Nanosecond)
		h.next(dhcpv6.MessageTypeRenew)
	})
}

// The client collects Advertises for the first RT and takes the highest
// preference; 255 is taken at once.
func TestAdvertiseSelection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		other := pdtest.NewServer(p56b)
		other.DUID = &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: []byte{2, 0, 0, 0, 0, 0x54}}
		h.srv.Preference, other.Preference = 10, 50
		sol := h.firstSolicit()
		h.answer(sol)
		time.Sleep(500 * time.Millisecond)
		h.deliver(other.Answer(sol.Message), server2LL)
		if s := h.sent(); len(s) != 0 {
			t.Fatalf("sent %v before the first RT ended", types(s))
		}
		time.Sleep(600 * time.Millisecond)
		req := h.next(dhcpv6.MessageTypeRequest)
		if sid := req.Message.Options.ServerID(); !sid.Equal(other.DUID) {
			t.Errorf("Request to %v, want the preference-50 server %v", sid, other.DUID)
		}
		if got := iaPrefixes(t, req.Message); !cmp.Equal(got, []string{p56b.String()}) {
			t.Errorf("Request IA_PD %v, want the offered %v", got, p56b)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		h.srv.Preference = 255
		sol := h.firstSolicit()
		answered := time.Now()
		h.answer(sol)
		req := h.next(dhcpv6.MessageTypeRequest)
		if !req.Time.Equal(answered) {
			t.Errorf("Request %v after the Advertise of preference 255, want at once", req.Time.Sub(answered))
		}
	})
}

// After the first RT the first Advertise is taken at once (RFC 8415 §18.2.1).
func TestAdvertiseAfterFirstRT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		time.Sleep(time.Second)
		h.next(dhcpv6.MessageTypeSolicit)
		time.Sleep(1100 * time.Millisecond)
		sol := h.next(dhcpv6.MessageTypeSolicit)
		h.answer(sol)
		h.next(dhcpv6.MessageTypeRequest)
	})
}

func TestRequestUnansweredSolicitsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		time.Sleep(time.Second)
		h.answer(h.next(dhcpv6.MessageTypeSolicit))
		time.Sleep(1100 * time.Millisecond)
		time.Sleep(10 * time.Minute)
		var reqs int
		var sawSolicit bool
		for _, d := range h.sent() {
			switch d.Message.MessageType {
			case dhcpv6.MessageTypeRequest:
				if sawSolicit {
					t.Fatal("a Request after the exchange failed")
				}
				reqs++
			case dhcpv6.MessageTypeSolicit:
				sawSolicit = true
			}
		}
		if reqs != 10 || !sawSolicit {
			t.Errorf("%d Requests then solicit=%v; want REQ_MAX_RC (10) Requests, then Solicits", reqs, sawSolicit)
		}
	})
}

// NoPrefixAvail in the Reply to a Request: back to soliciting, with a back-off
// that grows with every failed attempt.
func TestRequestNoPrefixAvailBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		var waits []time.Duration
		time.Sleep(time.Second)
		for range 5 {
			sol := h.next(dhcpv6.MessageTypeSolicit)
			h.srv.Prefix = p56
			h.srv.Preference = 255
			h.answer(sol)
			req := h.next(dhcpv6.MessageTypeRequest)
			h.srv.Prefix = netip.Prefix{}
			h.answer(req)
			refused := time.Now()
			for i := 0; ; i++ {
				if i > 1000 {
					t.Fatal("no Solicit after the refusal")
				}
				time.Sleep(100 * time.Millisecond)
				synctest.Wait()
				if n := len(h.conn.Sent()); n > h.seen {
					waits = append(waits, time.Since(refused))
					break
				}
			}
		}
		for i := 1; i < len(waits); i++ {
			if waits[i] < waits[i-1]*17/10 {
				t.Errorf("waits before soliciting again %v: want each about twice the one before", waits)
				break
			}
		}
		st := h.client.Status()
		if st.Refused[pdclient.RefusedNoPrefixAvail] != 5 || st.State != pdclient.StateWaiting {
			t.Errorf("status %+v, want 5 no_prefix_avail refusals, waiting", st)
		}
	})
}

func TestRenewPrefixChange(t *testing.T) {
	for _, tc := range []struct {
		name      string
		withdraw  bool
		wantValid time.Duration
	}{
		// Old prefix answered with lifetimes 0: gone at once.
		{"withdrawn", true, 0},
		// Old prefix not in the Reply: it keeps the rest of its valid
		// lifetime (200s - T1 50s).
		{"left out", false, 150 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, config.PrefixDelegation{Length: 56})
				h.bind()
				h.takeChanges()
				time.Sleep(50 * time.Second)
				ren := h.next(dhcpv6.MessageTypeRenew)
				h.srv.Prefix = p56b
				if tc.withdraw {
					h.srv.Withdraw = []netip.Prefix{p56}
				}
				h.answer(ren)
				now := time.Now()
				want := []pdclient.Change{{
					Current: pdclient.Delegation{Prefix: p56b, Preferred: 100 * time.Second, Valid: 200 * time.Second, Obtained: now},
					Gone:    []pdclient.Delegation{{Prefix: p56, Valid: tc.wantValid, Obtained: now}},
				}}
				if diff := cmp.Diff(want, h.takeChanges(), eq); diff != "" {
					t.Errorf("changes (-want +got):\n%s", diff)
				}
				if st := h.client.Status(); st.Prefix != p56b || st.Delegations != 2 || st.State != pdclient.StateBound {
					t.Errorf("status %+v", st)
				}
				// The next Renew asks for the new prefix only.
				time.Sleep(50 * time.Second)
				if got := iaPrefixes(t, h.next(dhcpv6.MessageTypeRenew).Message); !cmp.Equal(got, []string{p56b.String()}) {
					t.Errorf("next Renew asks for %v", got)
				}
			})
		})
	}
}

// A Reply that withdraws the prefix and offers none: gone, soliciting again.
func TestRenewWithdrawnOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		h.bind()
		h.takeChanges()
		time.Sleep(50 * time.Second)
		ren := h.next(dhcpv6.MessageTypeRenew)
		resp := h.srv.Answer(ren.Message)
		ia := resp.Options.OneIAPD()
		ia.Options = dhcpv6.PDOptions{Options: dhcpv6.Options{pdtest.IAPrefix(p56, 0, 0)}}
		h.deliver(resp, serverLL)
		want := []pdclient.Change{{Gone: []pdclient.Delegation{{Prefix: p56, Obtained: time.Now()}}}}
		if diff := cmp.Diff(want, h.takeChanges(), eq); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		time.Sleep(time.Second)
		h.next(dhcpv6.MessageTypeSolicit)
	})
}

// NoBinding in the Reply to a Renew: the client requests its prefix again
// (RFC 8415 §18.2.10.1).
func TestRenewNoBinding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		h.bind()
		h.takeChanges()
		time.Sleep(50 * time.Second)
		ren := h.next(dhcpv6.MessageTypeRenew)
		h.srv.NoBinding = true
		h.answer(ren)
		req := h.next(dhcpv6.MessageTypeRequest)
		if got := iaPrefixes(t, req.Message); !cmp.Equal(got, []string{p56.String()}) {
			t.Errorf("Request after NoBinding asks for %v, want %v", got, p56)
		}
		if st := h.client.Status(); st.Prefix != p56 || st.State != pdclient.StateRenewing || st.Refused[pdclient.RefusedNoBinding] != 1 {
			t.Errorf("status %+v", st)
		}
		h.srv.NoBinding = false
		h.answer(req)
		if st := h.client.Status(); st.State != pdclient.StateBound || st.Prefix != p56 || st.Delegations != 1 {
			t.Errorf("status after the Reply: %+v", st)
		}
		if ch := h.takeChanges(); len(ch) != 1 || ch[0].Current.Prefix != p56 || len(ch[0].Gone) != 0 {
			t.Errorf("changes %+v, want the same prefix extended", ch)
		}
	})
}

// NoBinding, then NoPrefixAvail to the Request for the prefix: the client
// solicits for another one, keeping the old prefix meanwhile, and reports the
// old one gone with what remains of its valid lifetime once it has a new one.
func TestNoBindingThenNoPrefixAvail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		bound := h.bind()
		h.takeChanges()
		time.Sleep(50 * time.Second)
		h.srv.NoBinding = true
		h.answer(h.next(dhcpv6.MessageTypeRenew))
		req := h.next(dhcpv6.MessageTypeRequest)
		h.srv.NoBinding, h.srv.Prefix = false, netip.Prefix{}
		h.answer(req)
		if st := h.client.Status(); st.Prefix != p56 || st.State != pdclient.StateRenewing || st.Exchange != "solicit" {
			t.Fatalf("status %+v, want the old prefix kept while soliciting", st)
		}
		time.Sleep(1100 * time.Millisecond) // the back-off after a failed attempt: 1-1.1s
		sol := h.next(dhcpv6.MessageTypeSolicit)
		h.srv.Prefix = p56b
		h.answer(sol)
		time.Sleep(1100 * time.Millisecond)
		h.answer(h.next(dhcpv6.MessageTypeRequest))
		now := time.Now()
		want := []pdclient.Change{{
			Current: pdclient.Delegation{Prefix: p56b, Preferred: 100 * time.Second, Valid: 200 * time.Second, Obtained: now},
			Gone:    []pdclient.Delegation{{Prefix: p56, Valid: bound.Add(200 * time.Second).Sub(now), Obtained: now}},
		}}
		if diff := cmp.Diff(want, h.takeChanges(), eq); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
	})
}

// With a Server Unicast option Renew goes to that address; UseMulticast
// turns it back to multicast at once.
func TestRenewUnicastAndUseMulticast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		uni := netip.MustParseAddr("2001:db8:0:1::53")
		h.srv.Unicast = uni
		h.bind()
		time.Sleep(50 * time.Second)
		ren := h.next(dhcpv6.MessageTypeRenew)
		if want := netip.AddrPortFrom(uni, 547); ren.Dst != want {
			t.Errorf("Renew to %v, want %v", ren.Dst, want)
		}
		resp := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeReply, TransactionID: ren.Message.TransactionID}
		resp.AddOption(dhcpv6.OptClientID(ren.Message.Options.ClientID()))
		resp.AddOption(dhcpv6.OptServerID(h.srv.DUID))
		resp.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusUseMulticast})
		h.deliver(resp, serverLL)
		again := h.next(dhcpv6.MessageTypeRenew)
		if again.Dst != allServer || !again.Time.Equal(ren.Time) {
			t.Errorf("after UseMulticast: Renew to %v after %v, want to %v at once", again.Dst, again.Time.Sub(ren.Time), allServer)
		}
	})
}

func TestReleaseOnStop(t *testing.T) {
	for _, release := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			dir := t.TempDir()
			h := newHarness(t, config.PrefixDelegation{Length: 56, ReleaseOnStop: release}, pdclient.WithStateDir(dir))
			h.bind()
			h.takeChanges()
			if release {
				go func() {
					// The server answers the Release after 100ms.
					time.Sleep(100 * time.Millisecond)
					for _, d := range h.conn.Sent() {
						if d.Message.MessageType == dhcpv6.MessageTypeRelease {
							h.conn.Deliver(h.srv.Answer(d.Message).ToBytes(), serverLL)
						}
					}
				}()
			}
			stopped := time.Now()
			h.stop()
			s := h.sent()
			if !release {
				if len(s) != 0 {
					t.Errorf("sent %v on stop without release_on_stop", types(s))
				}
				if ch := h.takeChanges(); len(ch) != 0 {
					t.Errorf("changes on stop: %v", ch)
				}
				return
			}
			if len(s) != 1 || s[0].Message.MessageType != dhcpv6.MessageTypeRelease {
				t.Fatalf("sent %v on stop, want one Release", types(s))
			}
			rel := s[0].Message
			if sid := rel.Options.ServerID(); sid == nil || !sid.Equal(h.srv.DUID) {
				t.Errorf("Release names %v", sid)
			}
			if got := iaPrefixes(t, rel); !cmp.Equal(got, []string{p56.String()}) {
				t.Errorf("Release IA_PD %v", got)
			}
			if d := time.Since(stopped); d != 100*time.Millisecond {
				t.Errorf("Run returned %v after the stop, want when the Reply came (100ms)", d)
			}
			want := []pdclient.Change{{Gone: []pdclient.Delegation{{Prefix: p56, Obtained: time.Now()}}}}
			if diff := cmp.Diff(want, h.takeChanges(), eq); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			b, err := os.ReadFile(filepath.Join(dir, "pd-eth0.json"))
			if err != nil || !strings.Contains(string(b), `"released": true`) {
				t.Errorf("lease file after release: %v\n%s", err, b)
			}
			if d := pdclient.New("eth0", config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir)).Kept(time.Now()); d.IsValid() {
				t.Errorf("Kept after a release = %+v, want none", d)
			}
		})
	}
}

// WithKeep saying so (a daemon restart) keeps the delegation even with
// release_on_stop: no Release, no change, the lease still valid.
func TestKeepOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		h := newHarness(t, config.PrefixDelegation{Length: 56, ReleaseOnStop: true}, pdclient.WithStateDir(dir),
			pdclient.WithKeep(func(context.Context) bool { return true }))
		h.bind()
		h.takeChanges()
		h.stop()
		if s := h.sent(); len(s) != 0 {
			t.Errorf("sent %v on a kept stop, want nothing", types(s))
		}
		if ch := h.takeChanges(); len(ch) != 0 {
			t.Errorf("changes on a kept stop: %v", ch)
		}
		if d := pdclient.New("eth0", config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir)).Kept(time.Now()); d.Prefix != p56 {
			t.Errorf("Kept after a kept stop = %+v, want %s", d, p56)
		}
	})
}

// A silent server does not hold the stop up beyond the release timeout.
func TestReleaseTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56, ReleaseOnStop: true}, pdclient.WithReleaseTimeout(1500*time.Millisecond))
		h.bind()
		stopped := time.Now()
		h.stop()
		if d := time.Since(stopped); d != 1500*time.Millisecond {
			t.Errorf("stop took %v, want the release timeout 1.5s", d)
		}
		if got := types(h.sent()); !cmp.Equal(got, []string{"RELEASE", "RELEASE"}) {
			t.Errorf("sent %v, want the Release and its retransmission after ~1s", got)
		}
	})
}

func TestRestartWithValidLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		h := newHarness(t, config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir), pdclient.WithDUID(nil))
		bound := h.bind()
		h.stop()
		if files, _ := filepath.Glob(filepath.Join(dir, ".*")); len(files) != 0 {
			t.Errorf("temporary files left in the state dir: %v", files)
		}
		time.Sleep(20 * time.Second)

		// Kept reads the delegation Run will take up, before any Run.
		kept := pdclient.New("eth0", config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir)).Kept(time.Now())
		if diff := cmp.Diff(pdclient.Delegation{Prefix: p56, Preferred: 100 * time.Second, Valid: 200 * time.Second, Obtained: bound}, kept, eq); diff != "" {
			t.Errorf("Kept (-want +got):\n%s", diff)
		}
		// A consumer carving a subnet the prefix cannot hold gets nothing.
		if d := pdclient.New("eth0", config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir), pdclient.WithMaxSubnetID(256)).Kept(time.Now()); d.IsValid() {
			t.Errorf("Kept with subnet 256 of a /56 = %+v, want none", d)
		}

		// The restarted client has the delegation before sending anything,
		// with what remains of its lifetimes, and confirms it with a Rebind.
		h2 := newHarness(t, config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir), pdclient.WithDUID(nil))
		want := []pdclient.Change{{Current: pdclient.Delegation{Prefix: p56, Preferred: 100 * time.Second, Valid: 200 * time.Second, Obtained: bound}}}
		if diff := cmp.Diff(want, h2.takeChanges(), eq); diff != "" {
			t.Errorf("changes at restart (-want +got):\n%s", diff)
		}
		reb := h2.next(dhcpv6.MessageTypeRebind)
		if got := iaPrefixes(t, reb.Message); !cmp.Equal(got, []string{p56.String()}) {
			t.Errorf("Rebind IA_PD %v", got)
		}
		if st := h2.client.Status(); st.State != pdclient.StateRebinding || st.Prefix != p56 {
			t.Errorf("status at restart %+v", st)
		}
		// Confirm parameters: retransmitted after ~1s, ~2s, ~4s and given up
		// after CNF_MAX_RD (10s); then the lease runs its course: Renew at
		// the T1 it had (bound + 50s).
		time.Sleep(10 * time.Second)
		if got := types(h2.sent()); !cmp.Equal(got, []string{"REBIND", "REBIND", "REBIND"}) {
			t.Errorf("within CNF_MAX_RD sent %v, want 3 more Rebinds", got)
		}
		if st := h2.client.Status(); st.State != pdclient.StateBound {
			t.Errorf("state %q after the confirmation went unanswered, want bound", st.State)
		}
		time.Sleep(time.Until(bound.Add(50 * time.Second)))
		ren := h2.next(dhcpv6.MessageTypeRenew)
		h2.answer(ren)
		if st := h2.client.Status(); st.State != pdclient.StateBound || st.Prefix != p56 {
			t.Errorf("status %+v", st)
		}
		if before, after := h.conn.Sent()[0].Message.Options.ClientID(), ren.Message.Options.ClientID(); !before.Equal(after) {
			t.Errorf("client id changed across the restart: %v, then %v", before, after)
		}
		if before, after := iaPD(t, h.conn.Sent()[0].Message).IaId, iaPD(t, ren.Message).IaId; before != after {
			t.Errorf("IAID changed across the restart: %x, then %x", before, after)
		}
	})
}

func TestRestartWithExpiredLeaseHints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		h := newHarness(t, config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir))
		h.bind()
		h.stop()
		time.Sleep(time.Hour)
		if d := pdclient.New("eth0", config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir)).Kept(time.Now()); d.IsValid() {
			t.Errorf("Kept after expiry = %+v, want none", d)
		}
		h2 := newHarness(t, config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir))
		if ch := h2.takeChanges(); len(ch) != 0 {
			t.Errorf("changes at restart with an expired lease: %v", ch)
		}
		time.Sleep(time.Second)
		sol := h2.next(dhcpv6.MessageTypeSolicit)
		if got := iaPrefixes(t, sol.Message); !cmp.Equal(got, []string{p56.String()}) {
			t.Errorf("Solicit hints %v, want the last prefix", got)
		}
		if iaPD(t, sol.Message).IaId != iaPD(t, h.conn.Sent()[0].Message).IaId {
			t.Error("IAID changed across the restart")
		}
		// The configured length changed: the old prefix is no hint.
		h2.stop()
		h3 := newHarness(t, config.PrefixDelegation{Length: 48}, pdclient.WithStateDir(dir))
		time.Sleep(time.Second)
		if got := iaPrefixes(t, h3.next(dhcpv6.MessageTypeSolicit).Message); !cmp.Equal(got, []string{"::/48"}) {
			t.Errorf("Solicit hints %v, want ::/48", got)
		}
	})
}

func TestBadLeaseFileIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "pd-eth0.json"), []byte(`{"version": 1, "prefix": "garbage"`), 0o644); err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir))
		time.Sleep(time.Second)
		if got := iaPrefixes(t, h.next(dhcpv6.MessageTypeSolicit).Message); !cmp.Equal(got, []string{"::/56"}) {
			t.Errorf("Solicit hints %v", got)
		}
		h.bind2()
		var doc map[string]any
		b, _ := os.ReadFile(filepath.Join(dir, "pd-eth0.json"))
		if err := json.Unmarshal(b, &doc); err != nil || doc["prefix"] != p56.String() {
			t.Errorf("lease file rewritten: %v\n%s", err, b)
		}
	})
}

// bind2 completes a binding whose first Solicit was already taken.
func (h *harness) bind2() {
	h.t.Helper()
	time.Sleep(1100 * time.Millisecond)
	sol := h.next(dhcpv6.MessageTypeSolicit)
	h.answer(sol)
	h.answer(h.next(dhcpv6.MessageTypeRequest))
}

func TestStatusJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		h.bind()
		h.conn.Deliver([]byte{7, 1}, serverLL)
		synctest.Wait()
		b, err := json.Marshal(h.client.Status())
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"interface", "state", "prefix", "obtained", "preferred_until", "valid_until",
			"t1", "t2", "server", "server_id", "hint", "sent", "received", "refused", "delegations", "expired", "send_errors"} {
			if _, ok := got[k]; !ok {
				t.Errorf("status JSON lacks %q: %s", k, b)
			}
		}
		if got["state"] != "bound" || got["prefix"] != p56.String() {
			t.Errorf("status JSON %s", b)
		}
		if r, _ := got["received"].(map[string]any); r["advertise"] != 1.0 || r["reply"] != 1.0 {
			t.Errorf("received %v, want advertise: 1, reply: 1", got["received"])
		}
		if r, _ := got["refused"].(map[string]any); r["malformed"] != 1.0 {
			t.Errorf("refused %v, want malformed: 1", got["refused"])
		}
	})
}

func TestSendErrorsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, config.PrefixDelegation{Length: 56})
		h.conn.SetWriteError(os.ErrPermission)
		time.Sleep(5 * time.Second)
		if st := h.client.Status(); st.SendErrors < 3 {
			t.Errorf("send errors %d, want every Solicit counted", st.SendErrors)
		}
		h.conn.SetWriteError(nil)
		time.Sleep(10 * time.Second)
		h.answer(h.sent()[0])
		h.next(dhcpv6.MessageTypeRequest)
	})
}

// A state dir that cannot be written costs the lease file and the kept DUID,
// not the delegation.
func TestUnwritableStateDir(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		var logs syncLog
		h := newHarness(t, config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(filepath.Join(file, "state")),
			pdclient.WithDUID(nil), pdclient.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		h.bind()
		time.Sleep(50 * time.Second)
		h.answer(h.next(dhcpv6.MessageTypeRenew))
		if st := h.client.Status(); st.State != pdclient.StateBound || st.Prefix != p56 {
			t.Errorf("status %+v", st)
		}
		out := logs.String()
		if strings.Count(out, "cannot keep the lease") != 1 || !strings.Contains(out, "cannot keep the DUID") {
			t.Errorf("want the DUID and, once, the lease problem logged:\n%s", out)
		}
	})
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Without WithConn the client opens its socket on the interface, and retries
// while the interface does not exist.
func TestListenRetriesUntilStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncLog
		c := pdclient.New("pdtnosuchif0", config.PrefixDelegation{Length: 56}, pdclient.WithDUID(clientID),
			pdclient.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(time.Minute)
		if st := c.Status(); st.State != pdclient.StateWaiting || len(st.Sent) != 0 {
			t.Errorf("status %+v without a socket", st)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if n := strings.Count(logs.String(), "cannot open the dhcpv6 client socket"); n != 1 {
			t.Errorf("logged the missing interface %d times, want once:\n%s", n, logs.String())
		}
		if st := c.Status(); st.State != pdclient.StateStopped {
			t.Errorf("state %q after Run, want stopped", st.State)
		}
	})
}

// WithListen opens the socket of every Run: a Run after a failure gets a
// new one, on which it confirms its delegation.
func TestWithListenEveryRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var conns []*pdtest.Conn
		listen := func(iface string) (pdclient.Conn, error) {
			if iface != "eth0" {
				t.Errorf("listen on %q, want eth0", iface)
			}
			c := pdtest.NewConn()
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			return c, nil
		}
		srv := pdtest.NewServer(p56)
		c := pdclient.New("eth0", config.PrefixDelegation{Length: 56}, pdclient.WithDUID(clientID), pdclient.WithListen(listen),
			pdclient.WithRand(rand.New(rand.NewPCG(1, 1))))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(1100 * time.Millisecond)
		mu.Lock()
		first := conns[0]
		mu.Unlock()
		first.Deliver(srv.Answer(first.Sent()[0].Message).ToBytes(), serverLL)
		time.Sleep(1100 * time.Millisecond)
		sent := first.Sent()
		first.Deliver(srv.Answer(sent[len(sent)-1].Message).ToBytes(), serverLL)
		synctest.Wait()
		if st := c.Status(); st.State != pdclient.StateBound {
			t.Fatalf("state %q, want bound", st.State)
		}
		first.FailRead(errors.New("socket broke"))
		if err := <-done; err == nil {
			t.Fatal("Run = nil after a read error")
		}
		go func() { done <- c.Run(ctx) }()
		synctest.Wait()
		mu.Lock()
		n := len(conns)
		second := conns[n-1]
		mu.Unlock()
		if n != 2 {
			t.Fatalf("%d sockets opened, want 2", n)
		}
		if got := types(second.Sent()); !cmp.Equal(got, []string{"REBIND"}) {
			t.Errorf("second Run sent %v, want the Rebind confirming its delegation", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// The client identifies itself with the node's DUID, the one the DHCPv6
// server of the same state dir uses (RFC 8415 §11).
func TestNodeDUIDShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		node, err := vdhcp.LoadOrCreateDUID(dir, crand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, config.PrefixDelegation{Length: 56}, pdclient.WithStateDir(dir), pdclient.WithDUID(nil))
		if got := h.firstSolicit().Message.Options.ClientID(); !got.Equal(node) {
			t.Errorf("client id %v, want the node's DUID %v", got, node)
		}
	})
}
