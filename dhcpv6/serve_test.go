package dhcpv6

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// chanConn is an in-memory Conn (package dhcpv6test's cannot be imported
// here): Inject blocks until the server reads; WriteTo records.
type chanConn struct {
	in   chan []byte
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	sent []*dhcpv6.Message
}

func newChanConn() *chanConn { return &chanConn{in: make(chan []byte), done: make(chan struct{})} }

func (c *chanConn) inject(b []byte) { c.in <- b }

func (c *chanConn) ReadFrom(b []byte) (int, Meta, error) {
	select {
	case d := <-c.in:
		return copy(b, d), direct(nil), nil
	case <-c.done:
		return 0, Meta{}, fmt.Errorf("read: %w", net.ErrClosed)
	}
}

func (c *chanConn) WriteTo(b []byte, _ netip.AddrPort) error {
	m, err := dhcpv6.MessageFromBytes(b)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sent = append(c.sent, m)
	c.mu.Unlock()
	return nil
}

func (c *chanConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// answered returns the message types sent to each client (by the last
// byte of its UUID DUID).
func (c *chanConn) answered() map[byte][]dhcpv6.MessageType {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[byte][]dhcpv6.MessageType{}
	for _, m := range c.sent {
		if d, ok := m.Options.ClientID().(*dhcpv6.DUIDUUID); ok {
			out[d.UUID[15]] = append(out[d.UUID[15]], m.MessageType)
		}
	}
	return out
}

// gateFS is a memFS whose file Syncs wait while the gate is closed, and
// counts them.
type gateFS struct {
	*memFS
	mu    sync.Mutex
	gate  chan struct{} // nil: open
	syncs int
}

func (g *gateFS) Create(name string) (file, error) {
	f, err := g.memFS.Create(name)
	if err != nil {
		return nil, err
	}
	return &gateFile{f, g}, nil
}

func (g *gateFS) OpenAppend(name string) (file, error) {
	f, err := g.memFS.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return &gateFile{f, g}, nil
}

type gateFile struct {
	file
	g *gateFS
}

func (f *gateFile) Sync() error {
	f.g.mu.Lock()
	f.g.syncs++
	gate := f.g.gate
	f.g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return f.file.Sync()
}

// TestGroupCommitOffAnswerPath: while the journal's fdatasync is slow, the
// server goes on handling: answers that commit nothing go out at once, the
// Replies that commit leases wait for the sync that makes them durable, and
// everything committed meanwhile is made durable by one more sync.
func TestGroupCommitOffAnswerPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := &gateFS{memFS: newMemFS()}
		conn := newChanConn()
		s, err := NewServer("eth1", statefulCfg(), WithConn(conn), WithClock(newClock()), WithDUID(serverDUID),
			WithStateDir("/state"), withFS(fsys), WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()

		gate := make(chan struct{})
		fsys.mu.Lock()
		fsys.gate, fsys.syncs = gate, 0
		fsys.mu.Unlock()
		rc := withOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
		conn.inject(uuidClient(1).msg(dhcpv6.MessageTypeSolicit, withIA(1), rc).ToBytes())
		synctest.Wait() // the syncer waits in Sync
		conn.inject(uuidClient(2).msg(dhcpv6.MessageTypeSolicit, withIA(1)).ToBytes())
		for n := byte(3); n <= 10; n++ {
			conn.inject(uuidClient(n).msg(dhcpv6.MessageTypeSolicit, withIA(1), rc).ToBytes())
		}
		synctest.Wait()
		got := conn.answered()
		if len(got) != 1 || len(got[2]) != 1 || got[2][0] != dhcpv6.MessageTypeAdvertise {
			t.Fatalf("while the sync waits: sent %v, want only client 2's Advertise", got)
		}
		if st := s.Status(); st.LeasesInUse != 9 {
			t.Fatalf("%d leases while the sync waits, want 9 (handled meanwhile)", st.LeasesInUse)
		}
		fsys.mu.Lock()
		fsys.gate = nil
		fsys.mu.Unlock()
		close(gate)
		synctest.Wait()
		got = conn.answered()
		for n := byte(1); n <= 10; n++ {
			want := dhcpv6.MessageTypeReply
			if n == 2 {
				want = dhcpv6.MessageTypeAdvertise
			}
			if len(got[n]) != 1 || got[n][0] != want {
				t.Errorf("client %d got %v, want one %s", n, got[n], want)
			}
		}
		fsys.mu.Lock()
		syncs := fsys.syncs
		fsys.mu.Unlock()
		if syncs != 2 {
			t.Errorf("%d syncs for 9 leases committed during one sync, want 2 (group commit)", syncs)
		}
		// What was answered is durable.
		_, tb, _, err := openJournal(fsys.memFS.after(true), "/state/dhcpv6-eth1.leases", newClock().Now())
		if err != nil || tb.len() != 9 {
			t.Fatalf("after a power loss: %v, %d leases, want 9", err, tb.len())
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// gateClock is a fixed clock whose Now waits while its gate is closed: it
// holds the handler in the middle of a batch.
type gateClock struct {
	mu   sync.Mutex
	gate chan struct{}
}

func (c *gateClock) Now() time.Time {
	c.mu.Lock()
	g := c.gate
	c.mu.Unlock()
	if g != nil {
		<-g
	}
	return newClock().Now()
}

// TestOverloadDropsOldestSolicits: when the handler is behind, the queue
// keeps the exchanges the server answered (Requests) and the newest
// Solicits, drops the oldest Solicits and counts them.
func TestOverloadDropsOldestSolicits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn := newChanConn()
		clock := &gateClock{}
		s, err := NewServer("eth1", statefulCfg(), WithConn(conn), WithClock(clock), WithDUID(serverDUID),
			WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()

		// The handler is busy with client 0's Solicit while more than a
		// queue of Solicits comes in, then Requests.
		gate := make(chan struct{})
		clock.mu.Lock()
		clock.gate = gate
		clock.mu.Unlock()
		conn.inject(solicitFrom(0))
		synctest.Wait()
		const extra = 5
		for i := range queueStart + extra {
			conn.inject(solicitFrom(i + 1))
		}
		for i := range 3 {
			c := manyClient(60000 + i)
			conn.inject(c.msg(dhcpv6.MessageTypeRequest, withServerID(serverDUID), withIA(1)).ToBytes())
		}
		synctest.Wait()
		clock.mu.Lock()
		clock.gate = nil
		clock.mu.Unlock()
		close(gate)
		synctest.Wait()
		st := s.Status()
		if st.Dropped[DropOverload] != extra {
			t.Errorf("%d overload drops, want %d", st.Dropped[DropOverload], extra)
		}
		if st.Received["request"] != 3 || st.Sent["reply"] != 3 {
			t.Errorf("requests received %d, replies %d, want 3 and 3", st.Received["request"], st.Sent["reply"])
		}
		if st.Received["solicit"] != queueStart+1 || st.Sent["advertise"] != queueStart+1 {
			t.Errorf("solicits received %d, advertised %d, want %d", st.Received["solicit"], st.Sent["advertise"], queueStart+1)
		}
		// The oldest of the queued Solicits (clients 1..extra) were the
		// ones dropped; the Requests were answered before the Solicits
		// that came in before them.
		advertised := map[int]bool{}
		firstReply, lastAdvertise := -1, -1
		conn.mu.Lock()
		for i, m := range conn.sent {
			d, ok := m.Options.ClientID().(*dhcpv6.DUIDUUID)
			if !ok {
				continue
			}
			switch m.MessageType {
			case dhcpv6.MessageTypeAdvertise:
				advertised[int(d.UUID[14])<<8|int(d.UUID[15])] = true
				lastAdvertise = i
			case dhcpv6.MessageTypeReply:
				if firstReply < 0 {
					firstReply = i
				}
			}
		}
		conn.mu.Unlock()
		for i := 1; i <= extra; i++ {
			if advertised[i] {
				t.Errorf("client %d's Solicit, among the oldest, was answered", i)
			}
		}
		if !advertised[0] || !advertised[queueStart+extra] {
			t.Error("the first Solicit or the newest one was not answered")
		}
		if firstReply < 0 || firstReply > 1 || lastAdvertise < firstReply {
			t.Errorf("first Reply sent at %d, last Advertise at %d: Requests not served first", firstReply, lastAdvertise)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// manyClient is a client numbered up to 65535 (UUID bytes 14 and 15).
func manyClient(n int) *client {
	d := &dhcpv6.DUIDUUID{}
	d.UUID[0], d.UUID[14], d.UUID[15] = 0x43, byte(n>>8), byte(n)
	return &client{duid: d}
}

func solicitFrom(n int) []byte {
	return manyClient(n).msg(dhcpv6.MessageTypeSolicit, withIA(1)).ToBytes()
}

func TestQueue(t *testing.T) {
	q := newQueue(2, 3)
	start := func(n byte) inbound { return inbound{b: []byte{byte(dhcpv6.MessageTypeSolicit), n}} }
	cont := func(n byte) inbound { return inbound{b: []byte{byte(dhcpv6.MessageTypeRequest), n}} }
	for _, x := range []inbound{start(1), cont(2), start(3), start(4), start(5), cont(6), start(7)} {
		q.push(x)
	}
	q.fail(net.ErrClosed)
	got, dropped, err := q.take(nil, 3)
	if dropped != 2 || err != nil {
		t.Fatalf("dropped %d, err %v; want 2 and none before the queue is empty", dropped, err)
	}
	var ids []byte
	for _, x := range got {
		ids = append(ids, x.b[1])
	}
	got, dropped, err = q.take(nil, 10)
	for _, x := range got {
		ids = append(ids, x.b[1])
	}
	// Continuing first, in order; of the starting ones the three newest.
	if string(ids) != string([]byte{2, 6, 4, 5, 7}) || dropped != 0 || err != net.ErrClosed {
		t.Fatalf("took %v (dropped %d, err %v), want [2 6 4 5 7]", ids, dropped, err)
	}
}

func TestContinues(t *testing.T) {
	relay := func(inner []byte) []byte {
		r := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayForward, LinkAddr: net.IPv6zero, PeerAddr: net.IPv6zero}
		r.Options.Add(dhcpv6.OptInterfaceID([]byte("x")))
		r.Options.Add(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRelayMsg, OptionData: inner})
		return r.ToBytes()
	}
	c := uuidClient(1)
	req := c.msg(dhcpv6.MessageTypeRequest, withServerID(serverDUID), withIA(1)).ToBytes()
	sol := c.msg(dhcpv6.MessageTypeSolicit, withIA(1)).ToBytes()
	deep := req
	for range hopCountLimit + 1 {
		deep = relay(deep)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"request", req, true},
		{"renew", c.msg(dhcpv6.MessageTypeRenew).ToBytes(), true},
		{"rebind", c.msg(dhcpv6.MessageTypeRebind).ToBytes(), true},
		{"release", c.msg(dhcpv6.MessageTypeRelease).ToBytes(), true},
		{"decline", c.msg(dhcpv6.MessageTypeDecline).ToBytes(), true},
		{"solicit", sol, false},
		{"information-request", c.msg(dhcpv6.MessageTypeInformationRequest).ToBytes(), false},
		{"confirm", c.msg(dhcpv6.MessageTypeConfirm).ToBytes(), false},
		{"relayed request", relay(req), true},
		{"relayed twice", relay(relay(req)), true},
		{"relayed solicit", relay(sol), false},
		{"relay chain past the hop limit", deep, false},
		{"relay without its message", relay(nil)[:34], false},
		{"truncated relay", relay(req)[:50], false},
		{"empty", nil, false},
	} {
		if got := continues(tc.b); got != tc.want {
			t.Errorf("%s: %t, want %t", tc.name, got, tc.want)
		}
	}
}

// FuzzContinues: any datagram is classified without a panic, and one said
// to continue an exchange is (inside its relays) a message that does.
func FuzzContinues(f *testing.F) {
	c := uuidClient(1)
	f.Add(c.msg(dhcpv6.MessageTypeRequest, withServerID(serverDUID), withIA(1)).ToBytes())
	r := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayForward, LinkAddr: net.IPv6zero, PeerAddr: net.IPv6zero}
	r.Options.Add(dhcpv6.OptRelayMessage(c.msg(dhcpv6.MessageTypeRenew)))
	f.Add(r.ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		if !continues(b) {
			return
		}
		for b[0] == byte(dhcpv6.MessageTypeRelayForward) {
			b = relayedMessage(b)
		}
		switch dhcpv6.MessageType(b[0]) {
		case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind,
			dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline:
		default:
			t.Fatalf("type %d said to continue an exchange", b[0])
		}
	})
}

