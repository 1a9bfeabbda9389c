package ra_test

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ra/ratest"
)

// runtimeConfig is testConfig with runtime prefixes the way the daemon adds
// a delegated prefix (Facts.Prefixes): explicit, with lease deadlines.
func runtimeConfig(ps ...config.Prefix) config.Advertise {
	cfg := testConfig()
	cfg.Prefixes = append(cfg.Prefixes, ps...)
	return cfg
}

func leased(p string, preferredUntil, validUntil time.Time) config.Prefix {
	return config.Prefix{Prefix: netip.MustParsePrefix(p), OnLink: true, Autonomous: true,
		ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second,
		PreferredUntil: preferredUntil, ValidUntil: validUntil}
}

// burstAfter checks the multicast RAs sent from at on: the first within
// MIN_DELAY_BETWEEN_RAS (3s), MAX_INITIAL_RTR_ADVERTISEMENTS (3) within
// the next minute and no more (the next one comes after MinRtrAdvInterval,
// 200s). It sleeps until a minute after at and returns the first.
func burstAfter(t *testing.T, c *ratest.Conn, at time.Time) ratest.Packet {
	t.Helper()
	time.Sleep(time.Until(at.Add(time.Minute)))
	var after []ratest.Packet
	for _, p := range multicast(c.Packets()) {
		if !p.Time.Before(at) && p.Time.Before(at.Add(time.Minute)) {
			after = append(after, p)
		}
	}
	if len(after) == 0 {
		t.Errorf("no RA within a minute of the change at %s", at)
		return ratest.Packet{Message: &ndp.RouterAdvertisement{}}
	}
	if d := after[0].Time.Sub(at); d > 3*time.Second {
		t.Errorf("first RA %s after the change, want <= 3s", d)
	}
	if len(after) != 3 {
		t.Errorf("%d RAs within a minute of the change, want a burst of 3", len(after))
	}
	return after[0]
}

// TestAdvertiserPromptOnPrefixChange follows a delegated prefix through
// Update as the daemon applies it: a renewal (deadlines move, nothing a
// host sees changes) sends nothing extra; a new prefix, and a prefix
// deprecated with nothing else changing, are each advertised at once with
// a bounded burst, MIN_DELAY_BETWEEN_RAS apart from the RA before.
func TestAdvertiserPromptOnPrefixChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		now := time.Now()
		p1 := leased("2001:db8:1:2::/64", now.Add(2*time.Hour), now.Add(4*time.Hour))
		h := startWith(t, runtimeConfig(p1), &link)
		c := h.conn()
		time.Sleep(time.Hour)

		// A renewal: later deadlines, the same RA content.
		before := len(multicast(c.Packets()))
		now = time.Now()
		p1 = leased("2001:db8:1:2::/64", now.Add(2*time.Hour), now.Add(4*time.Hour))
		h.adv.Update(runtimeConfig(p1))
		time.Sleep(time.Minute)
		if n := len(multicast(c.Packets())) - before; n > 1 {
			t.Errorf("%d RAs within a minute of a renewal, want at most 1 periodic one", n)
		}

		// Renumbering: a new prefix, the old one deprecated.
		time.Sleep(time.Hour)
		now = time.Now()
		p2 := leased("2001:db8:2:2::/64", now.Add(2*time.Hour), now.Add(4*time.Hour))
		p1 = leased("2001:db8:1:2::/64", now, now.Add(2*time.Hour))
		h.adv.Update(runtimeConfig(p2, p1))
		first := burstAfter(t, c, now)
		pi := findPrefix(raOf(first), "2001:db8:2:2::/64")
		if pi == nil || pi.PreferredLifetime == 0 {
			t.Errorf("new prefix advertised as %+v, want preferred", pi)
		}
		if pi := findPrefix(raOf(first), "2001:db8:1:2::/64"); pi == nil || pi.PreferredLifetime != 0 || pi.ValidLifetime == 0 {
			t.Errorf("old prefix advertised as %+v, want deprecated (preferred 0, valid > 0)", pi)
		}

		// The delegation is lost: p2 deprecated, nothing else changes.
		time.Sleep(time.Hour)
		now = time.Now()
		p2 = leased("2001:db8:2:2::/64", now, now.Add(2*time.Hour))
		h.adv.Update(runtimeConfig(p2, p1))
		first = burstAfter(t, c, now)
		if pi := findPrefix(raOf(first), "2001:db8:2:2::/64"); pi == nil || pi.PreferredLifetime != 0 || pi.ValidLifetime == 0 {
			t.Errorf("lost prefix advertised as %+v, want deprecated", pi)
		}
		checkSpacing(t, c.Packets())
		h.stop()
	})
}

// TestAdvertiserPromptKeepsMinDelay: a change right after a multicast RA
// is advertised MIN_DELAY_BETWEEN_RAS after it, not earlier.
func TestAdvertiserPromptKeepsMinDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := startWith(t, testConfig(), &link)
		c := h.conn()
		time.Sleep(time.Hour)

		now := time.Now()
		h.adv.Update(runtimeConfig(leased("2001:db8:1:2::/64", now.Add(time.Hour), now.Add(2*time.Hour))))
		time.Sleep(time.Second)
		synctest.Wait()
		m := multicast(c.Packets())
		last := m[len(m)-1]
		if !last.Time.Equal(now) {
			t.Fatalf("last RA at %s, want the change's at %s", last.Time, now)
		}
		now = time.Now()
		h.adv.Update(runtimeConfig(leased("2001:db8:1:2::/64", now, now.Add(2*time.Hour))))
		time.Sleep(time.Minute)
		m = multicast(c.Packets())
		var next ratest.Packet
		for _, p := range m {
			if p.Time.After(last.Time) {
				next = p
				break
			}
		}
		if d := next.Time.Sub(last.Time); d != 3*time.Second {
			t.Errorf("RA of the second change %s after the first's, want MIN_DELAY_BETWEEN_RAS (3s)", d)
		}
		if pi := findPrefix(raOf(next), "2001:db8:1:2::/64"); pi == nil || pi.PreferredLifetime != 0 {
			t.Errorf("prefix advertised as %+v, want deprecated", pi)
		}
		checkSpacing(t, c.Packets())
		h.stop()
	})
}
