// Package ifname provides the one rule vrouter applies to Linux network
// interface names, the kernel's dev_valid_name (net/core/dev.c) narrowed to
// printable ASCII: 1 to 15 bytes (IFNAMSIZ-1), not "." or "..", and no
// '/', ':' or white space. Every package that takes an interface name from
// a user (config, radvd.conf import, cloud-init options) or builds a path
// from one (sysctl keys under /proc/sys) checks it here, so a name one of
// them accepts the others accept too.
package ifname
