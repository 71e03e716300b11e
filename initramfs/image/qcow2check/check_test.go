package qcow2check

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

const cs = 65536

// build returns a small valid qcow2 v3 image: 2 GiB virtual (4 L1 entries),
// header at 0, L1 at cluster 1, L2 tables at clusters 2 and 3 (L1 entries 0
// and 2), data clusters at 4 (standard) and 5 (compressed).
func build() []byte {
	img := make([]byte, 6*cs)
	be := binary.BigEndian
	copy(img, Magic)
	be.PutUint32(img[4:], 3)
	be.PutUint32(img[20:], 16)
	be.PutUint64(img[24:], 2<<30)
	be.PutUint32(img[36:], 4)
	be.PutUint64(img[40:], 1*cs)
	be.PutUint64(img[48:], 0)
	be.PutUint32(img[96:], 4)
	be.PutUint32(img[100:], 112)
	be.PutUint64(img[cs:], 2*cs|1<<63)
	be.PutUint64(img[cs+16:], 3*cs|1<<63)
	be.PutUint64(img[2*cs:], 4*cs|1<<63)
	be.PutUint64(img[2*cs+8:], 1) // reads as zeros
	be.PutUint64(img[3*cs:], 1<<62|5*cs|2<<54)
	img[4*cs] = 0xaa
	return img
}

func patch(off int, v uint64, size int) func([]byte) []byte {
	return func(b []byte) []byte {
		switch size {
		case 4:
			binary.BigEndian.PutUint32(b[off:], uint32(v))
		case 8:
			binary.BigEndian.PutUint64(b[off:], v)
		}
		return b
	}
}

