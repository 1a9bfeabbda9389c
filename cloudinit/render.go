package cloudinit

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/images"
	"github.com/vrouter/vrouter/internal/ifname"
)

// Paths of what the user-data writes in the service VM.
const (
	ConfigPath    = config.DefaultPath // /etc/vrouter/vrouter.yaml
	SysctlPath    = "/etc/sysctl.d/60-vrouter.conf"
	DebPath       = "/var/cache/vrouter/vrouter.deb" // --deb-url downloads here
	networkdDir   = "/etc/systemd/network"
	unitName      = "vrouter.service"
	NovaMaxBase64 = 65535 // nova's limit on base64-encoded user-data
)

// FinalMessage is printed on the VM console when cloud-init's final stage
// ends; tests wait for it on the serial console.
const FinalMessage = "vrouter: cloud-init final stage done after $UPTIME seconds"

// ErrTooLarge is returned when the user-data, base64-encoded, exceeds
// nova's 65535-byte limit.
var ErrTooLarge = errors.New("user-data too large for nova")

// NIC names the interface that has a given MAC address. OpenStack ports
// have fixed MACs, so naming by MAC makes the config's interface names hold
// whatever order the hypervisor presents the NICs in.
type NIC struct {
	Name string
	MAC  net.HardwareAddr
}

// ParseNIC parses "NAME=MAC", e.g. "eth0=fa:16:3e:11:11:11".
func ParseNIC(s string) (NIC, error) {
	name, mac, ok := strings.Cut(s, "=")
	if !ok {
		return NIC{}, fmt.Errorf("%q: want NAME=MAC, e.g. eth0=fa:16:3e:11:11:11", s)
	}
	if err := checkIfName(name); err != nil {
		return NIC{}, fmt.Errorf("%q: %w", s, err)
	}
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return NIC{}, fmt.Errorf("%q: %q is not an Ethernet MAC address", s, mac)
	}
	return NIC{Name: name, MAC: hw}, nil
}

// checkIfName is the interface-name rule, and no '=' (which separates the
// name from the MAC in --match-mac).
func checkIfName(name string) error {
	if strings.Contains(name, "=") {
		return fmt.Errorf("interface name %q has '=', not allowed here", name)
	}
	return ifname.Check(name)
}

// Options selects what the user-data does.
type Options struct {
	// ConfigName names Config in error messages (e.g. the file path).
	ConfigName string
	// Config is the vrouter YAML written to /etc/vrouter/vrouter.yaml,
	// byte for byte; nil means config.DefaultYAML().
	Config []byte
	// URL, when set, makes the user-data download the binary from it
	// instead of using the one baked into the image; SHA256 (hex) is then
	// mandatory and checked before the binary is installed.
	URL string
	// DebURL, when set, makes the user-data download the Debian package
	// from it (SHA256 checked) and install it with apt, for images that
	// do not have it. At most one of URL and DebURL.
	DebURL string
	SHA256 string
	// NICs are named by MAC address (systemd .link files, and renamed at
	// once on first boot).
	NICs []NIC
	// Parts are extra MIME parts; with any, the user-data is
	// multipart/mixed with the cloud-config first.
	Parts []Part
	// HAPriority, when not 0, replaces the config's ha.priority
	// (WithHAPriority): the second router of an HA pair is rendered from
	// the same config with a lower priority.
	HAPriority uint8
}

