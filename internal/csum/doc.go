// Package csum provides the Internet checksum (RFC 1071) and the IPv6
// pseudo-header sum (RFC 8200 §8.1) that ICMPv6 (RFC 4443 §2.3), UDP and
// TCP checksums over IPv6 cover. It allocates nothing, so the fast path
// uses it per packet.
package csum
