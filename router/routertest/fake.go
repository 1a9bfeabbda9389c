// Package routertest provides a fake router.OS that keeps kernel-like state
// in memory, simulates the events a reconciler must survive (links that
// appear, vanish, get renamed, go down and lose their addresses) and renders
// its state as sorted ip-like lines for comparison in tests.
package routertest

import (
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vrouter/vrouter/router"
)

// Per-interface IPv6 sysctls the fake knows, with the kernel's defaults.
var confDefaults = map[string]string{
	"forwarding":        "0",
	"accept_ra":         "1",
	"autoconf":          "1",
	"disable_ipv6":      "0",
	"keep_addr_on_down": "0",
}

type link struct {
	index int
	up    bool
	mtu   int
	mac   net.HardwareAddr
	addrs map[netip.Prefix]bool
	// raRoute: the link holds a default route learned from an RA.
	raRoute bool
}

// OS is a fake router.OS. Calls that a correct reconciler never makes
// (a mutation of an unknown link, an unknown sysctl key, deleting an absent
// address, an invalid prefix or MTU) fail the test given to New and return
// an error. It is safe for concurrent use.
type OS struct {
	tb testing.TB

	mu        sync.Mutex
	links     map[string]*link
	sysctl    map[string]string // "net.ipv6.conf.<if>.<leaf>" → value
	nextIndex int
	calls     []string
	mutations int
	fail      map[string]error // "Method arg" → error to return
	solicits  map[string]int   // Router Solicitations sent per link
}

var _ router.OS = (*OS)(nil)

// New returns a fake with no links and kernel-default global sysctls.
// Unexpected calls are reported with tb.Errorf; tb may be nil.
func New(tb testing.TB) *OS {
	f := &OS{
		tb:        tb,
		links:     make(map[string]*link),
		sysctl:    make(map[string]string),
		nextIndex: 2, // 1 is lo
		fail:      make(map[string]error),
		solicits:  make(map[string]int),
	}
	for _, dev := range []string{"all", "default"} {
		for leaf, v := range confDefaults {
			f.sysctl[key(dev, leaf)] = v
		}
	}
	return f
}

func key(dev, leaf string) string {
	return "net.ipv6.conf." + strings.ReplaceAll(dev, ".", "/") + "." + leaf
}

func (f *OS) unexpected(format string, args ...any) error {
	err := fmt.Errorf("routertest: unexpected call: "+format, args...)
	if f.tb != nil {
		f.tb.Helper()
		f.tb.Errorf("%v", err)
	}
	return err
}

func notFound(name string) error {
	return fmt.Errorf("link %s: %w", name, router.ErrLinkNotFound)
}

// record logs a call and returns an injected error for it, if any.
func (f *OS) record(mutating bool, method string, args ...any) error {
	call := method
	for _, a := range args {
		call += fmt.Sprint(" ", a)
	}
	f.calls = append(f.calls, call)
	if mutating {
		f.mutations++
	}
	for k, err := range f.fail {
		if call == k || strings.HasPrefix(call, k+" ") {
			return err
		}
	}
	return nil
}

// --- simulation helpers (not counted as calls) ---

// AddLink creates an administratively down link with MTU 1500 and sysctls
// copied from net.ipv6.conf.default, as a hot-plugged NIC appears. A nil mac
// is derived from the link's index (02:00:00:00:hi:lo).
func (f *OS) AddLink(name string, mac net.HardwareAddr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.links[name]; ok {
		f.unexpected("AddLink %s: exists", name)
		return
	}
	idx := f.nextIndex
	f.nextIndex++
	if len(mac) != 6 {
		mac = net.HardwareAddr{0x02, 0, 0, 0, byte(idx >> 8), byte(idx)}
	}
	f.links[name] = &link{
		index: idx,
		mtu:   1500,
		mac:   slices.Clone(mac),
		addrs: make(map[netip.Prefix]bool),
	}
	for leaf := range confDefaults {
		f.sysctl[key(name, leaf)] = f.sysctl[key("default", leaf)]
	}
}

// RemoveLink deletes a link with its addresses and sysctls.
func (f *OS) RemoveLink(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.links[name]; !ok {
		f.unexpected("RemoveLink %s: no such link", name)
		return
	}
	delete(f.links, name)
	for leaf := range confDefaults {
		delete(f.sysctl, key(name, leaf))
	}
}

// RenameLink renames a link; its sysctls move with it, as in the kernel.
func (f *OS) RenameLink(from, to string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[from]
	if !ok || f.links[to] != nil {
		f.unexpected("RenameLink %s %s", from, to)
		return
	}
	delete(f.links, from)
	f.links[to] = l
	for leaf := range confDefaults {
		f.sysctl[key(to, leaf)] = f.sysctl[key(from, leaf)]
		delete(f.sysctl, key(from, leaf))
	}
}