// Build validates opts and returns the cloud-config and the parsed vrouter
// config. Config errors from config.Parse are returned unchanged, so their
// FILE:LINE:COL positions reach the user.
func Build(opts Options) (*CloudConfig, *config.Config, error) {
	name, data := opts.ConfigName, opts.Config
	if data == nil {
		name, data = "<default>", config.DefaultYAML()
	}
	if name == "" {
		name = "<config>"
	}
	if opts.HAPriority != 0 {
		var err error
		if data, err = WithHAPriority(data, opts.HAPriority); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	cfg, err := config.Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	if err := checkInstall(opts.URL, opts.DebURL, opts.SHA256); err != nil {
		return nil, nil, err
	}
	if err := checkNICs(opts.NICs); err != nil {
		return nil, nil, err
	}

	cc := &CloudConfig{FinalMessage: FinalMessage}
	cc.WriteFiles = append(cc.WriteFiles, WriteFile{
		Path:        ConfigPath,
		Content:     string(data),
		Owner:       "root:root",
		Permissions: "0644",
	})
	if s := sysctlFile(cfg); s != "" {
		cc.WriteFiles = append(cc.WriteFiles, WriteFile{
			Path: SysctlPath, Content: s, Owner: "root:root", Permissions: "0644",
		})
	}
	for _, n := range opts.NICs {
		cc.WriteFiles = append(cc.WriteFiles, WriteFile{
			Path:        path.Join(networkdDir, "10-vrouter-"+n.Name+".link"),
			Content:     linkFile(n),
			Owner:       "root:root",
			Permissions: "0644",
		})
	}
	for _, ifc := range cfg.Interfaces {
		cc.WriteFiles = append(cc.WriteFiles, WriteFile{
			Path:        path.Join(networkdDir, "05-vrouter-"+ifc.Name+".network"),
			Content:     unmanagedFile(ifc.Name),
			Owner:       "root:root",
			Permissions: "0644",
		})
	}
	if opts.URL != "" {
		// A stock image: the unit and the setup script come with the
		// user-data, the binary from the URL.
		cc.WriteFiles = append(cc.WriteFiles,
			WriteFile{Path: images.LocalUnitPath, Content: string(images.UnitFor(images.LocalBinaryPath)), Owner: "root:root", Permissions: "0644"},
			WriteFile{Path: images.LocalSetupPath, Content: string(images.SetupScript()), Owner: "root:root", Permissions: "0755"},
		)
	}
	if cfg.Fastpath.Enabled && cfg.Fastpath.IO != config.FastpathIOPacket {
		// The fast path's AF_XDP datapath needs CAP_BPF, bpf(2), AF_XDP
		// sockets and locked memory beyond the unit's privileges.
		cc.WriteFiles = append(cc.WriteFiles, WriteFile{
			Path: images.XDPDropInPath, Content: string(images.XDPDropIn()), Owner: "root:root", Permissions: "0644",
		})
	}

	// runcmd: every entry is an argv list; the shell scripts are constants
	// that take their values as positional parameters, never spliced in.
	sum := strings.ToLower(opts.SHA256)
	switch {
	case opts.URL != "":
		bin := images.LocalBinaryPath
		cc.Runcmd = append(cc.Runcmd,
			[]string{"sh", "-c", installScript, "vrouter-install", bin, opts.URL, sum},
			[]string{images.LocalSetupPath},
			[]string{bin, "check", "--config", ConfigPath},
			[]string{"systemctl", "daemon-reload"},
			[]string{"systemctl", "enable", unitName},
			// restart, not start: a unit already running (cloud-init
			// re-run) must pick up the new binary and config.
			[]string{"systemctl", "restart", unitName},
		)
	case opts.DebURL != "":
		cc.Runcmd = append(cc.Runcmd,
			[]string{"sh", "-c", debInstallScript, "vrouter-install-deb", DebPath, opts.DebURL, sum},
			[]string{images.SetupPath},
			[]string{images.BinaryPath, "check", "--config", ConfigPath},
			[]string{"systemctl", "enable", unitName},
			[]string{"systemctl", "restart", unitName},
		)
	default:
		// The image has the package: vrouter-setup and vrouter.service
		// started as soon as these files existed (written from the config
		// drive by vrouter-seed.service, or by cloud-init's init stage).
		// Here the config's problems reach the console, and a unit that
		// is not running yet (an image that does not enable it) starts.
		cc.Runcmd = append(cc.Runcmd,
			[]string{images.BinaryPath, "check", "--config", ConfigPath},
			[]string{"systemctl", "enable", unitName},
			[]string{"systemctl", "start", unitName},
		)
	}
	return cc, cfg, nil
}

// Render builds the user-data: #cloud-config, or multipart/mixed when
// opts has Parts. It refuses output over nova's limit (ErrTooLarge).
func Render(opts Options) ([]byte, error) {
	cc, _, err := Build(opts)
	if err != nil {
		return nil, err
	}
	return UserData(cc, opts.Parts)
}

// UserData marshals cc, wraps it with parts in MIME multipart/mixed when
// there are any, and checks the size against nova's limit.
func UserData(cc *CloudConfig, parts []Part) ([]byte, error) {
	out, err := cc.Marshal()
	if err != nil {
		return nil, err
	}
	if err := CheckKeys(out); err != nil {
		return nil, err
	}
	if len(parts) > 0 {
		all := append([]Part{{Filename: "vrouter.cfg", ContentType: "text/cloud-config", Content: out}}, parts...)
		if out, err = Multipart(all); err != nil {
			return nil, err
		}
	}
	if err := CheckSize(out); err != nil {
		return nil, err
	}
	return out, nil
}

// CheckSize returns an error wrapping ErrTooLarge when data, base64-encoded
// as nova stores it, exceeds 65535 bytes.
func CheckSize(data []byte) error {
	if n := base64.StdEncoding.EncodedLen(len(data)); n > NovaMaxBase64 {
		return fmt.Errorf("%w: %d bytes are %d bytes in base64, nova accepts at most %d (about %d bytes before encoding); "+
			"drop or shrink the --part files, or put large files in the image",
			ErrTooLarge, len(data), n, NovaMaxBase64, NovaMaxBase64/4*3)
	}
	return nil
}

func checkInstall(rawURL, debURL, sum string) error {
	flag, what := "--url", "binary"
	switch {
	case rawURL != "" && debURL != "":
		return errors.New("--url and --deb-url exclude each other: install the binary or the Debian package")
	case debURL != "":
		flag, what, rawURL = "--deb-url", "package", debURL
	case rawURL == "":
		if sum != "" {
			return errors.New("--sha256 is only meaningful with --url or --deb-url")
		}
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s %q: want an http:// or https:// URL", flag, rawURL)
	}
	if sum == "" {
		return fmt.Errorf("%s needs --sha256: the downloaded %s runs as a network daemon and must be checked (sha256sum FILE)", flag, what)
	}
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
		return fmt.Errorf("--sha256 %q: want 64 hexadecimal digits (the output of sha256sum)", sum)
	}
	return nil
}

