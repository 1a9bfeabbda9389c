// Package e2e holds vrouter's end-to-end tests: the reference scenario of
// DESIGN §1 built in network namespaces by package scenario, the real radvd
// upstream, the real kernels of VM1 and VM2 doing SLAAC, and the vrouter
// binary built from this tree running `vrouter run` with the embedded
// default config. They need root and skip without it.
//
//	[ipv6-router] eth0 ---- eth0 [vRouter] eth1 ---- [br0 switch] ---- eth0 [VM1]
//	 2001:db8:0:1::1/64      SLAAC ::f816:3eff:fe11:1111       \------- eth0 [VM2]
//	 radvd 2001:db8:0:1::/64       2001:db8:0:2::1/64, RAs          SLAAC ...fe33:3333, ...fe44:4444
//
// The DHCPv6 tests (dhcpv6_test.go) add a second tenant network and run
// Neutron tempest's TestGettingAddress cases and a stateful network with
// ISC dhclient in the VMs through one `vrouter run`, reloaded per case.
//
// Run them with `go test -race ./test/e2e` (the race detector then also
// goes into the vrouter binary under test) or against a given binary with
// `go test ./test/e2e -args -vrouter=bin/vrouter`.
package e2e
