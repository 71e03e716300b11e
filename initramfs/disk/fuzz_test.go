package disk

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// seedGPT builds a small valid GPT disk (512-byte sectors, 128 entries) with
// one partition, without external tools, as a fuzz seed.
func seedGPT(sectors int64) []byte {
	const ss = 512
	img := make([]byte, sectors*ss)
	le := binary.LittleEndian
	mbr := img[:ss]
	mbr[mbrTableOff+4] = mbrProtective
	le.PutUint32(mbr[mbrTableOff+8:], 1)
	le.PutUint32(mbr[mbrTableOff+12:], uint32(sectors-1))
	mbr[510], mbr[511] = 0x55, 0xaa
	entries := img[2*ss : 34*ss]
	typ, _ := parseGUID(LinuxFilesystemGUID)
	copy(entries[0:], typ[:])
	entries[16] = 1
	le.PutUint64(entries[32:], 34)
	le.PutUint64(entries[40:], 40)
	h := img[ss : 2*ss]
	copy(h, gptSignature)
	le.PutUint32(h[8:], 0x00010000)
	le.PutUint32(h[12:], 92)
	le.PutUint64(h[24:], 1)
	le.PutUint64(h[32:], uint64(sectors-1))
	le.PutUint64(h[40:], 34)
	le.PutUint64(h[48:], uint64(sectors-34))
	le.PutUint64(h[72:], 2)
	le.PutUint32(h[80:], 128)
	le.PutUint32(h[84:], 128)
	le.PutUint32(h[88:], crc32.ChecksumIEEE(entries))
	le.PutUint32(h[16:], headerCRC(h[:92]))
	return img
}

func seedMBR() []byte {
	img := make([]byte, 4096)
	e := img[mbrTableOff:]
	e[4] = mbrLinux
	binary.LittleEndian.PutUint32(e[8:], 2)
	binary.LittleEndian.PutUint32(e[12:], 4)
	img[510], img[511] = 0x55, 0xaa
	return img
}

func TestSeedGPTValid(t *testing.T) {
	g, err := readGPT(bytes.NewReader(seedGPT(80)), 512, 80)
	if err != nil || g == nil {
		t.Fatalf("readGPT(seed) = %v, %v, want a table", g, err)
	}
	if got := g.parts(); len(got) != 1 || got[0].first != 34 || got[0].last != 40 {
		t.Errorf("readGPT(seed).parts() = %+v, want one partition 34-40", got)
	}
}

// FuzzTables feeds arbitrary bytes to the GPT and MBR parsers: they must
// never panic or over-allocate, and whatever they accept must satisfy the
// invariants the writers rely on.
func FuzzTables(f *testing.F) {
	f.Add(seedGPT(80))
	f.Add(seedMBR())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sectors := int64(len(data) / 512)
		if g, err := readGPT(bytes.NewReader(data), 512, sectors); err == nil && g != nil {
			if len(g.entries) > gptMaxEntryLen || g.firstUse > g.lastUse {
				t.Fatalf("readGPT accepted an invalid layout: %+v", g)
			}
			parts := g.parts()
			for i, p := range parts {
				if p.first > p.last || p.first < g.firstUse || p.last > g.lastUse {
					t.Fatalf("readGPT accepted partition %+v outside %d-%d", p, g.firstUse, g.lastUse)
				}
				for _, q := range parts[:i] {
					if p.first <= q.last && q.first <= p.last {
						t.Fatalf("readGPT accepted overlapping partitions %+v %+v", p, q)
					}
				}
			}
			primary, _ := g.encode()
			// The primary header alone, on a 2-sector disk, points at entries beyond it.
			if _, err := readGPT(bytes.NewReader(append(make([]byte, 512), primary...)), 512, 2); err == nil {
				t.Fatalf("readGPT accepted a header whose entries lie beyond the disk")
			}
		}
		if _, entries, ok, err := readMBR(bytes.NewReader(data)); err == nil && ok {
			if validateMBR(entries, sectors) == nil {
				for _, e := range entries {
					if e.used() && e.end() > uint64(sectors) {
						t.Fatalf("validateMBR accepted %+v beyond %d sectors", e, sectors)
					}
				}
			}
		}
	})
}
