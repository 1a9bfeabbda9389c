// Command d6load is the DHCPv6 load client of `make bench-dhcpv6`: it
// offers Solicits from distinct clients at a fixed rate on one interface and
// times each exchange from the Solicit to the Reply that commits an address,
// either the Rapid Commit exchange (Solicit with Rapid Commit, Reply; RFC
// 8415 §18.2.1) that perfdhcp of Kea 2.2 cannot count (a Reply to a Solicit
// makes it fail with "Packets exchange not specified"), or the four-message
// exchange (Solicit, Advertise, Request, Reply) to check perfdhcp's figures.
//
// Send times are taken just before sendmmsg(2), receive times are the
// kernel's (SO_TIMESTAMPNS), so the latency is the server's and the link's,
// not this process's scheduling. An answer later than -drop-time is a drop,
// as perfdhcp counts it. The result is one JSON line on stdout; -acked
// writes the committed leases ("DUID address" lines) for the kill -9 test.
package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// result is the JSON line d6load prints.
type result struct {
	Mode    string  `json:"mode"`
	Target  float64 `json:"target"`  // asked rate, Solicits/s
	Offered float64 `json:"offered"` // Solicits sent per second of the sending period
	Rate    float64 `json:"rate"`    // exchanges completed within the drop time, per second
	Seconds float64 `json:"seconds"` // sending period
	Sent    uint64  `json:"sent"`
	// Completed counts Replies that committed an address in time.
	Completed uint64 `json:"completed"`
	// Late counts answers after the drop time; NoAddrs final answers
	// without an address; Advertised Advertises to a Rapid Commit
	// Solicit; Orphans answers to nothing outstanding; Malformed
	// datagrams that do not parse.
	Late       uint64  `json:"late"`
	NoAddrs    uint64  `json:"no_addrs"`
	Advertised uint64  `json:"advertised"`
	Orphans    uint64  `json:"orphans"`
	Malformed  uint64  `json:"malformed"`
	P50US      int     `json:"p50_us"`
	P99US      int     `json:"p99_us"`
	P999US     int     `json:"p999_us"`
	MaxUS      int     `json:"max_us"`
	CPU        float64 `json:"cpu"` // this process's CPU seconds per second of the sending period
}

const (
	tableBits = 20 // outstanding exchanges tracked (wraps after 1M Solicits)
	batch     = 64
	reqBit    = 1 << 23 // set in the xid of a Request
)

type slot struct {
	n     uint32 // Solicit number
	sent  int64  // unix ns of the Solicit
	stage uint8  // 0 none, 1 solicited, 2 requested, 3 finished
}

type client struct {
	conn     *ipv6.PacketConn
	dst      *net.UDPAddr
	rapid    bool
	seed     byte
	clients  uint32
	dropTime time.Duration

	mu    sync.Mutex
	table []slot
	h     *hist
	res   result
	acked []ack
}

type ack struct {
	n    uint32
	addr netip.Addr
}

