// Package config provides vrouter's YAML configuration: the schema of
// DESIGN §4, the embedded default (the reference scenario), strict decoding
// that reports every problem at once as "FILE:LINE:COL: field.path: message",
// and validation into typed values (netip.Prefix, time.Duration).
//
// Interval and lifetime limits follow RFC 4861 §6.2.1 (MaxRtrAdvInterval
// 4s..1800s, MinRtrAdvInterval 3s..0.75*Max, AdvDefaultLifetime 0 or
// Max..9000s), route preferences RFC 4191 §2.1, RDNSS/DNSSL RFC 8106.
package config
