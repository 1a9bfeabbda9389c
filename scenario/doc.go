// Package scenario builds the reference topology of DESIGN §1 out of network
// namespaces, veth pairs and a Linux bridge, runs the real peers in it (radvd
// as the upstream Neutron router, the kernels of VM1 and VM2 as SLAAC
// clients, `vrouter run` in the vRouter namespace), and removes it all again.
// It is the shared harness of `make demo` (scenario/cmd/vrdemo) and of the
// end-to-end tests (test/e2e).
//
//	namespace <prefix>up          <prefix>vr                        <prefix>sw           <prefix>vm1 / vm2
//	[ipv6-router] eth0 ====veth==== eth0 [vRouter] eth1 ====veth==== p-vr  [br0]  p-vm1 ==== eth0 [VM1]
//	 2001:db8:0:1::1/64              SLAAC 2001:db8:0:1:            2001:db8:0:2::1/64    p-vm2 ==== eth0 [VM2]
//	 radvd 2001:db8:0:1::/64          f816:3eff:fe11:1111            RA 2001:db8:0:2::/64       SLAAC ...fe33:3333
//	 2001:db8:0:2::/64 via ...fe11:1111  fa:16:3e:11:11:11          fa:16:3e:22:22:22           SLAAC ...fe44:4444
//
// Every namespace name carries a per-run random prefix such as "vr-k3f9a-", so
// parallel runs never collide; links are created directly inside their
// namespaces (never in the caller's), so link names are plain (eth0, eth1,
// br0). Close kills the processes the scenario started and deletes its
// namespaces (which deletes every link in them); CloseAll does it for every
// scenario still open, for signal handlers.
//
// All of it needs root and Linux; it drives iproute2 (ip, which `ip netns
// exec` also comes from), sysctl and radvd as separate programs, and reads
// addresses and routes over rtnetlink.
package scenario
