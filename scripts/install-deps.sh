#!/usr/bin/env bash
# install-deps.sh [run|test|bench] — install the Debian packages byoi needs
# from the machine's own apt sources, only those that are missing.
#   run:   what `make run` needs (apt tools to fetch iPXE/kernel, cpio tools)
#   test:  + QEMU, SeaBIOS, busybox, partitioning, file system, mdadm and LVM tools, dnsmasq,
#          nodejs and npm (the official Node.js OVH client's acceptance test)
#          the test BMCs' tools (openipmi's ipmi_sim, ipmitool, redfishtool)
#          mmdebstrap (the real Debian image of the e2e suite, e2e/distro)
#          OpenSSH's ssh and ssh-keygen (the rescue tests log in)
#   bench: + the same (qemu-img, dnsmasq, curl, zstd, xz)
set -euo pipefail
what=${1:-test}
pkgs=(ca-certificates iproute2 dpkg apt)
case $what in
run) ;;
test | bench)
	pkgs+=(qemu-system-x86 qemu-utils seabios busybox-static mtools dosfstools gdisk fdisk
		systemd-boot-efi binutils dnsmasq-base xz-utils zstd gzip curl cpio kmod
		syslinux syslinux-common extlinux genisoimage udhcpc nodejs npm
		openipmi ipmitool redfishtool mmdebstrap rsync acl attr e2fsprogs xfsprogs btrfs-progs mdadm lvm2
		util-linux openssh-client chromium systemd)
	;;
*)
	echo "usage: install-deps.sh [run|test|bench]" >&2
	exit 2
	;;
esac
missing=()
for p in "${pkgs[@]}"; do
	# A nodejs build that bundles npm (and conflicts with Debian's npm
	# package) already gives the npm command.
	[ "$p" = npm ] && command -v npm >/dev/null && continue
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
