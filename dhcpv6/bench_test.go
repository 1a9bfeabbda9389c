package dhcpv6

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"runtime"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/vrouter/vrouter/config"
)

// BenchmarkRapidCommit: a Rapid Commit Solicit from a new client per
// operation, with the journal on disk synced once per batch of 64 as Run
// does (group commit).
func BenchmarkRapidCommit(b *testing.B) {
	cfg := statefulCfg()
	cfg.Pools = []config.DHCPv6Pool{{Start: netip.MustParseAddr("2001:db8:0:2::"), End: netip.MustParseAddr("2001:db8:0:2::ffff:ffff")}}
	s, err := NewServer("eth1", cfg, WithClock(newClock()), WithDUID(serverDUID), WithStateDir(b.TempDir()),
		WithMaxLeases(1<<30), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	c := &client{duid: &dhcpv6.DUIDUUID{}}
	msg := c.msg(dhcpv6.MessageTypeSolicit, withIA(1), withOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})).ToBytes()
	// header (4), Client ID option header (4), DUID type (2), then the UUID.
	const uuidAt = 10
	m := direct(nil)
	now := s.clock.Now()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint32(msg[uuidAt:], uint32(i)) // a new client each time
		s.mu.Lock()
		if _, ok := s.handle(m, msg, now); !ok {
			b.Fatal("no answer")
		}
		if i%64 == 63 {
			if err := s.journal.sync(s.table); err != nil {
				b.Fatal(err)
			}
		}
		s.mu.Unlock()
	}
}

// BenchmarkLeaseMemory reports the heap a lease costs, with 10,000 leases.
func BenchmarkLeaseMemory(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t := newTable()
		for i := range 10000 {
			d := []byte{0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, byte(i >> 8), byte(i), 0}
			t.put(&Lease{Addr: netip.AddrFrom16([16]byte{0x20, 1, 14: byte(i >> 8), 15: byte(i)}), DUID: d, IAID: 1})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/10000, "bytes/lease")
		runtime.KeepAlive(t)
	}
}
