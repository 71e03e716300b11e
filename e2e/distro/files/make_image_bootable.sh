#!/bin/bash
# /root/.ovh/make_image_bootable.sh — run by the BYOLinux installer as the
# last step, chrooted into the installed system (with /dev, /proc, /sys and,
# on UEFI, the ESP on /boot/efi mounted). It makes the system bootable on
# this machine, offline (no apt), without touching the firmware's boot
# order (OVH's rule: grub-install --no-nvram), then removes itself.
set -euo pipefail

# Software RAID: record the arrays the installer built, so that the
# initramfs assembles them at boot.
if [ -x /usr/share/mdadm/mkconf ]; then
	mkdir -p /etc/mdadm
	/usr/share/mdadm/mkconf >/etc/mdadm/mdadm.conf
fi

# The kernel console: keep the console= arguments the installer booted
# with (serial-only machines print nothing otherwise).
consoles=$(tr ' ' '\n' </proc/cmdline | grep '^console=' | tr '\n' ' ' | sed 's/ *$//' || true)
if [ -n "$consoles" ] && [ -f /etc/default/grub ]; then
	sed -i "s|^GRUB_CMDLINE_LINUX=.*|GRUB_CMDLINE_LINUX=\"$consoles\"|" /etc/default/grub
	if grep -q 'console=ttyS' <<<"$consoles"; then
		sed -i 's|^#*GRUB_TERMINAL=.*|GRUB_TERMINAL="console serial"|' /etc/default/grub
		grep -q '^GRUB_TERMINAL=' /etc/default/grub || echo 'GRUB_TERMINAL="console serial"' >>/etc/default/grub
	fi
fi

# The whole disks under / (through partitions, RAID and LVM).
boot_disks() {
	local src
	src=$(findmnt -n -o SOURCE /boot 2>/dev/null || findmnt -n -o SOURCE /)
	lsblk -n -s -l -p -o NAME,TYPE "$src" | awk '$2 == "disk" { print $1 }' | sort -u
}

if [ -d /sys/firmware/efi ]; then
	# shim + Debian's signed GRUB under \EFI\debian, and the same on the
	# removable path \EFI\BOOT (what the firmware tries without NVRAM entry).
	grub-install --target=x86_64-efi --efi-directory=/boot/efi --bootloader-id=debian \
		--uefi-secure-boot --force-extra-removable --no-nvram
else
	for disk in $(boot_disks); do
		grub-install --target=i386-pc "$disk"
	done
fi
update-grub
update-initramfs -u -k all
rm -rf /root/.ovh
