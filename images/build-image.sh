#!/bin/bash
# build-image.sh: the vrouter service-VM image, a BIOS-bootable Debian
# bookworm qcow2 (like a glance image) built from Debian's packages with
# mmdebstrap, without libguestfs: rootfs directory -> ext4 made with
# `mkfs.ext4 -d` inside a partitioned raw disk -> extlinux through a loop
# device -> qcow2.
#
# usage: images/build-image.sh [OUT.qcow2]     (root; default bin/vrouter-bookworm.qcow2)
# env:   VROUTER_DEB  the vrouter Debian package to install (default: built
#                     from this tree as `make deb` does)
#        MIRROR       Debian mirror (default: the first Debian archive in the host's apt sources)
#        DISK_SIZE    virtual disk size (default 2G; cloud-init grows the root fs)
#        EXTRA_PKGS   more packages, comma-separated
#        QCOW2_COMPRESS=1  compressed qcow2 (smaller upload)
#        DEB_CACHE    directory that keeps the downloaded .debs between builds
#                     (created; reused by the next build with the same mirror)
#        PLAIN=1      no vrouter package; git, make and this machine's Go
#                     toolchain (GOROOT) instead: the image in which
#                     TestCloneDemo runs `git clone` + `make demo`
# needs: mmdebstrap extlinux syslinux-common qemu-utils e2fsprogs fdisk mount (Debian packages)
#
# The image: cloud kernel (linux-image-cloud-amd64), systemd + networkd +
# resolved, cloud-init (datasources ConfigDrive, OpenStack, NoCloud; networkd
# renderer), openssh-server without host keys (cloud-init makes them), and
# the vrouter package: vrouter.service enabled, but it starts only once
# /etc/vrouter/vrouter.yaml exists, so a first boot without it never
# advertises the embedded default on a tenant network; with a config drive,
# vrouter-seed.service writes the user-data's vrouter files from it as soon
# as the kernel has the drive and the router starts long before cloud-init's
# init stage would have written them (OPENSTACK.md). NICs are
# eth0, eth1... in PCI order (net.ifnames=0), as OpenStack attaches ports;
# `vrouter cloudinit --match-mac` pins names to MACs on top of that.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/bin/vrouter-bookworm.qcow2}
# host_mirror prints the first Debian archive URI the host's apt uses, so the
# image comes from the same archive the machine is set up for.
host_mirror() {
	local f uris=
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] && uris+=$(awk '$1 == "URIs:" {for (i = 2; i <= NF; i++) print $i}' "$f")$'\n'
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] && uris+=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' "$f")$'\n'
	done
	printf '%s' "$uris" | awk '/\/debian\/?$/ {print; exit}'
}
mirror=${MIRROR:-$(host_mirror)}
[ -n "$mirror" ] || { echo "build-image: no Debian archive in the host's apt sources; set MIRROR" >&2; exit 1; }
disk_size=${DISK_SIZE:-2G}

die() { echo "build-image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap root mode, loop device for extlinux)"
for t in mmdebstrap extlinux mkfs.ext4 sfdisk losetup qemu-img mount; do
	command -v "$t" >/dev/null || die "$t not found; apt-get install mmdebstrap extlinux syslinux-common qemu-utils e2fsprogs fdisk mount"
done
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -r "$mbr" ] || die "$mbr not found; apt-get install syslinux-common"

start=$(date +%s)
work=$(mktemp -d /var/tmp/vrouter-image.XXXXXX)
loopdev=
cleanup() {
	set +e
	mountpoint -q "$work/mnt" && umount "$work/mnt"
	[ -n "$loopdev" ] && losetup -d "$loopdev"
	rm -rf "$work"
}
trap cleanup EXIT

deb=${VROUTER_DEB:-}
plain=${PLAIN:-0}
if [ "$plain" = 1 ]; then
	goroot=${GOROOT:-$(go env GOROOT)}
	[ -x "$goroot/bin/go" ] || die "PLAIN=1 needs a Go toolchain: GOROOT=$goroot has no bin/go"
elif [ -z "$deb" ]; then
	echo "build-image: building the vrouter package"
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/deb/vrouter" ./cmd/vrouter &&
		go run ./packaging/cmd/mkdeb --binary "$work/deb/vrouter" --out "$work/deb" --doc OPENSTACK.md) >/dev/null ||
		die "building the package failed"
	deb=$work/deb/vrouter.deb
