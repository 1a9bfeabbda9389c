package cloudinit

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// CloudConfig is the subset of cloud-init's cloud-config that vrouter
// uses. Field names are cloud-init's top-level keys.
type CloudConfig struct {
	// WriteFiles runs in cloud-init's init stage (cc_write_files); files
	// with Defer set are written in the final stage, after packages and
	// users exist.
	WriteFiles []WriteFile `yaml:"write_files,omitempty"`
	// Runcmd entries are argv lists, run in order by the final stage
	// (scripts-user) from one /bin/sh script; a failing entry does not stop
	// the ones after it.
	Runcmd [][]string `yaml:"runcmd,omitempty"`
	// FinalMessage is printed on the console when cloud-init finishes.
	FinalMessage string `yaml:"final_message,omitempty"`
}

// WriteFile is one write_files entry.
type WriteFile struct {
	Path        string `yaml:"path"`
	Content     string `yaml:"content"`
	Owner       string `yaml:"owner,omitempty"`
	Permissions string `yaml:"permissions,omitempty"`
	Encoding    string `yaml:"encoding,omitempty"`
	Defer       bool   `yaml:"defer,omitempty"`
}

// Header is the first line cloud-init looks for in cloud-config user-data.
const Header = "#cloud-config\n"

// Marshal renders cc as #cloud-config text.
func (cc *CloudConfig) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(Header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cc); err != nil {
		return nil, fmt.Errorf("marshal cloud-config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal cloud-config: %w", err)
	}
	return buf.Bytes(), nil
}

// File returns the write_files entry for path, or nil.
func (cc *CloudConfig) File(path string) *WriteFile {
	for i := range cc.WriteFiles {
		if cc.WriteFiles[i].Path == path {
			return &cc.WriteFiles[i]
		}
	}
	return nil
}

// topLevelKeys are the top-level keys of cloud-init's cloud-config schema
// (cloud-init 22.4, schema-cloud-config-v1.json). cloud-init itself only
// warns about unknown top-level keys, so a misspelt key would be silently
// ignored on the VM; CheckKeys catches it here.
var topLevelKeys = []string{
	"allow_public_ssh_keys", "ansible", "apk_repos", "apt", "apt_pipelining",
	"apt_reboot_if_required", "apt_update", "apt_upgrade", "autoinstall",
	"bootcmd", "byobu_by_default", "ca-certs", "ca_certs", "chef", "chpasswd",
	"cloud_config_modules", "cloud_final_modules", "cloud_init_modules",
	"create_hostname_file", "device_aliases", "disable_ec2_metadata",
	"disable_root", "disable_root_opts", "disk_setup", "drivers", "fan",
	"final_message", "fqdn", "fs_setup", "groups", "growpart", "grub-dpkg",
	"grub_dpkg", "hostname", "keyboard", "landscape", "locale",
	"locale_configfile", "lxd", "manage_etc_hosts", "manage_resolv_conf",
	"mcollective", "merge_how", "merge_type", "migrate", "mount_default_fields",
	"mounts", "no_ssh_fingerprints", "ntp", "output", "package_reboot_if_required",
	"package_update", "package_upgrade", "packages", "password", "phone_home",
	"power_state", "prefer_fqdn_over_hostname", "preserve_hostname", "puppet",
	"random_seed", "reporting", "resize_rootfs", "resolv_conf", "rh_subscription",
	"rsyslog", "runcmd", "salt_minion", "snap", "spacewalk", "ssh",
	"ssh_authorized_keys", "ssh_deletekeys", "ssh_fp_console_blacklist",
	"ssh_genkeytypes", "ssh_import_id", "ssh_key_console_blacklist", "ssh_keys",
	"ssh_publish_hostkeys", "ssh_pwauth", "ssh_quiet_keygen", "swap", "system_info",
	"timezone", "ubuntu_advantage", "updates", "user", "users", "vendor_data",
	"wireguard", "write_files", "yum_repo_dir", "yum_repos", "zypper",
}

// CheckKeys reports every top-level key of the cloud-config in data that is
// not one of cloud-init's, sorted, in one error. data may start with the
// #cloud-config header.
func CheckKeys(data []byte) error {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("cloud-config is not YAML: %w", err)
	}
	if doc == nil {
		return fmt.Errorf("cloud-config is empty")
	}
	var bad []string
	for k := range doc {
		if !slices.Contains(topLevelKeys, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("cloud-config has unknown top-level keys: %s", strings.Join(bad, ", "))
}