// SetLinkDown takes a link administratively down. As the kernel does, it
// removes every IPv6 address unless keep_addr_on_down is 1 (then only the
// non-permanent ones would go; the fake keeps all).
func (f *OS) SetLinkDown(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[name]
	if !ok {
		f.unexpected("SetLinkDown %s: no such link", name)
		return
	}
	l.up = false
	l.raRoute = false
	if f.sysctl[key(name, "keep_addr_on_down")] != "1" {
		clear(l.addrs)
	}
}

// FlushAddrs removes every address of a link ("ip addr flush").
func (f *OS) FlushAddrs(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.links[name]; ok {
		clear(l.addrs)
	} else {
		f.unexpected("FlushAddrs %s: no such link", name)
	}
}

// AddKernelAddr adds an address the way the kernel itself would (SLAAC,
// link-local, or an operator's "ip addr add").
func (f *OS) AddKernelAddr(name string, p netip.Prefix) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.links[name]; ok {
		l.addrs[p] = true
	} else {
		f.unexpected("AddKernelAddr %s: no such link", name)
	}
}

// RemoveKernelAddr removes an address behind the reconciler's back (an
// operator's "ip addr del").
func (f *OS) RemoveKernelAddr(name string, p netip.Prefix) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.links[name]; ok && l.addrs[p] {
		delete(l.addrs, p)
	} else {
		f.unexpected("RemoveKernelAddr %s %s: no such link or address", name, p)
	}
}

// LearnDefaultRoute gives a link a default route learned from a Router
// Advertisement. The kernel purges such routes when all.forwarding turns on
// and the link's accept_ra is not 2 (rt6_purge_dflt_routers); so does the fake.
func (f *OS) LearnDefaultRoute(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.links[name]; ok {
		l.raRoute = true
	} else {
		f.unexpected("LearnDefaultRoute %s: no such link", name)
	}
}

// SetValue sets a sysctl as an operator would (not counted as a call).
func (f *OS) SetValue(k, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.setSysctl(k, v); err != nil {
		f.unexpected("SetValue %s=%s: %v", k, v, err)
	}
}

// Fail makes calls fail with err from now on: call is a method name
// optionally followed by arguments as Calls renders them ("SetMTU eth1",
// "Sysctl net.ipv6.conf.all.forwarding"). A nil err removes the failure.
func (f *OS) Fail(call string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, call)
	} else {
		f.fail[call] = err
	}
}

// Calls returns the calls made through the router.OS methods so far, as
// "Method arg...".
func (f *OS) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Mutations returns how many state-changing calls (everything but Link,
// Addrs and Sysctl) were made through the router.OS methods.
func (f *OS) Mutations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mutations
}

// ResetCalls forgets the recorded calls and the mutation count.
func (f *OS) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
	f.mutations = 0
}

// Render returns the state as sorted lines:
//
//	link eth1 up mtu 1500
//	addr eth1 2001:db8:0:2::1/64
//	route default dev eth0 proto ra
//	sysctl net.ipv6.conf.eth1.accept_ra=0
func (f *OS) Render() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name, l := range f.links {
		state := "down"
		if l.up {
			state = "up"
		}
		out = append(out, fmt.Sprintf("link %s %s mtu %d", name, state, l.mtu))
		for p := range l.addrs {
			out = append(out, fmt.Sprintf("addr %s %s", name, p))
		}
		if l.raRoute {
			out = append(out, fmt.Sprintf("route default dev %s proto ra", name))
		}
	}
	for k, v := range f.sysctl {
		out = append(out, fmt.Sprintf("sysctl %s=%s", k, v))
	}
	slices.Sort(out)
	return out
}

// String returns Render joined by newlines.
func (f *OS) String() string { return strings.Join(f.Render(), "\n") }

// --- router.OS ---

// Link implements router.OS.
func (f *OS) Link(name string) (router.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(false, "Link", name); err != nil {
		return router.Link{}, err
	}
	l, ok := f.links[name]
	if !ok {
		return router.Link{}, notFound(name)
	}
	return router.Link{Index: l.index, Name: name, Up: l.up, MTU: l.mtu, HardwareAddr: slices.Clone(l.mac)}, nil
}

// mutate looks up a link for a mutating call.
func (f *OS) mutate(method, name string, args ...any) (*link, error) {
	if err := f.record(true, method, append([]any{name}, args...)...); err != nil {
		return nil, err
	}
	l, ok := f.links[name]
	if !ok {
		f.unexpected("%s %s: no such link", method, name)
		return nil, notFound(name)
	}
	return l, nil
}

// SetLinkUp implements router.OS. Like the kernel it adds the EUI-64
// link-local address when IPv6 is enabled on the link.
func (f *OS) SetLinkUp(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.mutate("SetLinkUp", name)
	if err != nil {
		return err
	}
	l.up = true
	f.linkLocal(name, l)
	return nil
}