// checkAll runs Check and then CheckL2 on every L2 table, as Install does.
func checkAll(img []byte, size int64) error {
	h, err := Check(bytes.NewReader(img), size)
	if err != nil {
		return err
	}
	for _, off := range h.L2Offsets() {
		end := min(int64(off)+h.ClusterSize(), int64(len(img)))
		if err := h.CheckL2(img[off:end]); err != nil {
			return err
		}
	}
	return nil
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func([]byte) []byte
		want   string // substring of the error; "" = valid
	}{
		{"valid", nil, ""},
		{"v2", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[4:], 2)
			return b
		}, ""},
		{"not qcow2", patch(0, 0x7f454c46, 4), "no qcow2 magic"},
		{"version 4", patch(4, 4, 4), "unsupported version 4"},
		{"huge cluster_bits", patch(20, 40, 4), "cluster_bits 40 out of range"},
		{"tiny cluster_bits", patch(20, 8, 4), "cluster_bits 8 out of range"},
		{"huge l1_size", patch(36, 0xffffffff, 4), "too large"},
		{"l1_size too small", patch(36, 1, 4), "too small"},
		{"huge virtual size", patch(24, 1<<62, 8), "virtual size"},
		{"backing file", func(b []byte) []byte {
			copy(b[512:], "/etc/passwd")
			return patch(16, 11, 4)(patch(8, 512, 8)(b))
		}, "backing files"},
		{"encryption", patch(32, 2, 4), "encrypted"},
		{"external data file", patch(72, 1<<2, 8), "external data"},
		{"corrupt", patch(72, 1<<1, 8), "corrupt"},
		{"extended l2", patch(72, 1<<4, 8), "extended L2"},
		{"unknown feature", patch(72, 1<<20, 8), "unknown incompatible"},
		{"huge header_length", patch(100, 0x7ffffff8, 4), "header_length"},
		{"odd header_length", patch(100, 105, 4), "header_length"},
		{"zstd without bit", func(b []byte) []byte { b[104] = 1; return b }, "compression type bit"},
		{"zstd", func(b []byte) []byte { b[104] = 1; return patch(72, 1<<3, 8)(b) }, ""},
		{"unknown compression", func(b []byte) []byte { b[104] = 7; return patch(72, 1<<3, 8)(b) }, "unknown compression"},
		{"data file extension", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[112:], extExternalData)
			binary.BigEndian.PutUint32(b[116:], 4)
			return b
		}, "external data"},
		{"extension past cluster", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[112:], 0x1234)
			binary.BigEndian.PutUint32(b[116:], 0xffffff00)
			return b
		}, "past the first cluster"},
		{"endless extensions", func(b []byte) []byte {
			for off := 112; off+8 <= cs; off += 8 {
				binary.BigEndian.PutUint32(b[off:], 0x1234)
			}
			return b
		}, "header extensions"},
		{"l1 past end", patch(40, 100*cs, 8), "past the end of the file"},
		{"l1 unaligned", patch(40, cs+8, 8), "not cluster aligned"},
		{"l1 reserved bits", patch(cs, 2*cs|1<<63|1<<60, 8), "reserved bits"},
		{"l2 outside file", patch(cs, 50*cs, 8), "outside the file"},
		{"l2 is header", patch(cs, 0|1<<9, 8), "not cluster aligned"},
		{"l2 is l1", patch(cs, 1*cs, 8), "overlaps the L1 table"},
		{"l2 shared", patch(cs+16, 2*cs, 8), "used twice"},
		{"data outside file", patch(2*cs, 99*cs, 8), "outside the file"},
		{"data unaligned", patch(2*cs, 4*cs+512, 8), "not cluster aligned"},
		{"data loops into l2", patch(2*cs, 3*cs, 8), "is an L2 table"},
		{"data on l1", patch(2*cs, 1*cs, 8), "overlaps the L1 table"},
		{"data on header", patch(2*cs, 0|1<<9, 8), "not cluster aligned"},
		{"l2 reserved bits", patch(2*cs, 4*cs|1<<57, 8), "reserved bits"},
		{"compressed outside file", patch(3*cs, 1<<62|80*cs, 8), "outside the file"},
		{"compressed on header", patch(3*cs, 1<<62|100, 8), "overlaps the header"},
		{"truncated", func(b []byte) []byte { return b[:2*cs+100] }, "outside the file"},
		{"header only", func(b []byte) []byte { return b[:90] }, "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := build()
			if tc.mutate != nil {
				img = tc.mutate(img)
			}
			err := checkAll(img, int64(len(img)))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil", tc.name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check(%s) = %v, want an error containing %q", tc.name, err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Check(%s) = %v, want it to wrap ErrInvalid", tc.name, err)
			}
		})
	}
}

func TestIsL2(t *testing.T) {
	h, err := Check(bytes.NewReader(build()), 6*cs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off  int64
		n    int
		want bool
	}{{2 * cs, cs, true}, {3 * cs, cs, true}, {4 * cs, cs, false}, {2 * cs, 512, false}} {
		if got := h.IsL2(tc.off, tc.n); got != tc.want {
			t.Errorf("IsL2(%d, %d) = %v, want %v", tc.off, tc.n, got, tc.want)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(build()[:4*cs])
	f.Add(build()[:200])
	v2 := build()
	binary.BigEndian.PutUint32(v2[4:], 2)
	f.Add(v2[:3*cs])
	f.Fuzz(func(t *testing.T, img []byte) {
		for _, size := range []int64{int64(len(img)), -1} {
			h, err := Check(bytes.NewReader(img), size)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Check = %v, want ErrInvalid", err)
				}
				continue
			}
			if h.ClusterBits < MinClusterBits || h.ClusterBits > MaxClusterBits || uint64(h.L1Size)*8 > MaxL1Bytes {
				t.Fatalf("Check accepted cluster_bits %d, l1_size %d", h.ClusterBits, h.L1Size)
			}
			for _, off := range h.L2Offsets() {
				if off < uint64(len(img)) {
					_ = h.CheckL2(img[off:min(off+uint64(h.ClusterSize()), uint64(len(img)))])
				}
			}
		}
	})
}
