package disk

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// byPathLinks maps kernel names to the /dev/disk/by-path links that resolve
// to them. A missing directory (no udev in the initramfs) yields nothing.
func byPathLinks(devRoot string) map[string][]string {
	out := map[string][]string{}
	dir := filepath.Join(devRoot, "disk", "by-path")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		link := filepath.Join(dir, e.Name())
		target, err := os.Readlink(link)
		if err != nil {
			continue
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		name := filepath.Base(target)
		out[name] = append(out[name], link)
	}
	for _, links := range out {
		slices.Sort(links)
	}
	return out
}

// vpdSerial reads the unit serial number from a SCSI VPD page 0x80 (SATA
// and SAS disks have no plain serial attribute): a 4-byte header whose last
// byte is the length, then the serial in ASCII.
func vpdSerial(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "device", "vpd_pg80"))
	if err != nil || len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(b[3])
	if 4+n > len(b) {
		n = len(b) - 4
	}
	return strings.TrimSpace(strings.Trim(string(b[4:4+n]), "\x00"))
}

func readTrim(dir, rel string) string {
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.Trim(string(b), "\x00"))
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// driverPrefixes are the kernel's disk name stems; names are grouped by
// stem (alphabetically) before the rest is compared.
var driverPrefixes = []string{"mmcblk", "nvme", "xvd", "hd", "sd", "vd"}

// sortNatural orders disks by name: grouped by driver stem, then comparing
// digit runs as numbers and letter runs shorter-first, so sdz < sdaa and
// nvme2n1 < nvme10n1.
func sortNatural(disks []Disk) {
	slices.SortStableFunc(disks, func(a, b Disk) int { return diskNameCompare(a.Name, b.Name) })
}

func diskNameCompare(a, b string) int {
	pa, pb := stem(a), stem(b)
	if c := strings.Compare(pa, pb); c != 0 {
		return c
	}
	return naturalCompare(a[len(pa):], b[len(pb):])
}

func stem(name string) string {
	for _, p := range driverPrefixes {
		if strings.HasPrefix(name, p) {
			return p
		}
	}
	return ""
}

func naturalCompare(a, b string) int {
	ra, rb := runs(a), runs(b)
	for i := 0; i < len(ra) && i < len(rb); i++ {
		x, y := ra[i], rb[i]
		xd, yd := isDigit(x[0]), isDigit(y[0])
		switch {
		case xd && yd:
			xs, ys := strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
			if len(xs) != len(ys) {
				return len(xs) - len(ys)
			}
			if c := strings.Compare(xs, ys); c != 0 {
				return c
			}
		case xd != yd:
			if xd {
				return -1
			}
			return 1
		default:
			if len(x) != len(y) {
				return len(x) - len(y)
			}
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	if c := len(ra) - len(rb); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// runs splits s into maximal runs of digits and of non-digits.
func runs(s string) []string {
	var out []string
	start := 0
	for i := 1; i <= len(s); i++ {
		if i == len(s) || isDigit(s[i]) != isDigit(s[i-1]) {
			out = append(out, s[start:i])
			start = i
		}
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
