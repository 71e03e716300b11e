#!/bin/sh
# customize-rootfs.sh ROOT — run by mmdebstrap (as a customize hook, on the
# host, with the finished root file system at ROOT) to make it behave like
# Debian's cloud images. Part of the rootfs recipe: changing this file
# changes the cache key and rebuilds the root.
set -eu
root=$1

# Debian's locale-gen ignores its arguments and reads /etc/locale.gen;
# cloud-init's locale module fails unless en_US.UTF-8 exists already.
echo 'en_US.UTF-8 UTF-8' >"$root/etc/locale.gen"
chroot "$root" locale-gen
echo 'LANG=en_US.UTF-8' >"$root/etc/default/locale"

# cloud-init reads only the config drive (no metadata-server probing).
mkdir -p "$root/etc/cloud/cloud.cfg.d"
cat >"$root/etc/cloud/cloud.cfg.d/90_byoi.cfg" <<'CFG'
datasource_list: [ConfigDrive, None]
CFG

# What update-grub reads (the -bin GRUB packages ship no /etc/default/grub):
# kernel and GRUB on the serial console as well as on the screen.
cat >"$root/etc/default/grub" <<'CFG'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200"
CFG

# Per-machine identity is made at first boot: machine-id by systemd, SSH
# host keys by cloud-init, the hostname from the config drive.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
echo localhost >"$root/etc/hostname"
: >"$root/etc/fstab"
