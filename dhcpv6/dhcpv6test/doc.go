// Package dhcpv6test provides test doubles for package dhcpv6: an in-memory
// Conn that tests inject datagrams into and read the server's answers from,
// and a settable Clock.
package dhcpv6test
