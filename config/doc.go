// Package config provides vrouter's YAML configuration: the schema of
// DESIGN §4, the embedded default (the reference scenario, with commented
// examples of the other sections), strict decoding that reports every
// problem at once as "FILE:LINE:COL: field.path: message", and validation
// into typed values (netip.Prefix, time.Duration) with defaults resolved.
//
// Interval and lifetime limits follow RFC 4861 §6.2.1 (MaxRtrAdvInterval
// 4s..1800s, MinRtrAdvInterval 3s..0.75*Max, AdvDefaultLifetime 0 or
// Max..9000s), route preferences RFC 4191 §2.1, RDNSS/DNSSL RFC 8106.
//
// The DHCPv6 server section (DESIGN §4.1) follows RFC 8415: T1 <= T2 <=
// preferred <= valid lifetime (§21.4), Information Refresh Time at least
// IRT_MINIMUM 600s (§21.23), DUIDs of 2..130 bytes (§11); its mode sets the
// RA flags as Neutron does (stateless O=1; stateful M=1, O=1 and A=0 on
// prefixes that do not say otherwise). Prefix delegation (DESIGN §4.2) is
// RFC 8415 IA_PD; a delegated interface's pools and reservations are
// interface identifiers applied to its /64 at run time. The HA section
// (DESIGN §4.3) follows VRRPv3, RFC 9568: VRID 1..255, priority 255 for the
// address owner only, advertisement interval 10ms..40.95s in centiseconds,
// the first virtual address link-local.
package config
