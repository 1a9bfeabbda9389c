// Package images holds the service-VM artefacts: the hardened systemd unit
// (vrouter.service, embedded here so `vrouter cloudinit --url` can install
// it) and its AF_XDP drop-in (vrouter-xdp.conf), the Debian bookworm image recipe (build-image.sh) and the VM
// end-to-end test that boots that image the way nova would (vm_test.go,
// run with VROUTER_E2E_VM=1 as root).
package images

import _ "embed"

//go:embed vrouter.service
var unit []byte

//go:embed vrouter-xdp.conf
var xdpDropIn []byte

// XDPDropInPath is where the AF_XDP drop-in (vrouter-xdp.conf) is installed
// when the config runs the fast path on AF_XDP.
const XDPDropInPath = "/etc/systemd/system/vrouter.service.d/10-fastpath-xdp.conf"

// XDPDropIn returns the contents of vrouter-xdp.conf: the privileges the
// fast path's AF_XDP datapath needs beyond the unit's.
func XDPDropIn() []byte { return append([]byte(nil), xdpDropIn...) }

// UnitPath is where the unit is installed in the service VM.
const UnitPath = "/etc/systemd/system/vrouter.service"

// BinaryPath is where the vrouter binary lives in the service VM.
const BinaryPath = "/usr/local/bin/vrouter"

// Unit returns the contents of vrouter.service.
func Unit() []byte { return append([]byte(nil), unit...) }