func checkNICs(nics []NIC) error {
	var names, macs []string
	for _, n := range nics {
		if err := checkIfName(n.Name); err != nil {
			return err
		}
		if strings.HasPrefix(n.Name, "vrtmp") {
			return fmt.Errorf("interface name %q: the prefix vrtmp is used while renaming", n.Name)
		}
		if slices.Contains(names, n.Name) {
			return fmt.Errorf("interface %s is matched by MAC twice", n.Name)
		}
		if slices.Contains(macs, n.MAC.String()) {
			return fmt.Errorf("MAC %s is given for two interfaces", n.MAC)
		}
		names = append(names, n.Name)
		macs = append(macs, n.MAC.String())
	}
	return nil
}

// sysctlFile renders the sysctl.d file for cfg: accept_ra=2 on upstream
// interfaces (SLAAC keeps working with forwarding on), then forwarding. The
// order matters: turning forwarding on while an interface still has
// accept_ra=1 makes the kernel drop the default route it learned from RAs
// on it, which would come back only with the next RA (up to 30 min).
func sysctlFile(cfg *config.Config) string {
	var lines []string
	for _, ifc := range cfg.Interfaces {
		if ifc.Role == config.RoleUpstream {
			lines = append(lines, ifSysctl(ifc.Name, "accept_ra")+" = 2")
		}
	}
	if cfg.Forwarding != nil {
		v := "0"
		if *cfg.Forwarding {
			v = "1"
		}
		lines = append(lines, "net.ipv6.conf.all.forwarding = "+v)
	}
	if len(lines) == 0 {
		return ""
	}
	return "# Written by `vrouter cloudinit` from " + ConfigPath + "; vrouter sets these too.\n" +
		strings.Join(lines, "\n") + "\n"
}

