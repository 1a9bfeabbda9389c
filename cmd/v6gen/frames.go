package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Frame-size bounds: Ethernet (14) + IPv6 (40) + UDP (8) without FCS, and
// the largest frame a TX ring frame holds with the default ring.
const (
	minFrameSize = 14 + 40 + 8
	maxFrameSize = 9216 + 14
	basePort     = 1024 // flow i has UDP source port basePort+i
	dstPort      = 9    // discard (RFC 863)
)

// frameSpec describes the frames v6gen sends.
type frameSpec struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.Addr
	HopLimit       uint8
	Size           int // Ethernet frame without FCS
	Flows          int // distinct UDP source ports
}

func (s frameSpec) validate() error {
	switch {
	case len(s.SrcMAC) != 6 || len(s.DstMAC) != 6:
		return fmt.Errorf("MAC addresses must be 6 bytes (source %v, destination %v)", s.SrcMAC, s.DstMAC)
	case !s.Src.Is6() || s.Src.Is4In6() || !s.Dst.Is6() || s.Dst.Is4In6():
		return fmt.Errorf("source %v and destination %v must be IPv6 addresses", s.Src, s.Dst)
	case s.Size < minFrameSize || s.Size > maxFrameSize:
		return fmt.Errorf("frame size %d outside %d..%d", s.Size, minFrameSize, maxFrameSize)
	case s.Flows < 1 || s.Flows > 65535-basePort:
		return fmt.Errorf("flows %d outside 1..%d", s.Flows, 65535-basePort)
	case s.HopLimit == 0:
		return fmt.Errorf("hop limit 0")
	}
	return nil
}

// buildFrames returns one frame per flow, built with gopacket's layers:
// Ethernet, IPv6 (flow label = flow number, RFC 6437), UDP from port
// basePort+flow to dstPort with its checksum computed over the IPv6
// pseudo-header, and a payload of zeros that pads the frame to spec.Size
// with the flow number in its first two bytes.
func buildFrames(spec frameSpec) ([][]byte, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	frames := make([][]byte, spec.Flows)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	payload := make([]byte, spec.Size-minFrameSize)
	for i := range frames {
		eth := &layers.Ethernet{SrcMAC: spec.SrcMAC, DstMAC: spec.DstMAC, EthernetType: layers.EthernetTypeIPv6}
		ip := &layers.IPv6{
			Version:    6,
			FlowLabel:  uint32(i) & 0xfffff,
			NextHeader: layers.IPProtocolUDP,
			HopLimit:   spec.HopLimit,
			SrcIP:      spec.Src.AsSlice(),
			DstIP:      spec.Dst.AsSlice(),
		}
		udp := &layers.UDP{SrcPort: layers.UDPPort(basePort + i), DstPort: dstPort}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, fmt.Errorf("flow %d: %w", i, err)
		}
		if len(payload) >= 2 {
			payload[0], payload[1] = byte(i>>8), byte(i)
		}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
			return nil, fmt.Errorf("flow %d: %w", i, err)
		}
		if n := len(buf.Bytes()); n != spec.Size {
			return nil, fmt.Errorf("flow %d: built %d bytes, want %d", i, n, spec.Size)
		}
		frames[i] = append([]byte(nil), buf.Bytes()...)
	}
	return frames, nil
}
