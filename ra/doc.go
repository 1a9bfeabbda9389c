// Package ra provides a Router Advertisement advertiser for one interface:
// it implements the router side of RFC 4861 §6.2 (periodic multicast RAs with
// the §6.2.4 initial fast phase and MIN_DELAY_BETWEEN_RAS, §6.2.5 final RA with
// router lifetime 0, §6.2.6 replies to Router Solicitations validated per
// §6.1.1), the Default Router Preference and Route Information option of
// RFC 4191 §2.2–2.3, and the RDNSS and DNSSL options of RFC 8106 §5.
//
// An [Advertiser] waits until its interface exists, is up and has a
// link-local address that finished Duplicate Address Detection, then opens an
// NDP socket and advertises until its context is canceled. Any socket error or
// link change sends it back to waiting, after which it starts the initial fast
// phase again. The operating system is reached only through the small
// [System] and [Conn] interfaces; package ratest has in-memory fakes.
package ra
