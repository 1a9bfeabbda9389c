// Package ra provides a Router Advertisement advertiser for one interface:
// it implements the router side of RFC 4861 §6.2 (periodic multicast RAs with
// the §6.2.4 initial fast phase and MIN_DELAY_BETWEEN_RAS, §6.2.5 final RAs
// with router lifetime 0 and router lifetime 0 on an interface that does not
// forward, §6.2.6 replies to Router Solicitations validated per §6.1.1 —
// unicast per RFC 7772 and rate-limited, multicast for "::" — and the §6.2.7
// consistency checks of other routers' RAs), the Default Router Preference
// and Route Information option of RFC 4191 §2.2–2.3, the RDNSS and DNSSL
// options of RFC 8106 §5, PREF64 (RFC 8781), the captive portal option (RFC
// 8910), decrementing prefix lifetimes, splitting RAs to the link MTU
// (§6.2.3), and the withdrawal of removed prefixes, routes and DNS options
// with zero lifetimes (RFC 9096), kept across restarts in a state file.
//
// An [Advertiser] waits until its interface exists, is up and has a
// link-local address that finished Duplicate Address Detection, then opens an
// NDP socket and advertises until its context is canceled. Any socket error or
// link change sends it back to waiting, after which it starts the initial fast
// phase again; so does any change of what it advertises. The operating system
// is reached only through the small [System] and [Conn] interfaces; package
// ratest has in-memory fakes. The daemon turns link polling off
// (WithLinkPoll(-1)) and calls [Advertiser.Notify] on every link, address and
// forwarding change its netlink watcher reports; [Advertiser.SkipFinal] stops
// without final RAs, for an HA Backup. [Advertiser.Status] reports what it
// did, and [WriteMetrics] turns a status into Prometheus metrics on scrape;
// [Problems] is its part of the daemon's one validation path.
package ra
