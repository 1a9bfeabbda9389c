package router

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
)

// LinuxOS returns the real OS: rtnetlink through vishvananda/netlink and
// sysctls through /proc/sys, both in the network namespace of the calling
// process. (The daemon runs inside its namespace; tests run the whole test
// binary in a fresh one, see router_linux_test.go.)
func LinuxOS() OS { return linuxOS{} }

type linuxOS struct{}

// dumpRetries bounds retries of dumps interrupted by concurrent changes.
const dumpRetries = 5

func (linuxOS) link(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("link %s: %w", name, ErrLinkNotFound)
		}
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	return l, nil
}

func (o linuxOS) Link(name string) (Link, error) {
	l, err := o.link(name)
	if err != nil {
		return Link{}, err
	}
	a := l.Attrs()
	return Link{
		Index:        a.Index,
		Name:         a.Name,
		Up:           a.Flags&net.FlagUp != 0,
		MTU:          a.MTU,
		HardwareAddr: a.HardwareAddr,
	}, nil
}

func (o linuxOS) SetLinkUp(name string) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

func (o linuxOS) SetMTU(name string, mtu int) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetMTU(l, mtu)
}

func (o linuxOS) Addrs(name string) ([]netip.Prefix, error) {
	l, err := o.link(name)
	if err != nil {
		return nil, err
	}
	var addrs []netlink.Addr
	for range dumpRetries {
		addrs, err = netlink.AddrList(l, netlink.FAMILY_V6)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", name, err)
	}
	out := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !ip.Is6() || ip.Is4In6() {
			continue
		}
		bits, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip, bits))
	}
	return out, nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)}
}

func (o linuxOS) ReplaceAddr(name string, p netip.Prefix) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	return netlink.AddrReplace(l, &netlink.Addr{IPNet: ipNet(p)})
}

func (o linuxOS) DeleteAddr(name string, p netip.Prefix) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	return netlink.AddrDel(l, &netlink.Addr{IPNet: ipNet(p)})
}

func (linuxOS) Sysctl(key string) (string, error) {
	path, err := sysctlPath(key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (linuxOS) SetSysctl(key, value string) error {
	path, err := sysctlPath(key)
	if err != nil {
		return err
	}
	// O_WRONLY without O_CREATE: a missing key is an error, never a file.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(value)
	cerr := f.Close()
	return errors.Join(werr, cerr)
}
