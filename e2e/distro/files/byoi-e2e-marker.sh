#!/bin/sh
# byoi-e2e-marker — the BYOLinux test image's proof of boot, run once by
# byoi-e2e-marker.service when the installed system reaches
# multi-user.target: one line on the serial console with the root device,
# the config drive (its device and the hostname in its meta_data.json) and
# the md arrays, then power off. cloud-init is disabled in this image (it
# is tested on the BYOI flows); this keeps the boot short under TCG.
set -u
drive=$(blkid -L config-2 2>/dev/null || true)
host=
if [ -n "$drive" ]; then
	mnt=$(mktemp -d)
	if mount -o ro "$drive" "$mnt"; then
		host=$(tr -d '\n' <"$mnt/openstack/latest/meta_data.json" | sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p')
		umount "$mnt"
	fi
	rmdir "$mnt"
fi
mdstat=$(grep -A1 '^md' /proc/mdstat 2>/dev/null | tr -s ' \n' ' ')
echo "BYOI-E2E-BYOLINUX root=$(findmnt -n -o SOURCE /) configdrive=$drive host=$host mdstat=$mdstat" >/dev/ttyS0
systemctl --no-block poweroff
