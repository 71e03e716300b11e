package disk

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAddPartitionGPT(t *testing.T) {
	for _, tc := range []struct {
		name string
		ss   int
		fix  bool // run FixGPT first (the installer's order)
	}{
		{"512 after FixGPT", 512, true},
		{"512 without FixGPT", 512, false},
		{"4096 after FixGPT", 4096, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 64 * mib
			p := makeGPT(t, tc.ss, 20*mib, 8)
			grow(t, p, size)
			f := openRW(t, p)
			if tc.fix {
				if _, err := FixGPT(f, tc.ss); err != nil {
					t.Fatal(err)
				}
			}
			got, err := AddPartition(f, tc.ss, 700*1024+3, "config-2")
			if err != nil {
				t.Fatalf("AddPartition = %v", err)
			}
			want := Partition{Number: 2, Start: size - mib, Size: roundUp(700*1024+3, tc.ss)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("AddPartition mismatch (-want +got):\n%s", diff)
			}
			sgdiskClean(t, p, tc.ss)
			checkBackupAtEnd(t, p, tc.ss)
			rows := partitionLines(t, p, tc.ss)
			if len(rows) != 2 {
				t.Fatalf("sgdisk -p rows = %q, want 2", rows)
			}
			ss := int64(tc.ss)
			wantRow := "2 " + strconv.FormatInt(got.Start/ss, 10) + " " + strconv.FormatInt((got.Start+got.Size)/ss-1, 10)
			if !strings.HasPrefix(rows[1], wantRow) || !strings.HasSuffix(rows[1], "8300 config-2") {
				t.Errorf("last sgdisk -p row = %q, want %q … 8300 config-2", rows[1], wantRow)
			}
			info := sgdisk(t, p, tc.ss, "-i", "2")
			if !strings.Contains(info, LinuxFilesystemGUID) || !strings.Contains(info, "'config-2'") {
				t.Errorf("sgdisk -i 2:\n%s\nwant type %s and name config-2", info, LinuxFilesystemGUID)
			}
		})
	}
}

// sfdiskDump is the part of `sfdisk --json` the tests read.
type sfdiskDump struct {
	PartitionTable struct {
		Label      string `json:"label"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func sfdiskJSON(t *testing.T, path string) sfdiskDump {
	t.Helper()
	var d sfdiskDump
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", path)), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAddPartitionMBR(t *testing.T) {
	needTools(t, "sfdisk")
	for _, tc := range []struct {
		name, script string
		wantNumber   int
	}{
		{"one primary", "label: dos\n,8M,83\n", 2},
		{"gap between partitions", "label: dos\n2048,8M,83\n40960,4M,83\n", 3},
		{"only slot 2 used", "label: dos\ndisk.img2 : start=2048,size=8M,type=83\n", 1},
		{"extended with logicals", "label: dos\nstart=2048,size=8M,type=83\nstart=18432,size=16M,type=5\n" +
			"start=20480,size=4M,type=83\nstart=30720,size=4M,type=83\n", 3},
		{"three primaries", "label: dos\n,4M,83\n,4M,83\n,4M,83\n", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 64 * mib
			p := imageFile(t, size)
			runStdin(t, tc.script, "sfdisk", "-q", p)
			before := sfdiskJSON(t, p)
			got, err := AddPartition(openRW(t, p), 512, 300*1024, "config-2")
			if err != nil {
				t.Fatalf("AddPartition = %v", err)
			}
			want := Partition{Number: tc.wantNumber, Start: size - mib, Size: 300 * 1024}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("AddPartition mismatch (-want +got):\n%s", diff)
			}
			run(t, "sfdisk", "--verify", p)
			after := sfdiskJSON(t, p)
			if n := len(after.PartitionTable.Partitions); n != len(before.PartitionTable.Partitions)+1 {
				t.Fatalf("partitions after = %d, want %d", n, len(before.PartitionTable.Partitions)+1)
			}
			var found bool
			for _, q := range after.PartitionTable.Partitions {
				if strings.HasSuffix(q.Node, strconv.Itoa(got.Number)) {
					found = true
					if q.Start*512 != got.Start || q.Size*512 != got.Size || q.Type != "83" {
						t.Errorf("sfdisk sees %+v, want start %d size %d type 83", q, got.Start/512, got.Size/512)
					}
				}
			}
			if !found {
				t.Errorf("sfdisk does not list partition %d: %+v", got.Number, after)
			}
		})
	}
}

func TestAddPartitionRefuses(t *testing.T) {
	needTools(t, "sfdisk", "sgdisk")
	for _, tc := range []struct {
		name  string
		size  int64
		setup func(t *testing.T, path string)
		is    error
		want  string
	}{
		{"four primaries", 64 * mib, func(t *testing.T, p string) {
			runStdin(t, "label: dos\n,4M,83\n,4M,83\n,4M,83\n,4M,83\n", "sfdisk", "-q", p)
		}, ErrNoMBRSlot, "no free MBR slot"},
		{"mbr full", 16 * mib, func(t *testing.T, p string) {
			runStdin(t, "label: dos\n,,83\n", "sfdisk", "-q", p)
		}, nil, "no room"},
		{"gpt full", 16 * mib, func(t *testing.T, p string) {
			run(t, "sgdisk", "-o", "-n", "1:2048:0", p)
		}, nil, "no room"},
		{"no table", 16 * mib, func(*testing.T, string) {}, ErrNoTable, "no partition table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := imageFile(t, tc.size)
			tc.setup(t, p)
			h := fileHash(t, p)
			_, err := AddPartition(openRW(t, p), 512, 512*1024, "config-2")
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("AddPartition = %v, want an error containing %q", err, tc.want)
			}
			if fileHash(t, p) != h {
				t.Errorf("AddPartition changed the disk although it failed")
			}
		})
	}
}

func roundUp(n int64, ss int) int64 { return (n + int64(ss) - 1) / int64(ss) * int64(ss) }
