package fat

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Entry is a directory entry.
type Entry struct {
	Name    string // long name if it has a valid one, else the 8.3 name
	Short   string // the 8.3 name, e.g. "BOOTX64.EFI"
	Dir     bool
	Size    uint32
	Cluster uint32 // first cluster (0 for an empty file)
}

const (
	attrVolume = 0x08
	attrDir    = 0x10
	attrLFN    = 0x0f
)

// parseDir decodes a raw directory. Deleted entries, volume labels, "." and
// ".." are left out; long names whose checksum or sequence does not match
// their short entry are ignored (as FAT drivers do).
func parseDir(raw []byte) []Entry {
	var out []Entry
	var lfn []uint16 // UTF-16 units in order, assembled from the end
	want, sum := 0, byte(0)
	for off := 0; off+32 <= len(raw); off += 32 {
		e := raw[off : off+32]
		switch {
		case e[0] == 0x00:
			return out
		case e[0] == 0xe5:
			want = 0
			continue
		case e[11]&0x3f == attrLFN:
			seq := int(e[0] & 0x1f)
			if e[0]&0x40 != 0 {
				if seq == 0 || seq > 20 {
					want = 0
					continue
				}
				lfn, want, sum = make([]uint16, seq*13), seq, e[13]
			} else if want == 0 || seq != want || e[13] != sum {
				want = 0
				continue
			}
			units := lfnUnits(e)
			copy(lfn[(seq-1)*13:], units[:])
			want = seq - 1
			if want == 0 {
				want = -1 // complete: the next entry must be its short entry
			}
			continue
		}
		long := ""
		if want == -1 && shortSum(e[:11]) == sum {
			long = decodeLFN(lfn)
		}
		want = 0
		if e[11]&attrVolume != 0 {
			continue
		}
		short := shortName(e)
		if short == "." || short == ".." {
			continue
		}
		le := binary.LittleEndian
		ent := Entry{Name: short, Short: short, Dir: e[11]&attrDir != 0, Size: le.Uint32(e[28:]),
			Cluster: uint32(le.Uint16(e[20:]))<<16 | uint32(le.Uint16(e[26:]))}
		if long != "" {
			ent.Name = long
		}
		out = append(out, ent)
	}
	return out
}

func lfnUnits(e []byte) [13]uint16 {
	var u [13]uint16
	le := binary.LittleEndian
	for i, off := range [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
		u[i] = le.Uint16(e[off:])
	}
	return u
}

// decodeLFN ends the name at the first NUL (the rest is 0xFFFF padding).
func decodeLFN(units []uint16) string {
	for i, u := range units {
		if u == 0 {
			units = units[:i]
			break
		}
	}
	return string(utf16.Decode(units))
}

// shortSum is the checksum long-name entries carry of their short name.
func shortSum(name []byte) byte {
	var s byte
	for _, c := range name {
		s = (s&1)<<7 + s>>1 + c
	}
	return s
}

// shortName renders an 8.3 entry, honouring the lower-case flags that
// Windows (and mkfs/mtools) set in byte 12 instead of writing a long name.
func shortName(e []byte) string {
	base := strings.TrimRight(string(e[0:8]), " ")
	ext := strings.TrimRight(string(e[8:11]), " ")
	if len(base) > 0 && base[0] == 0x05 {
		base = "\xe5" + base[1:]
	}
	if e[12]&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if e[12]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return sanitize(base)
	}
	return sanitize(base + "." + ext)
}

// sanitize replaces bytes outside printable ASCII (OEM code pages are not
// decoded) so that names are always valid UTF-8.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// ReadDir lists the directory at path (`\`, `\EFI\debian`, or with
// slashes), matching each component case-insensitively.
func (f *FS) ReadDir(path string) ([]Entry, error) {
	_, entries, err := f.walk(splitPath(path), path)
	return entries, err
}

// walk follows dirs from the root and returns their entries as stored and
// the entries of the last one.
func (f *FS) walk(dirs []string, path string) ([]Entry, []Entry, error) {
	raw, err := f.rootDir()
	if err != nil {
		return nil, nil, err
	}
	entries := parseDir(raw)
	var trail []Entry
	for _, comp := range dirs {
		e, ok := find(entries, comp)
		if !ok || !e.Dir {
			return nil, nil, errNotExist(path)
		}
		if e.Cluster == 0 { // a directory pointing at the root (as ".." does) or nothing
			return nil, nil, fmt.Errorf("%w: directory %q has no cluster", ErrCorrupt, e.Name)
		}
		if raw, err = f.readChain(e.Cluster); err != nil {
			return nil, nil, err
		}
		trail = append(trail, e)
		entries = parseDir(raw)
	}
	return trail, entries, nil
}

// Lookup finds the file or directory at path, case-insensitively; the
// returned entry carries the name as stored.
func (f *FS) Lookup(path string) (Entry, error) {
	trail, err := f.Resolve(path)
	if err != nil {
		return Entry{}, err
	}
	if len(trail) == 0 {
		return Entry{Name: `\`, Dir: true}, nil
	}
	return trail[len(trail)-1], nil
}

// Resolve returns the entry of every component of path, as stored (their
// names give the path's on-disk spelling); the root alone gives none.
func (f *FS) Resolve(path string) ([]Entry, error) {
	comps := splitPath(path)
	if len(comps) == 0 {
		return nil, nil
	}
	trail, entries, err := f.walk(comps[:len(comps)-1], path)
	if err != nil {
		return nil, err
	}
	e, ok := find(entries, comps[len(comps)-1])
	if !ok {
		return nil, errNotExist(path)
	}
	return append(trail, e), nil
}

func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '\\' || r == '/' })
}

// find matches a name against long and short names without regard to case.
func find(entries []Entry, name string) (Entry, bool) {
	for _, e := range entries {
		if strings.EqualFold(e.Name, name) || strings.EqualFold(e.Short, name) {
			return e, true
		}
	}
	return Entry{}, false
}