fi
if [ "$plain" != 1 ]; then
	deb=$(readlink -f "$deb")
	[ -f "$deb" ] || die "VROUTER_DEB $deb is not a file"
fi

uuid=$(cat /proc/sys/kernel/random/uuid)
rootfs=$work/rootfs
pkgs=linux-image-cloud-amd64,systemd,systemd-sysv,systemd-resolved,udev,dbus,cloud-init
pkgs+=,iproute2,procps,kmod,netbase,ca-certificates,curl,openssh-server,initramfs-tools,e2fsprogs
pkgs+=,cloud-guest-utils,less
[ -n "${EXTRA_PKGS:-}" ] && pkgs+=,$EXTRA_PKGS
[ "$plain" = 1 ] && pkgs+=,git,make
# The vrouter package (or, PLAIN=1, the Go toolchain) goes in after the rest.
if [ "$plain" = 1 ]; then
	# The CAs this machine trusts locally go in too, so that the guest
	# reaches the Go module proxy the way this machine does (through a
	# TLS-intercepting egress proxy, where there is one).
	install_hooks=(--customize-hook="copy-in $goroot /usr/local"
		--customize-hook='mv "$1/usr/local/$(basename "'"$goroot"'")" "$1/usr/local/go" 2>/dev/null || true; "$1/usr/local/go/bin/go" version'
		--customize-hook='
			set -e
			for c in /usr/local/share/ca-certificates/*.crt; do
				[ -e "$c" ] && cp "$c" "$1/usr/local/share/ca-certificates/"
			done
			chroot "$1" update-ca-certificates')
else
	install_hooks=(--customize-hook="copy-in $deb /tmp"
		--customize-hook='
			set -e
			deb=/tmp/$(basename "'"$deb"'")
			chroot "$1" dpkg -i "$deb"
			rm -f "$1$deb"
			chroot "$1" systemctl is-enabled vrouter.service
		')
fi

cache_hooks=()
if [ -n "${DEB_CACHE:-}" ]; then
	mkdir -p "$DEB_CACHE"
	cache=$(cd "$DEB_CACHE" && pwd)
	cache_hooks=(--skip=essential/unlink
		--setup-hook='mkdir -p "$1/var/cache/apt/archives"'
		--setup-hook="sync-in $cache /var/cache/apt/archives/"
		--customize-hook="sync-out /var/cache/apt/archives $cache"
		--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb')
fi

echo "build-image: mmdebstrap bookworm from $mirror"
# Hooks run on the host with the rootfs as $1.
mmdebstrap --variant=minbase --mode=root --format=directory \
	--include="$pkgs" \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/doc/vrouter/*' \
	"${cache_hooks[@]}" \
	--customize-hook='
		set -e
		root=$1
		# No host state inside: resolv.conf from resolved, empty machine-id
		# (first boot makes one), no ssh host keys (cloud-init makes them).
		rm -f "$root/etc/resolv.conf"
		ln -s ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
		: >"$root/etc/machine-id"
		rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
		echo localhost >"$root/etc/hostname"
		printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" >"$root/etc/hosts"
		rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
		chroot "$root" systemctl enable systemd-networkd.service systemd-resolved.service
		# serial-getty comes from console=ttyS0; nothing else to enable.
		# Nothing that competes with the first boot for the CPU and is of
		# no use on a router appliance: apt'"'"'s daily runs (the image is
		# replaced, not upgraded in place), the e2scrub checks (no LVM).
		chroot "$root" systemctl disable apt-daily.timer apt-daily-upgrade.timer \
			e2scrub_all.timer e2scrub_reap.service
	' \
	"${install_hooks[@]}" \
	bookworm "$rootfs" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
	|| die "mmdebstrap failed"

echo "build-image: configuring"
kver=$(basename "$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -1)")
kver=${kver#vmlinuz-}
[ -f "$rootfs/boot/initrd.img-$kver" ] || die "no initrd for kernel $kver"

cat >"$rootfs/etc/fstab" <<FSTAB
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$uuid / ext4 defaults,errors=remount-ro 0 1
FSTAB

cat >"$rootfs/etc/cloud/cloud.cfg.d/90-vrouter.cfg" <<'CFG'
# vrouter image: read the config drive first (IPv6-only networks cannot
# reach the metadata server), render network config for systemd-networkd.
datasource_list: [ConfigDrive, OpenStack, NoCloud, None]
datasource:
  OpenStack:
    max_wait: 30
    timeout: 5
system_info:
  network:
    renderers: [networkd]
# RSA 3072 and DSA keys take ~15 s to make under emulation; these two are
# what current clients use.
ssh_genkeytypes: [ed25519, ecdsa]
# minbase has no locales package: leave the locale as it is.
locale: false
# The init stage (cloud-init.service) holds the rest of the boot: it is
# ordered before sysinit.target (vrouter is not: it starts from the config
# drive, or right after this stage without one). It keeps what
# must be in place before services start: the files the user-data writes
# (the vrouter config among them) and the hostname. Growing the root file
# system, the default user and the ssh host keys (3 s of its 5 s under
# TCG) move to the config stage, which runs once the router is up; ssh.service
# waits for that stage (drop-in below). grub-dpkg (no GRUB here), snap,
# byobu and the EC2-only module are left out.
cloud_init_modules:
  - seed_random
  - bootcmd
  - write_files
  - set_hostname
  - update_hostname
  - update_etc_hosts
cloud_config_modules:
  - growpart
  - resizefs
  - disk_setup
  - mounts
  - ca_certs
  - rsyslog
  - users_groups
  - ssh
  - ssh_import_id
  - keyboard
  - locale
  - set_passwords
  - apt_pipelining
  - apt_configure
  - ntp
  - timezone
  - runcmd
CFG

# sshd needs the host keys, which cloud-init's ssh module now makes in the
# config stage.
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
cat >"$rootfs/etc/systemd/system/ssh.service.d/10-vrouter.conf" <<'SSH'
[Unit]
After=cloud-config.service
SSH

# systemd-networkd-wait-online must not hold the boot for links that get no
# address (the tenant link waits for vrouter itself): any one link, 20 s.
mkdir -p "$rootfs/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat >"$rootfs/etc/systemd/system/systemd-networkd-wait-online.service.d/10-vrouter.conf" <<'WAIT'
[Unit]
# With its config on disk vrouter configures the interfaces (networkd leaves
# them alone, so it has no link to wait for and would only run into the
# timeout); network-online.target then waits for vrouter.service instead.
ConditionPathExists=!/etc/vrouter/vrouter.yaml

[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=20
WAIT

echo "build-image: making the disk"
raw=$work/disk.raw
truncate -s "$disk_size" "$raw"
echo 'start=2048, type=83, bootable' | sfdisk --quiet "$raw"
offset=$((2048 * 512))
psize_k=$(( ($(stat -c %s "$raw") - offset) / 1024 ))
# No 64bit: extlinux (syslinux 6.04) cannot read ext4 with it.
mkfs.ext4 -q -F -L vrouter-root -U "$uuid" -O ^64bit -E offset=$offset -d "$rootfs" "$raw" "${psize_k}k"

loopdev=$(losetup --find --show --offset "$offset" --sizelimit $((psize_k * 1024)) "$raw")
mkdir -p "$work/mnt"
mount "$loopdev" "$work/mnt"
mkdir -p "$work/mnt/boot/extlinux"
extlinux --install "$work/mnt/boot/extlinux" >/dev/null
cat >"$work/mnt/boot/extlinux/extlinux.conf" <<EXT
SERIAL 0 115200
DEFAULT vrouter
PROMPT 0
TIMEOUT 1
LABEL vrouter
  LINUX /boot/vmlinuz-$kver
  INITRD /boot/initrd.img-$kver
  APPEND root=UUID=$uuid ro quiet console=tty0 console=ttyS0,115200n8 net.ifnames=0 biosdevname=0
EXT
umount "$work/mnt"
losetup -d "$loopdev"
loopdev=
dd if="$mbr" of="$raw" bs=440 count=1 conv=notrunc status=none

mkdir -p "$(dirname "$out")"
# QCOW2_COMPRESS=1 halves the upload to glance; boots read it a bit slower.
compress=()
[ "${QCOW2_COMPRESS:-0}" = 1 ] && compress=(-c)
qemu-img convert -f raw -O qcow2 "${compress[@]}" "$raw" "$out.tmp"
mv "$out.tmp" "$out"
end=$(date +%s)
echo "build-image: wrote $out ($(du -h --apparent-size "$out" | cut -f1) qcow2, $(du -sh "$rootfs" | cut -f1) rootfs, kernel $kver) in $((end - start)) s"
