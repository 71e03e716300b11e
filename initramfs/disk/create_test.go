package disk

import (
	"errors"
	"slices"

	"github.com/byoi/byoi/boot"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// CreateGPT over an old table: sgdisk finds no problem and reads the
// partitions, types and names back; the config drive can be added after.
func TestCreateGPT(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		t.Run(strconv.Itoa(ss), func(t *testing.T) {
			size := int64(200 * mib)
			p := makeGPT(t, ss, size, 150) // an old table to replace
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			parts := []NewPartition{
				{Start: 1 * mib, Size: 1 * mib, Type: TypeBIOSBoot, Name: "bios"},
				{Start: 2 * mib, Size: 64 * mib, Type: TypeESP, Name: "efi"},
				{Start: 66 * mib, Size: 100 * mib, Type: TypeLinuxRAID, Name: "root"},
			}
			got, err := CreateGPT(f, ss, parts)
			if err != nil {
				t.Fatalf("CreateGPT() = %v", err)
			}
			want := []Partition{{1, 1 * mib, 1 * mib}, {2, 2 * mib, 64 * mib}, {3, 66 * mib, 100 * mib}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("CreateGPT() (-want +got):\n%s", diff)
			}
			sgdiskClean(t, p, ss)
			rows := partitionLines(t, p, ss)
			wantRows := []string{"1 256 511 1024.0 KiB EF02 bios", "2 512 16895 64.0 MiB EF00 efi", "3 16896 42495 100.0 MiB FD00 root"}
			if ss == 512 {
				wantRows = []string{"1 2048 4095 1024.0 KiB EF02 bios", "2 4096 135167 64.0 MiB EF00 efi", "3 135168 339967 100.0 MiB FD00 root"}
			}
			if diff := cmp.Diff(wantRows, rows); diff != "" {
				t.Errorf("sgdisk -p (-want +got):\n%s", diff)
			}
			cd, err := AddPartition(f, ss, mib, "config-2")
			if err != nil || cd.Number != 4 || cd.Start+cd.Size > size-mib+int64(ss)*34 {
				t.Errorf("AddPartition(config-2) = %+v, %v; want partition 4 at the end", cd, err)
			}
			sgdiskClean(t, p, ss)
		})
	}
}

func TestCreateGPTRefuses(t *testing.T) {
	p := imageFile(t, 100*mib)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name  string
		parts []NewPartition
		want  string
	}{
		{"overlap", []NewPartition{{Start: mib, Size: 10 * mib, Type: TypeLinuxFS}, {Start: 5 * mib, Size: mib, Type: TypeLinuxFS}}, "create GPT: partitions 1 and 2 overlap"},
		{"past the end", []NewPartition{{Start: mib, Size: 100 * mib, Type: TypeLinuxFS}}, "is not within the usable sectors"},
		{"in the header", []NewPartition{{Start: 512, Size: mib, Type: TypeLinuxFS}}, "is not within the usable sectors"},
		{"unaligned", []NewPartition{{Start: mib + 1, Size: mib, Type: TypeLinuxFS}}, "is not within the usable sectors"},
		{"bad type", []NewPartition{{Start: mib, Size: mib, Type: "nope"}}, `invalid GUID "nope"`},
	}
	before, _ := os.ReadFile(p)
	for _, tt := range tests {
		if _, err := CreateGPT(f, 512, tt.parts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CreateGPT(%s) = %v, want %q", tt.name, err, tt.want)
		}
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Errorf("a refused CreateGPT wrote to the disk")
	}
}

func TestSelectAll(t *testing.T) {
	disks := []Disk{
		{Name: "sda", Size: 100}, {Name: "sdb", Size: 200, Removable: true}, {Name: "sdc", Size: 300, ReadOnly: true},
		{Name: "nvme0n1", Size: 400}, {Name: "nvme1n1", Size: 500},
	}
	names := func(ds []Disk) (s []string) {
		for _, d := range ds {
			s = append(s, d.Name)
		}
		return s
	}
	tests := []struct {
		h    boot.DiskHints
		want []string
	}{
		{boot.DiskHints{}, []string{"sda", "nvme0n1", "nvme1n1"}},
		{boot.DiskHints{MinSize: 150}, []string{"sdb", "nvme0n1", "nvme1n1"}},
		{boot.DiskHints{Path: "nvme1n1"}, []string{"nvme1n1"}},
	}
	for _, tt := range tests {
		got, err := SelectAll(disks, tt.h)
		if err != nil || !slices.Equal(names(got), tt.want) {
			t.Errorf("SelectAll(%+v) = %v, %v; want %v", tt.h, names(got), err, tt.want)
		}
	}
	if _, err := SelectAll(disks, boot.DiskHints{MinSize: 1000}); !errors.Is(err, ErrNoDisk) {
		t.Errorf("SelectAll(no match) = %v, want ErrNoDisk", err)
	}
}
