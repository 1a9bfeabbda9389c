//go:build linux

package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// XDP features of a device as the kernel's "netdev" generic netlink family
// reports them (Linux ≥ 6.3; include/uapi/linux/netdev.h).
const (
	netdevCmdDevGet       = 1
	netdevCmdDevAddNtf    = 2
	netdevCmdDevDelNtf    = 3
	netdevCmdDevChangeNtf = 4
	netdevAttrIfindex     = 1
	netdevAttrXDPFeatures = 3

	// xdpActNDOXmit: the device takes frames redirected to it
	// (ndo_xdp_xmit now): a veth whose peer has NAPI (GRO or an XDP
	// program), a virtio-net with an XDP program of its own.
	xdpActNDOXmit = 1 << 2
)

// errNoXDPFeatures says the kernel does not report XDP features.
var errNoXDPFeatures = errors.New("the kernel reports no XDP features (Linux < 6.3)")

// xdpFeatureConn is a generic netlink socket of the netdev family, for
// dumps or, subscribed, for the family's device notifications.
type xdpFeatureConn struct {
	fd     int
	family uint16
	seq    uint32
	buf    []byte
}

// dialXDPFeatures opens a netdev family socket in the calling thread's
// namespace; subscribe adds it to the "mgmt" multicast group, which
// carries device additions, removals and XDP feature changes.
func dialXDPFeatures(subscribe bool) (*xdpFeatureConn, error) {
	fam, err := netlink.GenlFamilyGet("netdev")
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist) {
			return nil, errNoXDPFeatures
		}
		return nil, fmt.Errorf("netdev genetlink family: %w", err)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("genetlink socket: %w", err)
	}
	c := &xdpFeatureConn{fd: fd, family: fam.ID, buf: make([]byte, 1<<16)}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		c.Close()
		return nil, fmt.Errorf("genetlink bind: %w", err)
	}
	if subscribe {
		group := -1
		for _, g := range fam.Groups {
			if g.Name == "mgmt" {
				group = int(g.ID)
			}
		}
		if group < 0 {
			c.Close()
			return nil, errors.New("netdev genetlink family has no mgmt group")
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, group); err != nil {
			c.Close()
			return nil, fmt.Errorf("join netdev mgmt group: %w", err)
		}
	}
	return c, nil
}

// setReceiveTimeout bounds how long Receive waits (it then fails with
// EAGAIN).
func (c *xdpFeatureConn) setReceiveTimeout(d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// Close closes the socket (a blocked Receive returns an error).
func (c *xdpFeatureConn) Close() error {
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// Dump returns the XDP features of every device, by interface index.
func (c *xdpFeatureConn) Dump() (map[int]uint64, error) {
	c.seq++
	req := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], c.family)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], c.seq)
	req[unix.NLMSG_HDRLEN] = netdevCmdDevGet
	req[unix.NLMSG_HDRLEN+1] = 1 // version
	if err := unix.Sendto(c.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netdev dump: %w", err)
	}
	out := map[int]uint64{}
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return nil, fmt.Errorf("netdev dump: %w", err)
		}
		done, err := parseNetdevMessages(c.buf[:n], c.seq, func(_ uint8, ifindex int, features uint64) {
			out[ifindex] = features
		})
		if err != nil {
			return nil, fmt.Errorf("netdev dump: %w", err)
		}
		if done {
			return out, nil
		}
	}
}

// Receive blocks until notifications arrive and calls f for each device
// they name: cmd is netdevCmdDevAddNtf, ...DelNtf or ...ChangeNtf.
func (c *xdpFeatureConn) Receive(f func(cmd uint8, ifindex int, features uint64)) error {
	n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
	if err != nil {
		return fmt.Errorf("netdev notifications: %w", err)
	}
	_, err = parseNetdevMessages(c.buf[:n], 0, f)
	return err
}

// parseNetdevMessages parses the netlink messages in b (of sequence seq,
// or notifications when seq is 0) and calls f for each device message. It
// reports whether a dump ended (NLMSG_DONE).
func parseNetdevMessages(b []byte, seq uint32, f func(cmd uint8, ifindex int, features uint64)) (done bool, err error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, fmt.Errorf("netlink message of %d bytes in %d", l, len(b))
		}
		typ := binary.NativeEndian.Uint16(b[4:])
		mseq := binary.NativeEndian.Uint32(b[8:])
		data := b[unix.NLMSG_HDRLEN:l]
		b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
		if seq != 0 && mseq != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(data) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(data)); e != 0 {
					return false, unix.Errno(-e)
				}
			}
			continue
		case unix.NLMSG_NOOP:
			continue
		}
		if len(data) < 4 {
			continue
		}
		cmd := data[0]
		ifindex, features := -1, uint64(0)
		for a := data[4:]; len(a) >= 4; {
			al := int(binary.NativeEndian.Uint16(a))
			at := binary.NativeEndian.Uint16(a[2:]) & 0x3fff // NLA_TYPE_MASK
			if al < 4 || al > len(a) {
				break
			}
			v := a[4:al]
			switch {
			case at == netdevAttrIfindex && len(v) == 4:
				ifindex = int(binary.NativeEndian.Uint32(v))
			case at == netdevAttrXDPFeatures && len(v) == 8:
				features = binary.NativeEndian.Uint64(v)
			}
			a = a[min(len(a), (al+3)&^3):]
		}
		if ifindex > 0 {
			f(cmd, ifindex, features)
		}
	}
	return false, nil
}
