// Package images holds the service-VM artefacts: the hardened systemd unit
// (vrouter.service), the oneshot that hands the interfaces to it
// (vrouter-setup.service and its script vrouter-setup), the AF_XDP drop-in
// (vrouter-xdp.conf), all embedded here for the Debian package and for
// `vrouter cloudinit --url`; the Debian bookworm image recipe
// (build-image.sh, which installs the Debian package) and the VM end-to-end
// test that boots that image the way nova would (vm_test.go, run with
// VROUTER_E2E_VM=1 as root).
package images

import (
	_ "embed"
	"strings"
)

//go:embed vrouter.service
var unit string

//go:embed vrouter-setup.service
var setupUnit []byte

//go:embed vrouter-setup
var setupScript []byte

//go:embed vrouter-xdp.conf
var xdpDropIn []byte

//go:embed vrouter-seed.service
var seedUnit []byte

//go:embed vrouter-cloud-init.service
var cloudInitUnit []byte

// Where the Debian package installs things (packaging/).
const (
	BinaryPath    = "/usr/bin/vrouter"
	UnitPath      = "/lib/systemd/system/vrouter.service"
	SetupUnitPath = "/lib/systemd/system/vrouter-setup.service"
	SetupPath     = "/usr/libexec/vrouter/vrouter-setup"
	// The first boot's early start from the config drive
	// (vrouter-seed.service) and the start after cloud-init's init stage
	// without one (vrouter-cloud-init.service), both pulled in by
	// vrouter.service.
	SeedUnitPath      = "/lib/systemd/system/vrouter-seed.service"
	CloudInitUnitPath = "/lib/systemd/system/vrouter-cloud-init.service"
	// XDPDropInExample is the AF_XDP drop-in as the package ships it:
	// disabled, for an operator to link into vrouter.service.d.
	XDPDropInExample = "/usr/share/vrouter/10-fastpath-xdp.conf"
)

// Where the user-data of `vrouter cloudinit --url` installs them on a stock
// image, which has no Debian package.
const (
	LocalBinaryPath = "/usr/local/bin/vrouter"
	LocalUnitPath   = "/etc/systemd/system/vrouter.service"
	LocalSetupPath  = "/usr/local/lib/vrouter/vrouter-setup"
)

// XDPDropInPath is where the AF_XDP drop-in (vrouter-xdp.conf) is installed
// when the config runs the fast path on AF_XDP.
const XDPDropInPath = "/etc/systemd/system/vrouter.service.d/10-fastpath-xdp.conf"

// ConfigPath is the file whose existence starts vrouter.service
// (ConditionPathExists=).
const ConfigPath = "/etc/vrouter/vrouter.yaml"

// XDPDropIn returns the contents of vrouter-xdp.conf: the privileges the
// fast path's AF_XDP datapath needs beyond the unit's.
func XDPDropIn() []byte { return append([]byte(nil), xdpDropIn...) }

// Unit returns vrouter.service running the binary at BinaryPath.
func Unit() []byte { return []byte(unit) }

// UnitFor returns vrouter.service running the binary at bin instead.
func UnitFor(bin string) []byte {
	return []byte(strings.Replace(unit, "ExecStart="+BinaryPath+" ", "ExecStart="+bin+" ", 1))
}

// SetupUnit returns vrouter-setup.service.
func SetupUnit() []byte { return append([]byte(nil), setupUnit...) }

// SeedUnit returns vrouter-seed.service and CloudInitUnit
// vrouter-cloud-init.service.
func SeedUnit() []byte      { return append([]byte(nil), seedUnit...) }
func CloudInitUnit() []byte { return append([]byte(nil), cloudInitUnit...) }

// SetupScript returns the vrouter-setup script that vrouter-setup.service
// runs: NIC names by MAC from the vrouter .link files, `networkctl reload`,
// and a systemd reload when vrouter.service has new drop-ins.
func SetupScript() []byte { return append([]byte(nil), setupScript...) }
