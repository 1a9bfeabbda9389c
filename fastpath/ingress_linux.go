package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The ingress claim (see the package doc): per fast-path interface an
// ingress qdisc with one cls_bpf filter in direct-action mode running
// IngressProgram. Classic BPF is used because it needs neither the bpf()
// syscall nor act_gact (which some kernels, like this project's CI kernel,
// do not have); changing the local addresses replaces the program in place.
const (
	ingressPrio   = 1
	ingressHandle = 1
	ingressName   = "vrouter-fastpath"
)

type ingressClaim struct {
	links  []Link
	locals []netip.Addr
}

// claimIngress installs the ingress qdisc and the filter on links. It fails
// when a link already has an ingress (or clsact) qdisc: that belongs to
// someone else.
func claimIngress(links []Link, locals []netip.Addr) (_ *ingressClaim, err error) {
	c := &ingressClaim{}
	defer func() {
		if err != nil {
			_ = c.release()
		}
	}()
	c.locals = locals
	for _, l := range links {
		prog, err := bpf.Assemble(IngressProgram(locals, ethLen+l.MTU))
		if err != nil {
			return nil, fmt.Errorf("assemble ingress program: %w", err)
		}
		if err := netlink.QdiscAdd(ingressQdisc(l.Index)); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return nil, fmt.Errorf("claim ingress of %s: an ingress qdisc exists already (remove it, or run the fast path elsewhere): %w", l.Name, err)
			}
			return nil, fmt.Errorf("claim ingress of %s: add ingress qdisc: %w", l.Name, err)
		}
		c.links = append(c.links, l)
		if err := setIngressFilter(l.Index, prog); err != nil {
			return nil, fmt.Errorf("claim ingress of %s: %w", l.Name, err)
		}
	}
	return c, nil
}

func ingressQdisc(link int) *netlink.Ingress {
	return &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: link,
		Handle:    netlink.MakeHandle(0xffff, 0),
		Parent:    netlink.HANDLE_INGRESS,
	}}
}

// setIngressFilter adds or replaces the cls_bpf filter (RTM_NEWTFILTER as
// `tc filter replace dev X ingress prio 1 handle 1 protocol ipv6 bpf
// bytecode ... da`).
func setIngressFilter(link int, prog []bpf.RawInstruction) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWTFILTER, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{
		Family:  nl.FAMILY_ALL,
		Ifindex: int32(link),
		Handle:  ingressHandle,
		Parent:  netlink.HANDLE_INGRESS,
		Info:    netlink.MakeHandle(ingressPrio, nl.Swap16(unix.ETH_P_IPV6)),
	})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("bpf")))
	ops := make([]byte, 8*len(prog))
	for i, ins := range prog {
		binary.NativeEndian.PutUint16(ops[8*i:], ins.Op)
		ops[8*i+2], ops[8*i+3] = ins.Jt, ins.Jf
		binary.NativeEndian.PutUint32(ops[8*i+4:], ins.K)
	}
	opts := nl.NewRtAttr(nl.TCA_OPTIONS, nil)
	opts.AddRtAttr(nl.TCA_BPF_OPS_LEN, nl.Uint16Attr(uint16(len(prog))))
	opts.AddRtAttr(nl.TCA_BPF_OPS, ops)
	opts.AddRtAttr(nl.TCA_BPF_NAME, nl.ZeroTerminated(ingressName))
	opts.AddRtAttr(nl.TCA_BPF_FLAGS, nl.Uint32Attr(nl.TCA_BPF_FLAG_ACT_DIRECT))
	req.AddData(opts)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("set cls_bpf ingress filter: %w", err)
	}
	return nil
}

// setLocals replaces the programs after this host's addresses changed.
func (c *ingressClaim) setLocals(locals []netip.Addr) error {
	c.locals = locals
	for _, l := range c.links {
		if err := c.set(l); err != nil {
			return err
		}
	}
	return nil
}

// setMTU replaces the program of the link with index link after its MTU
// changed.
func (c *ingressClaim) setMTU(link, mtu int) error {
	for i, l := range c.links {
		if l.Index == link && l.MTU != mtu {
			c.links[i].MTU = mtu
			return c.set(c.links[i])
		}
	}
	return nil
}

func (c *ingressClaim) set(l Link) error {
	prog, err := bpf.Assemble(IngressProgram(c.locals, ethLen+l.MTU))
	if err != nil {
		return fmt.Errorf("assemble ingress program: %w", err)
	}
	if err := setIngressFilter(l.Index, prog); err != nil {
		return fmt.Errorf("ingress of %s: %w", l.Name, err)
	}
	return nil
}

// release removes the ingress qdiscs (and with them the filters).
func (c *ingressClaim) release() error {
	var errs []error
	for _, l := range c.links {
		err := netlink.QdiscDel(ingressQdisc(l.Index))
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("remove ingress qdisc of %s: %w", l.Name, err))
		}
	}
	c.links = nil
	return errors.Join(errs...)
}
