package storage

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
)

func TestFstab(t *testing.T) {
	pl, err := NewPlan(boot.Partitioning{Layout: []boot.LayoutEntry{
		e("/boot/efi", "vfat", 1, 511), e("/", "ext4", 1, 2048), e("/srv", "xfs", 1, 0), lv("swap", "swap", 1, 512, "swap"),
	}}, disks(2, 8<<30, "/dev/vd"), Options{UEFI: true, Rand: &counter{}})
	if err != nil {
		t.Fatal(err)
	}
	old := "# /etc/fstab: static file system information.\n" +
		"UUID=1111-2222 / ext4 errors=remount-ro 0 1\n" +
		"LABEL=cloudimg-rootfs /mnt ext4 defaults 0 0\n" +
		"/dev/sdb1 none swap sw 0 0\n" +
		"tmpfs /tmp tmpfs defaults,size=1g 0 0\n" +
		"proc /proc proc defaults 0 0\n"
	want := "# /etc/fstab written by byoi for this machine's layout (file systems by UUID).\n" +
		"UUID=11121314-1516-4718-991a-1b1c1d1e1f20 / ext4 errors=remount-ro 0 1\n" +
		"UUID=21222324-2526-4728-a92a-2b2c2d2e2f30 /srv xfs defaults 0 0\n" +
		"UUID=0102-0304 /boot/efi vfat umask=0077 0 1\n" +
		"UUID=31323334-3536-4738-b93a-3b3c3d3e3f40 none swap sw 0 0\n" +
		"\n# From the image's /etc/fstab:\n" +
		"# /etc/fstab: static file system information.\n" +
		"# byoi (device of the image's build machine): UUID=1111-2222 / ext4 errors=remount-ro 0 1\n" +
		"# byoi (device of the image's build machine): LABEL=cloudimg-rootfs /mnt ext4 defaults 0 0\n" +
		"# byoi (device of the image's build machine): /dev/sdb1 none swap sw 0 0\n" +
		"tmpfs /tmp tmpfs defaults,size=1g 0 0\n" +
		"proc /proc proc defaults 0 0\n"
	if diff := cmp.Diff(want, pl.Fstab(old)); diff != "" {
		t.Errorf("Fstab() (-want +got):\n%s", diff)
	}
	scan := "ARRAY /dev/md0 metadata=1.0 name=efi UUID=aaaaaaaa:bbbbbbbb:cccccccc:dddddddd\n" +
		"ARRAY /dev/md1 metadata=1.2 spares=1 name=root UUID=11111111:22222222:33333333:44444444\n" +
		"ARRAY /dev/md/other metadata=1.2 UUID=0:0:0:0\n"
	oldConf := "# mdadm.conf\nHOMEHOST <system>\nMAILADDR root\nARRAY /dev/md/old metadata=1.2 UUID=9:9:9:9\n"
	wantConf := "# mdadm.conf\nHOMEHOST <system>\nMAILADDR root\nDEVICE partitions\n# Arrays created by byoi:\n" +
		"ARRAY /dev/md/efi metadata=1.0 name=efi UUID=aaaaaaaa:bbbbbbbb:cccccccc:dddddddd\n" +
		"ARRAY /dev/md/root metadata=1.2 name=root UUID=11111111:22222222:33333333:44444444\n" +
		"ARRAY /dev/md/other metadata=1.2 UUID=0:0:0:0\n"
	if diff := cmp.Diff(wantConf, pl.MdadmConf(oldConf, scan)); diff != "" {
		t.Errorf("MdadmConf() (-want +got):\n%s", diff)
	}
	if got := pl.MdadmConf("", scan); got[:len("# mdadm.conf written by byoi\n")] != "# mdadm.conf written by byoi\n" {
		t.Errorf("MdadmConf(no old file) = %q, want byoi's header", got)
	}
}