// ifSysctl names the IPv6 sysctl key of an interface. A name with a dot
// (eth0.100) is written with slashes, as sysctl.d(5) requires.
func ifSysctl(ifname, key string) string {
	if strings.Contains(ifname, ".") {
		return "net/ipv6/conf/" + ifname + "/" + key
	}
	return "net.ipv6.conf." + ifname + "." + key
}

// ini renders systemd unit-style files from ordered sections.
type iniSection struct {
	name string
	keys [][2]string
}

func renderINI(comment string, sections ...iniSection) string {
	var b strings.Builder
	b.WriteString("# " + comment + "\n")
	for i, s := range sections {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("[" + s.name + "]\n")
		for _, kv := range s.keys {
			b.WriteString(kv[0] + "=" + kv[1] + "\n")
		}
	}
	return b.String()
}

func linkFile(n NIC) string {
	return renderINI("Written by `vrouter cloudinit`: names the NIC with MAC "+n.MAC.String()+" "+n.Name+".",
		iniSection{"Match", [][2]string{{"MACAddress", n.MAC.String()}, {"Type", "ether"}}},
		iniSection{"Link", [][2]string{{"NamePolicy", ""}, {"Name", n.Name}}},
	)
}

func unmanagedFile(name string) string {
	return renderINI("Written by `vrouter cloudinit`: vrouter configures "+name+"; networkd leaves it alone.",
		iniSection{"Match", [][2]string{{"Name", name}}},
		iniSection{"Link", [][2]string{{"Unmanaged", "yes"}}},
	)
}

// fetchScript downloads $2 to $1.download with curl or wget and checks it
// against the SHA-256 in $3; the download is removed on any exit, so a
// mismatch leaves nothing behind. installScript and debInstallScript
// continue it.
const fetchScript = `set -eu
dst=$1 url=$2 sum=$3
tmp=$dst.download
trap 'rm -f "$tmp"' EXIT
mkdir -p "$(dirname "$dst")"
if command -v curl >/dev/null 2>&1; then
	curl -fsSL --retry 5 --retry-delay 2 --retry-connrefused -o "$tmp" "$url"
elif command -v wget >/dev/null 2>&1; then
	wget -q --tries=5 --waitretry=2 -O "$tmp" "$url"
else
	echo "vrouter: cannot download $url: neither curl nor wget is installed" >&2
	exit 1
fi
if ! printf '%s  %s\n' "$sum" "$tmp" | sha256sum -c --strict --status -; then
	echo "vrouter: $url does not have SHA-256 $sum; not installed" >&2
	exit 1
fi
`

// installScript installs the checked binary at $1, mode 0755. A mismatch
// leaves no binary behind, so vrouter.service fails instead of running
// unchecked code.
const installScript = fetchScript + `install -m 0755 -o root -g root "$tmp" "$dst"
echo "vrouter: installed $dst from $url (sha256 $sum)"
`

// debInstallScript installs the checked Debian package (kept at $1) with
// apt, which brings its dependencies, or dpkg where apt is missing.
const debInstallScript = fetchScript + `mv "$tmp" "$dst"
export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null 2>&1; then
	apt-get install -y --no-install-recommends "$dst"
else
	dpkg -i "$dst"
fi
echo "vrouter: installed the package $dst from $url (sha256 $sum)"
`