func (f *OS) linkLocal(name string, l *link) {
	if !l.up || f.sysctl[key(name, "disable_ipv6")] != "0" {
		return
	}
	m := l.mac
	a := [16]byte{0: 0xfe, 1: 0x80, 8: m[0] ^ 0x02, 9: m[1], 10: m[2], 11: 0xff, 12: 0xfe, 13: m[3], 14: m[4], 15: m[5]}
	l.addrs[netip.PrefixFrom(netip.AddrFrom16(a), 64)] = true
}

// SetMTU implements router.OS.
func (f *OS) SetMTU(name string, mtu int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.mutate("SetMTU", name, mtu)
	if err != nil {
		return err
	}
	if mtu < 1280 || mtu > 65535 {
		return f.unexpected("SetMTU %s %d: out of range", name, mtu)
	}
	l.mtu = mtu
	return nil
}

// Addrs implements router.OS.
func (f *OS) Addrs(name string) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(false, "Addrs", name); err != nil {
		return nil, err
	}
	l, ok := f.links[name]
	if !ok {
		return nil, notFound(name)
	}
	out := make([]netip.Prefix, 0, len(l.addrs))
	for p := range l.addrs {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out, nil
}

// ReplaceAddr implements router.OS.
func (f *OS) ReplaceAddr(name string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.mutate("ReplaceAddr", name, p)
	if err != nil {
		return err
	}
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
		return f.unexpected("ReplaceAddr %s %s: not an IPv6 prefix", name, p)
	}
	if f.sysctl[key(name, "disable_ipv6")] != "0" {
		return fmt.Errorf("add address %s: permission denied (IPv6 disabled on %s)", p, name)
	}
	l.addrs[p] = true
	return nil
}

// DeleteAddr implements router.OS.
func (f *OS) DeleteAddr(name string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.mutate("DeleteAddr", name, p)
	if err != nil {
		return err
	}
	if !l.addrs[p] {
		return f.unexpected("DeleteAddr %s %s: no such address", name, p)
	}
	delete(l.addrs, p)
	return nil
}

// Sysctl implements router.OS.
func (f *OS) Sysctl(k string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(false, "Sysctl", k); err != nil {
		return "", err
	}
	v, ok := f.sysctl[k]
	if !ok {
		f.unexpected("Sysctl %s: no such key", k)
		return "", fmt.Errorf("read %s: %w", k, fs.ErrNotExist)
	}
	return v, nil
}

// SetSysctl implements router.OS.
func (f *OS) SetSysctl(k, v string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(true, "SetSysctl", k, v); err != nil {
		return err
	}
	if err := f.setSysctl(k, v); err != nil {
		return f.unexpected("SetSysctl %s=%s: %v", k, v, err)
	}
	return nil
}

// setSysctl applies the kernel's side effects of a sysctl write.
func (f *OS) setSysctl(k, v string) error {
	if _, ok := f.sysctl[k]; !ok {
		return fmt.Errorf("write %s: %w", k, fs.ErrNotExist)
	}
	switch v {
	case "0", "1", "2":
	default:
		return fmt.Errorf("write %s: invalid value %q", k, v)
	}
	f.sysctl[k] = v
	rest, ok := strings.CutPrefix(k, "net.ipv6.conf.")
	if !ok {
		return nil
	}
	i := strings.LastIndexByte(rest, '.')
	dev, leaf := strings.ReplaceAll(rest[:i], "/", "."), rest[i+1:]
	switch {
	case dev == "all" && leaf == "forwarding":
		// addrconf_fixup_forwarding: copy to default and every link;
		// turning it on purges RA default routes unless accept_ra=2.
		f.sysctl[key("default", leaf)] = v
		for name, l := range f.links {
			f.sysctl[key(name, leaf)] = v
			if v != "0" && f.sysctl[key(name, "accept_ra")] != "2" {
				l.raRoute = false
			}
		}
	case leaf == "disable_ipv6":
		if l, ok := f.links[dev]; ok {
			if v != "0" {
				clear(l.addrs)
				l.raRoute = false
			} else {
				f.linkLocal(dev, l)
			}
		}
	}
	return nil
}

// SolicitRouters implements router.OS. It counts as a mutation (it puts a
// packet on the wire) and fails, like the kernel, on a link that is down or
// has no link-local address.
func (f *OS) SolicitRouters(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.mutate("SolicitRouters", name)
	if err != nil {
		return err
	}
	if !l.up {
		return fmt.Errorf("solicit on %s: link is down", name)
	}
	f.solicits[name]++
	return nil
}

// Solicitations returns how many Router Solicitations were sent on name.
func (f *OS) Solicitations(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.solicits[name]
}