// batchRecorder is a batchConn that records what it was told: WriteBatch
// fails on the datagrams listed in fail, LearnMACs records its calls.
type batchRecorder struct {
	*chanConn
	fail  map[int]bool // by the order of the datagram in all writes
	n     int
	wrote [][]byte
	learn []bool
}

func (b *batchRecorder) ReadBatch(bufs [][]byte, ns []int, ms []Meta, wait bool) (int, error) {
	if !wait {
		select {
		case d := <-b.in:
			ns[0], ms[0] = copy(bufs[0], d), direct(nil)
			return 1, nil
		default:
			return 0, nil
		}
	}
	n, m, err := b.ReadFrom(bufs[0])
	if err != nil {
		return 0, err
	}
	ns[0], ms[0] = n, m
	return 1, nil
}

func (b *batchRecorder) WriteBatch(bs [][]byte, _ []netip.AddrPort) (int, error) {
	for i, x := range bs {
		b.n++
		if b.fail[b.n] {
			return i, fmt.Errorf("write: no buffer space")
		}
		b.wrote = append(b.wrote, x)
	}
	return len(bs), nil
}

func (b *batchRecorder) LearnMACs(on bool) { b.learn = append(b.learn, on) }

// TestSendBatch: answers go out in one batch; one that fails is counted
// and the others still go.
func TestSendBatch(t *testing.T) {
	ts := newTestServer(t, statelessCfg())
	conn := &batchRecorder{chanConn: newChanConn(), fail: map[int]bool{2: true}}
	c := uuidClient(1)
	var answers []answer
	for range 4 {
		a, _, ok := ts.send(direct(nil), c.msg(dhcpv6.MessageTypeInformationRequest).ToBytes())
		if !ok {
			t.Fatal("no answer")
		}
		answers = append(answers, a)
	}
	ts.Server.send(conn, answers, nil)
	st := ts.Status()
	if len(conn.wrote) != 3 || st.Sent["reply"] != 3 || st.Dropped[DropSendFailed] != 1 {
		t.Fatalf("wrote %d, status sent %v dropped %v; want 3 written, 3 sent, 1 send_failed", len(conn.wrote), st.Sent, st.Dropped)
	}
}

// TestLearnMACsWithReservations: the conn reads frames' MACs only while a
// reservation by MAC exists, from the start and across reloads.
func TestLearnMACsWithReservations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		noMAC := statefulCfg()
		noMAC.Hosts = noMAC.Hosts[1:] // by DUID only
		conn := &batchRecorder{chanConn: newChanConn()}
		s, err := NewServer("eth1", noMAC, WithConn(conn), WithClock(newClock()), WithDUID(serverDUID),
			WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		synctest.Wait()
		if err := s.Update(statefulCfg()); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(noMAC); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(conn.learn) != "[false true false]" {
			t.Fatalf("LearnMACs calls %v, want [false true false]", conn.learn)
		}
	})
}
