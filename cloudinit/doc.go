// Package cloudinit renders the #cloud-config user-data that installs,
// configures and starts vrouter in an OpenStack service VM, and the seeds
// (an OpenStack config drive or a NoCloud seed) that carry it to a VM
// without a metadata service.
//
// The cloud-config is built from typed structs and marshalled with
// go.yaml.in/yaml/v3, never from text templates. It writes
// /etc/vrouter/vrouter.yaml (validated with config.Parse first), a
// sysctl.d file (forwarding, accept_ra=2 on upstream interfaces),
// systemd-networkd files that leave the router's interfaces to vrouter and
// optionally name NICs by MAC address, and enables vrouter.service. The
// binary is either baked into the image or downloaded from a URL whose
// SHA-256 is checked before it is installed.
//
// Nova accepts at most 65535 bytes of base64-encoded user-data; Render
// refuses anything larger (ErrTooLarge).
package cloudinit
