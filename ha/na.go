package ha

import (
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
)

// neighborAdvert is the unsolicited Neighbor Advertisement an Active
// router sends for each virtual address (RFC 9568 §6.4.2): R=1, S=0, O=1,
// the target link-layer address the virtual MAC. The checksum is left to
// the kernel.
func neighborAdvert(target netip.Addr, mac net.HardwareAddr) ([]byte, error) {
	return ndp.MarshalMessage(&ndp.NeighborAdvertisement{
		Router:        true,
		Override:      true,
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	})
}
