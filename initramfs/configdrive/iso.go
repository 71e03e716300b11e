package configdrive

import (
	"encoding/binary"
	"slices"
	"strings"
)

const isoBlock = 2048

// Rock Ridge "ER" texts (RRIP 1.10, the variant Linux, isoinfo and
// libisofs all recognise).
const (
	rrID     = "RRIP_1991A"
	rrDesc   = "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
	rrSource = "BYOI CONFIG DRIVE WRITER"
)

// ISO renders the drive as an ISO9660 image labelled config-2. ISO names
// are 8.3 d-characters; the real names are Rock Ridge NM entries, which the
// Linux iso9660 driver uses by default.
func ISO(c Config) ([]byte, error) {
	root, dirs, err := shortNamedTree(c, isoName)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		slices.SortStableFunc(d.children, func(a, b *node) int { return strings.Compare(a.short, b.short) })
	}
	dirs = root.dirsBreadthFirst() // again: sorted children give the path table order
	for i, d := range dirs {
		d.num = i + 1
	}
	sizing, _ := pathTables(dirs) // extents are not known yet, only the size matters
	ptBlocks := blocks(len(sizing))
	next := uint32(18 + 2*ptBlocks)
	for _, d := range dirs {
		d.size = uint32(len(dirExtent(d)))
		d.lba = next
		next += uint32(blocks(int(d.size)))
	}
	var filesInOrder []*node
	for _, d := range dirs {
		for _, c := range d.children {
			if !c.dir {
				c.size = uint32(len(c.data))
				c.lba = next
				next += uint32(blocks(len(c.data)))
				filesInOrder = append(filesInOrder, c)
			}
		}
	}
	img := make([]byte, int(next)*isoBlock)
	lpt, mpt := pathTables(dirs) // now with extents
	writePVD(img[16*isoBlock:], next, len(lpt), 18, uint32(18+ptBlocks), root)
	term := img[17*isoBlock:]
	term[0] = 255
	copy(term[1:], "CD001")
	term[6] = 1
	copy(img[18*isoBlock:], lpt)
	copy(img[(18+ptBlocks)*isoBlock:], mpt)
	for _, d := range dirs {
		copy(img[int(d.lba)*isoBlock:], dirExtent(d))
	}
	for _, f := range filesInOrder {
		copy(img[int(f.lba)*isoBlock:], f.data)
	}
	return img, nil
}

func isoName(name string, dir bool, attempt int) string {
	dchar := func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' }
	base, ext := mangle(name, dir, attempt, 8, 3, dchar)
	if dir {
		return base
	}
	return base + "." + ext + ";1"
}

func blocks(n int) int { return (n + isoBlock - 1) / isoBlock }

func both16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func both32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

func padded(s string, n int) []byte {
	return []byte(s + strings.Repeat(" ", n-len(s)))
}

func writePVD(b []byte, volBlocks uint32, ptSize int, lptLBA, mptLBA uint32, root *node) {
	b[0] = 1
	copy(b[1:], "CD001")
	b[6] = 1
	copy(b[8:], padded("LINUX", 32))
	copy(b[40:], padded(Label, 32))
	both32(b[80:], volBlocks)
	both16(b[120:], 1)
	both16(b[124:], 1)
	both16(b[128:], isoBlock)
	both32(b[132:], uint32(ptSize))
	binary.LittleEndian.PutUint32(b[140:], lptLBA)
	binary.BigEndian.PutUint32(b[148:], mptLBA)
	copy(b[156:], dirRecord(root, []byte{0}, nil))
	copy(b[190:], padded("", 128))                  // volume set
	copy(b[318:], padded("", 128))                  // publisher
	copy(b[446:], padded("", 128))                  // data preparer
	copy(b[574:], padded("BYOI", 128))              // application
	copy(b[702:], padded("", 37*3))                 // copyright, abstract, bibliographic files
	for _, off := range []int{813, 830, 847, 864} { // created, modified, expires, effective
		copy(b[off:], "0000000000000000")
	}
	copy(b[813:], stamp.Format("20060102150405")+"00")
	copy(b[830:], stamp.Format("20060102150405")+"00")
	b[881] = 1
}

// dirRecord encodes a directory record for n with the given identifier and
// system use bytes (Rock Ridge entries).
func dirRecord(n *node, id, su []byte) []byte {
	l := 33 + len(id)
	if l%2 == 1 {
		l++
	}
	rec := make([]byte, l+len(su)+len(su)%2)
	rec[0] = byte(len(rec))
	both32(rec[2:], n.lba)
	both32(rec[10:], n.size)
	rec[18], rec[19], rec[20] = byte(stamp.Year()-1900), byte(stamp.Month()), byte(stamp.Day())
	if n.dir {
		rec[25] = 2
	}
	both16(rec[28:], 1)
	rec[32] = byte(len(id))
	copy(rec[33:], id)
	copy(rec[l:], su)
	return rec
}

// dirExtent encodes the records of directory d: ".", "..", then children,
// never letting a record cross a block boundary.
func dirExtent(d *node) []byte {
	parent := d.parent
	if parent == nil {
		parent = d
	}
	selfSU := px(true)
	if d.parent == nil {
		selfSU = append(append([]byte{'S', 'P', 7, 1, 0xbe, 0xef, 0}, selfSU...), er()...)
	}
	recs := [][]byte{dirRecord(d, []byte{0}, selfSU), dirRecord(parent, []byte{1}, px(true))}
	for _, c := range d.children {
		nm := append([]byte{'N', 'M', byte(5 + len(c.name)), 1, 0}, c.name...)
		recs = append(recs, dirRecord(c, []byte(c.short), append(nm, px(c.dir)...)))
	}
	var out []byte
	for _, r := range recs {
		if room := isoBlock - len(out)%isoBlock; len(r) > room {
			out = append(out, make([]byte, room)...)
		}
		out = append(out, r...)
	}
	return append(out, make([]byte, blocks(len(out))*isoBlock-len(out))...)
}

// px is a Rock Ridge POSIX attributes entry: read-only files and directories.
func px(dir bool) []byte {
	b := make([]byte, 36)
	copy(b, []byte{'P', 'X', 36, 1})
	mode, links := uint32(0o100444), uint32(1)
	if dir {
		mode, links = 0o040555, 2
	}
	both32(b[4:], mode)
	both32(b[12:], links)
	return b
}

func er() []byte {
	b := []byte{'E', 'R', byte(8 + len(rrID) + len(rrDesc) + len(rrSource)), 1, byte(len(rrID)), byte(len(rrDesc)), byte(len(rrSource)), 1}
	return append(append(append(b, rrID...), rrDesc...), rrSource...)
}

// pathTables returns the little- and big-endian path tables.
func pathTables(dirs []*node) (l, m []byte) {
	for _, d := range dirs {
		id, parent := []byte(d.short), 1
		if d.parent == nil {
			id = []byte{0}
		} else {
			parent = d.parent.num
		}
		rec := make([]byte, 8+len(id)+len(id)%2)
		rec[0] = byte(len(id))
		copy(rec[8:], id)
		lr, mr := rec, slices.Clone(rec)
		binary.LittleEndian.PutUint32(lr[2:], d.lba)
		binary.LittleEndian.PutUint16(lr[6:], uint16(parent))
		binary.BigEndian.PutUint32(mr[2:], d.lba)
		binary.BigEndian.PutUint16(mr[6:], uint16(parent))
		l, m = append(l, lr...), append(m, mr...)
	}
	return l, m
}
