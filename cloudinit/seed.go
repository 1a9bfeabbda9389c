package cloudinit

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SeedFormat is the kind of seed a VM without a metadata service reads.
type SeedFormat string

const (
	// ConfigDrive is an OpenStack config drive (nova's --config-drive true):
	// openstack/<version>/{meta_data.json,user_data,network_data.json,...},
	// iso9660 label config-2.
	ConfigDrive SeedFormat = "configdrive"
	// NoCloud is cloud-init's NoCloud seed: user-data, meta-data,
	// network-config; label cidata.
	NoCloud SeedFormat = "nocloud"
)

// Labels cloud-init looks for.
const (
	ConfigDriveLabel = "config-2"
	NoCloudLabel     = "cidata"
)

// configDriveVersions are the metadata versions written, like nova does
// for each version it supports; cloud-init reads the newest it knows.
var configDriveVersions = []string{"2012-08-10", "2015-10-15", "2018-08-27", "latest"}

// SeedNIC is one port of the instance, as nova lists it in
// network_data.json.
type SeedNIC struct {
	MAC net.HardwareAddr
	MTU int // 0: 1500
	// Type is the network_data.json network type of the port's subnet,
	// e.g. "ipv6_slaac"; empty lists the link without a network.
	Type string
}

// Seed is what a config drive or NoCloud seed holds.
type Seed struct {
	Format     SeedFormat
	InstanceID string // a UUID for config drives; NewInstanceID makes one
	Hostname   string
	UserData   []byte
	NICs       []SeedNIC
}

// NewInstanceID returns a random (version 4) UUID.
func NewInstanceID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// novaMetaData is openstack/<version>/meta_data.json as nova writes it.
type novaMetaData struct {
	UUID             string            `json:"uuid"`
	Meta             map[string]string `json:"meta"`
	Hostname         string            `json:"hostname"`
	Name             string            `json:"name"`
	LaunchIndex      int               `json:"launch_index"`
	AvailabilityZone string            `json:"availability_zone"`
	ProjectID        string            `json:"project_id"`
	Devices          []any             `json:"devices"`
	DedicatedCPUs    []int             `json:"dedicated_cpus"`
}

// NetworkData is openstack/<version>/network_data.json (nova's format).
type NetworkData struct {
	Links    []NetworkLink `json:"links"`
	Networks []Network     `json:"networks"`
	Services []any         `json:"services"`
}

// NetworkLink is one entry of network_data.json "links".
type NetworkLink struct {
	ID                 string `json:"id"`
	VIFID              string `json:"vif_id"`
	Type               string `json:"type"`
	MTU                int    `json:"mtu"`
	EthernetMACAddress string `json:"ethernet_mac_address"`
}

// Network is one entry of network_data.json "networks".
type Network struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Link      string `json:"link"`
	NetworkID string `json:"network_id"`
	Services  []any  `json:"services"`
}

// NovaNetworkData builds network_data.json for nics the way nova does:
// one "ovs" link per port, named after its tap device, and one network
// per subnet type.
func NovaNetworkData(nics []SeedNIC) (*NetworkData, error) {
	nd := &NetworkData{Links: []NetworkLink{}, Networks: []Network{}, Services: []any{}}
	for i, n := range nics {
		if len(n.MAC) != 6 {
			return nil, fmt.Errorf("nic %d: %q is not an Ethernet MAC address", i, n.MAC)
		}
		vif, err := NewInstanceID()
		if err != nil {
			return nil, err
		}
		mtu := n.MTU
		if mtu == 0 {
			mtu = 1500
		}
		link := NetworkLink{ID: "tap" + vif[:11], VIFID: vif, Type: "ovs", MTU: mtu, EthernetMACAddress: n.MAC.String()}
		nd.Links = append(nd.Links, link)
		if n.Type != "" {
			netID, err := NewInstanceID()
			if err != nil {
				return nil, err
			}
			nd.Networks = append(nd.Networks, Network{
				ID: fmt.Sprintf("network%d", len(nd.Networks)), Type: n.Type, Link: link.ID,
				NetworkID: netID, Services: []any{},
			})
		}
	}
	return nd, nil
}

// WriteSeed writes s to path: a directory, or an ISO 9660 image when path
// ends in ".iso" (made with genisoimage or xorriso, as nova does).
func WriteSeed(path string, s Seed) error {
	if s.InstanceID == "" {
		return errors.New("seed: no instance id")
	}
	if s.Hostname == "" {
		s.Hostname = "vrouter"
	}
	if !strings.HasSuffix(strings.ToLower(path), ".iso") {
		return writeSeedDir(path, s)
	}
	dir, err := os.MkdirTemp("", "vrouter-seed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeSeedDir(dir, s); err != nil {
		return err
	}
	label := ConfigDriveLabel
	if s.Format == NoCloud {
		label = NoCloudLabel
	}
	return MakeISO(path, label, dir)
}

func writeSeedDir(dir string, s Seed) error {
	files := map[string][]byte{}
	switch s.Format {
	case ConfigDrive, "":
		md, err := json.Marshal(novaMetaData{
			UUID: s.InstanceID, Meta: map[string]string{}, Hostname: s.Hostname, Name: s.Hostname,
			AvailabilityZone: "nova", ProjectID: strings.ReplaceAll(s.InstanceID, "-", ""),
			Devices: []any{}, DedicatedCPUs: []int{},
		})
		if err != nil {
			return err
		}
		nd, err := NovaNetworkData(s.NICs)
		if err != nil {
			return err
		}
		ndj, err := json.Marshal(nd)
		if err != nil {
			return err
		}
		for _, v := range configDriveVersions {
			base := filepath.Join("openstack", v)
			files[filepath.Join(base, "meta_data.json")] = md
			files[filepath.Join(base, "vendor_data.json")] = []byte("{}")
			if v >= "2015-10-15" {
				files[filepath.Join(base, "network_data.json")] = ndj
				files[filepath.Join(base, "vendor_data2.json")] = []byte("{}")
			}
			if s.UserData != nil {
				files[filepath.Join(base, "user_data")] = s.UserData
			}
		}
	case NoCloud:
		md, err := yaml.Marshal(struct {
			InstanceID    string `yaml:"instance-id"`
			LocalHostname string `yaml:"local-hostname"`
		}{s.InstanceID, s.Hostname})
		if err != nil {
			return err
		}
		files["meta-data"] = md
		files["user-data"] = s.UserData
	default:
		return fmt.Errorf("seed format %q: want %s or %s", s.Format, ConfigDrive, NoCloud)
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return nil
}

// MakeISO makes an ISO 9660 image at path with volume label label from
// the files in dir, with genisoimage (nova's tool) or xorriso, whichever is
// installed (Debian packages genisoimage, xorriso).
func MakeISO(path, label, dir string) error {
	args := []string{"-o", path, "-ldots", "-allow-lowercase", "-allow-multidot", "-l",
		"-publisher", "vrouter cloudinit", "-quiet", "-J", "-r", "-V", label, dir}
	var cmd *exec.Cmd
	if p, err := exec.LookPath("genisoimage"); err == nil {
		cmd = exec.Command(p, args...)
	} else if p, err := exec.LookPath("xorriso"); err == nil {
		cmd = exec.Command(p, append([]string{"-as", "mkisofs"}, args...)...)
	} else {
		return errors.New("making an ISO needs genisoimage or xorriso (Debian packages genisoimage, xorriso); or give --seed a directory")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(cmd.Path), err, strings.TrimSpace(string(out)))
	}
	return nil
}