func main() {
	iface := flag.String("iface", "", "interface to send on (the client's side of the link)")
	server := flag.String("server", "ff02::1:2", "server address")
	mode := flag.String("mode", "rapid", "exchange: rapid (Solicit with Rapid Commit, Reply) or 4way (Solicit, Advertise, Request, Reply)")
	rate := flag.Float64("rate", 1000, "Solicits per second")
	dur := flag.Duration("duration", 3*time.Second, "sending period")
	count := flag.Uint64("count", 0, "stop after this many Solicits (0 = no limit)")
	clients := flag.Uint("clients", 1_000_000, "distinct clients (DUIDs); Solicit n comes from client n mod clients")
	seed := flag.Uint("seed", 0, "byte in every DUID, to tell runs apart")
	dropTime := flag.Duration("drop-time", time.Second, "an answer later than this is a drop (perfdhcp -d)")
	acked := flag.String("acked", "", "write the leases committed by the Replies received to this file")
	flag.Parse()
	if *iface == "" || (*mode != "rapid" && *mode != "4way") || *rate <= 0 || *clients == 0 || *clients > 1<<32-1 || *seed > 255 {
		fmt.Fprintln(os.Stderr, "d6load: need -iface, -mode rapid|4way, -rate > 0, 0 < -clients < 2^32, -seed < 256")
		os.Exit(2)
	}
	dst, err := netip.ParseAddr(*server)
	if err != nil {
		fmt.Fprintln(os.Stderr, "d6load: -server:", err)
		os.Exit(2)
	}
	c, err := newClient(*iface, dst)
	if err != nil {
		fmt.Fprintln(os.Stderr, "d6load:", err)
		os.Exit(1)
	}
	c.rapid, c.seed, c.clients, c.dropTime = *mode == "rapid", byte(*seed), uint32(*clients), *dropTime
	c.res.Mode, c.res.Target = *mode, *rate
	c.h = newHist(*dropTime)
	if err := c.run(*rate, *dur, *count); err != nil {
		fmt.Fprintln(os.Stderr, "d6load:", err)
		os.Exit(1)
	}
	if *acked != "" {
		var b strings.Builder
		for _, a := range c.acked {
			fmt.Fprintf(&b, "%s %s\n", hex.EncodeToString(duid(c.seed, a.n%c.clients)), a.addr)
		}
		if err := os.WriteFile(*acked, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "d6load:", err)
			os.Exit(1)
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(c.res)
}

// newClient opens the client socket: UDP port 546 on the interface's
// link-local address, large buffers, kernel receive timestamps.
func newClient(iface string, server netip.Addr) (*client, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var ll netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			ll = p.Addr()
			break
		}
	}
	if !ll.IsValid() {
		return nil, fmt.Errorf("%s has no link-local address", iface)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, 16 << 20}, {unix.SO_SNDBUFFORCE, 4 << 20}, {unix.SO_TIMESTAMPNS, 1}} {
				if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], o[1]); err != nil && serr == nil {
					serr = fmt.Errorf("setsockopt %d: %w", o[0], err)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp6", net.JoinHostPort(ll.WithZone(iface).String(), "546"))
	if err != nil {
		return nil, err
	}
	c := &client{conn: ipv6.NewPacketConn(pc), table: make([]slot, 1<<tableBits)}
	c.dst = &net.UDPAddr{IP: server.AsSlice(), Port: 547}
	if server.IsLinkLocalUnicast() || server.IsLinkLocalMulticast() {
		c.dst.Zone = iface
	}
	if server.IsMulticast() {
		if err := c.conn.SetMulticastInterface(ifi); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// run sends for dur (or count Solicits), waits the drop time for the last
// answers and fills c.res.
func (c *client) run(rate float64, dur time.Duration, count uint64) error {
	recvDone := make(chan error, 1)
	go func() { recvDone <- c.receive() }()

	msgs := make([]ipv6.Message, batch)
	bufs := make([][]byte, batch)
	for i := range msgs {
		bufs[i] = make([]byte, 0, 128)
		msgs[i].Buffers = [][]byte{nil}
		msgs[i].Addr = c.dst
	}
	var ru0 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	start := time.Now()
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	var sent uint64
	var el time.Duration
	for {
		el = time.Since(start)
		if el >= dur || (count > 0 && sent >= count) {
			break
		}
		due := uint64(rate*el.Seconds()) + 1
		if count > 0 {
			due = min(due, count)
		}
		for sent < due {
			k := int(min(due-sent, batch))
			now := time.Now().UnixNano()
			c.mu.Lock()
			for i := range k {
				n := uint32(sent) + uint32(i)
				s := &c.table[n&(1<<tableBits-1)]
				*s = slot{n: n, sent: now, stage: 1}
				bufs[i] = solicit(bufs[i][:0], n&(reqBit-1), duid(c.seed, n%c.clients), c.rapid)
				msgs[i].Buffers[0] = bufs[i]
			}
			c.mu.Unlock()
			if err := c.write(msgs[:k]); err != nil {
				return err
			}
			sent += uint64(k)
		}
		<-tick.C
	}
	var ru1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	time.Sleep(c.dropTime + 50*time.Millisecond)
	c.conn.Close()
	if err := <-recvDone; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &c.res
	r.Seconds, r.Sent = el.Seconds(), sent
	r.Offered = float64(sent) / el.Seconds()
	r.Rate = float64(r.Completed) / el.Seconds()
	r.P50US, r.P99US, r.P999US, r.MaxUS = c.h.quantile(0.5), c.h.quantile(0.99), c.h.quantile(0.999), c.h.maxUS
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	r.CPU = cpu.Seconds() / el.Seconds()
	return nil
}

// write sends every message of ms.
func (c *client) write(ms []ipv6.Message) error {
	for len(ms) > 0 {
		n, err := c.conn.WriteBatch(ms, 0)
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			return fmt.Errorf("send: %w", err)
		}
		ms = ms[n:]
	}
	return nil
}

// receive reads answers until the socket is closed; it answers
// Advertises with Requests in the four-message exchange.
func (c *client) receive() error {
	msgs := make([]ipv6.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
		msgs[i].OOB = make([]byte, 128)
	}
	out := make([]ipv6.Message, 0, batch)
	outBufs := make([][]byte, batch)
	for i := range outBufs {
		outBufs[i] = make([]byte, 0, 256)
	}
	for {
		n, err := c.conn.ReadBatch(msgs, 0)
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		out = out[:0]
		c.mu.Lock()
		for _, m := range msgs[:n] {
			ts := rxTime(m.OOB[:m.NN])
			if ts == 0 {
				ts = now
			}
			if req := c.handle(m.Buffers[0][:m.N], ts, outBufs[len(out)][:0]); req != nil {
				outBufs[len(out)] = req
				out = append(out, ipv6.Message{Buffers: [][]byte{req}, Addr: c.dst})
			}
		}
		c.mu.Unlock()
		if err := c.write(out); err != nil {
			return err
		}
	}
}

// handle accounts for one datagram received at ts (unix ns); it returns the
// Request to send (appended to buf) when it is an Advertise to answer.
// c.mu is held.
func (c *client) handle(b []byte, ts int64, buf []byte) []byte {
	a, err := parseAnswer(b)
	if err != nil {
		c.res.Malformed++
		return nil
	}
	k := a.xid & (reqBit - 1)
	s := &c.table[k&(1<<tableBits-1)]
	isReq := a.xid&reqBit != 0
	if s.n&(reqBit-1) != k || (s.stage != 1 && s.stage != 2) || isReq != (s.stage == 2) {
		c.res.Orphans++
		return nil
	}
	lat := time.Duration(ts - s.sent)
	if lat > c.dropTime {
		c.res.Late++
		s.stage = 3
		return nil
	}
	switch {
	case a.typ == msgAdvertise && s.stage == 1 && c.rapid:
		c.res.Advertised++
		s.stage = 3
	case a.typ == msgAdvertise && s.stage == 1:
		if !a.addr.IsValid() || a.status != 0 || len(a.serverID) == 0 {
			c.res.NoAddrs++
			s.stage = 3
			return nil
		}
		s.stage = 2
		return request(buf, a.xid|reqBit, duid(c.seed, s.n%c.clients), &a)
	case a.typ == msgReply && (s.stage == 2 || (s.stage == 1 && c.rapid)):
		s.stage = 3
		if !a.addr.IsValid() || a.status != 0 {
			c.res.NoAddrs++
			return nil
		}
		c.res.Completed++
		c.h.add(lat)
		c.acked = append(c.acked, ack{s.n, a.addr})
	default:
		c.res.Orphans++
	}
	return nil
}

// rxTime returns the SO_TIMESTAMPNS time of a datagram's control messages
// (unix ns), 0 when there is none.
func rxTime(oob []byte) int64 {
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, cm := range cms {
		// struct timespec of 64-bit Linux: seconds, nanoseconds.
		if cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SO_TIMESTAMPNS && len(cm.Data) >= 16 {
			sec, nsec := int64(binary.NativeEndian.Uint64(cm.Data)), int64(binary.NativeEndian.Uint64(cm.Data[8:]))
			return sec*1e9 + nsec
		}
	}
	return 0
}
