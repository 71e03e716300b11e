// Package preflight checks, before the installer writes a byte, that an
// image can boot on the machine it is meant for: its partition table (GPT or
// MBR), on UEFI its EFI system partition and the loader the machine will
// start (the efiBootloaderPath given, found case-insensitively as UEFI does,
// or one picked from the ESP when none was given), on legacy BIOS its MBR
// boot code or BIOS boot partition. It reads through an io.ReaderAt over the
// image's virtual disk: the caller passes qcow2 through its L1/L2 map, and
// compressed streams through a Head, the bounded buffer the write then
// consumes.
//
//	res, err := preflight.Check(img, preflight.Config{Firmware: preflight.UEFI, Size: virtualSize})
//	if preflight.KindOf(err) == preflight.LoaderNotFound { … }
//	// res.Loader: the loader as stored on the ESP (picked when res.Picked)
//
// Results and errors are typed (Kind, the loaders found); the words users
// see are chosen by the caller.
package preflight

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/byoi/byoi/initramfs/preflight/fat"
)

// Firmware is how the target machine boots.
type Firmware int

// Firmwares. With FirmwareUnknown only the partition table is checked; the
// ESP's loaders are still listed when there is one.
const (
	FirmwareUnknown Firmware = iota
	UEFI
	BIOS
)

// Config says what to check. The zero value checks the partition table.
type Config struct {
	Firmware Firmware
	// EFIBootloaderPath is the loader asked for (`\efi\debian\grubx64.efi`);
	// empty: pick one from the ESP.
	EFIBootloaderPath string
	// Arch is the UEFI architecture suffix of loader names: "x64" (the
	// default) or "aa64".
	Arch string
	// Size is the image's virtual size in bytes, 0 when not known yet (a
	// compressed stream).
	Size int64
}

// Result describes what the checks found.
type Result struct {
	Table Table
	// ESP is the number of the partition holding Loader (or the first ESP).
	ESP int
	// Loaders are the .efi files found under \EFI (two levels, and
	// \EFI\Microsoft\Boot), as stored, the pickable ones first in the order
	// they would be picked; at most maxListed.
	Loaders []string
	// Loader is the UEFI loader the machine will start, spelled as stored
	// on the ESP: the efiBootloaderPath given, or the one picked.
	Loader string
	// Picked reports that Loader was picked because none was given.
	Picked bool
	// BIOSBootable: boot code in the MBR or a BIOS boot partition.
	BIOSBootable bool
}

const (
	maxListed   = 12  // loaders named in results and errors
	maxScanned  = 512 // directory entries looked at under \EFI
	maxVendored = 64  // vendor directories under \EFI looked into
)

// Check runs the checks for c on the image r.
func Check(r io.ReaderAt, c Config) (Result, error) {
	if c.Arch == "" {
		c.Arch = "x64"
	}
	var res Result
	t, err := ReadTable(r, c.Size)
	if err != nil {
		return res, classify(err, BadPartitionTable, 0)
	}
	res.Table = t
	res.BIOSBootable = t.BootCode
	for _, p := range t.Partitions {
		res.BIOSBootable = res.BIOSBootable || p.BIOSBoot()
	}
	switch c.Firmware {
	case BIOS:
		if !res.BIOSBootable {
			return res, &Error{Kind: NotBIOSBootable}
		}
		return res, nil
	case UEFI:
		return res, checkUEFI(r, c, &res)
	}
	if err := checkUEFI(r, c, &res); err != nil && KindOf(err) == NeedsMore {
		return res, err
	}
	return res, nil
}

// esp is an EFI system partition (or a FAT partition standing in for one)
// and its open file system.
type esp struct {
	part Partition
	fs   *fat.FS
}

func checkUEFI(r io.ReaderAt, c Config, res *Result) error {
	esps, err := openESPs(r, res.Table)
	if err != nil {
		return err
	}
	if len(esps) == 0 {
		return &Error{Kind: NoESP}
	}
	res.ESP = esps[0].part.Number
	var all []candidate
	for _, e := range esps {
		found, err := loaders(e, c.Arch)
		if err != nil {
			return classify(err, BadESP, e.part.Number)
		}
		all = append(all, found...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].rank < all[j].rank })
	for _, l := range all[:min(len(all), maxListed)] {
		res.Loaders = append(res.Loaders, l.path)
	}
	if c.EFIBootloaderPath != "" {
		for _, e := range esps {
			trail, err := e.fs.Resolve(c.EFIBootloaderPath)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return classify(err, BadESP, e.part.Number)
			}
			if len(trail) > 0 && !trail[len(trail)-1].Dir {
				res.ESP, res.Loader = e.part.Number, storedPath(trail)
				return nil
			}
		}
		return &Error{Kind: LoaderNotFound, Path: c.EFIBootloaderPath, Loaders: res.Loaders}
	}
	if len(all) == 0 || all[0].rank == rankOther {
		return &Error{Kind: NoLoader, Loaders: res.Loaders}
	}
	res.ESP, res.Loader, res.Picked = all[0].esp, all[0].path, true
	return nil
}

// openESPs opens the partitions typed as ESP; when there are none, the FAT
// partitions that hold an \EFI directory (firmware boots those too). An ESP
// whose file system cannot be read is an error; another FAT partition is
// skipped.
func openESPs(r io.ReaderAt, t Table) ([]esp, error) {
	var out []esp
	for _, p := range t.Partitions {
		if !p.ESP() {
			continue
		}
		f, err := fat.Open(io.NewSectionReader(r, p.Start, p.Size), p.Size)
		if err != nil {
			return nil, classify(err, BadESP, p.Number)
		}
		out = append(out, esp{p, f})
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, p := range t.Partitions {
		if !p.maybeFAT() {
			continue
		}
		f, err := fat.Open(io.NewSectionReader(r, p.Start, p.Size), p.Size)
		if err != nil {
			if k := classify(err, BadESP, p.Number); KindOf(k) == NeedsMore || KindOf(k) == ReadFailed {
				return nil, k
			}
			continue
		}
		if e, err := f.Lookup(`\EFI`); err == nil && e.Dir {
			out = append(out, esp{p, f})
		}
	}
	return out, nil
}

// classify turns an error met while reading into an *Error: reads beyond a
// Head are NeedsMore, other read failures ReadFailed, anything else kind.
func classify(err error, kind Kind, part int) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, ErrBeyondHead):
		return &Error{Kind: NeedsMore, Partition: part, Err: err}
	case errors.Is(err, errNoTable):
		return &Error{Kind: NoPartitionTable}
	case errors.Is(err, errBadTable), errors.Is(err, fat.ErrCorrupt), errors.Is(err, fat.ErrNotFAT),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Kind: kind, Partition: part, Err: err}
	}
	return &Error{Kind: ReadFailed, Partition: part, Err: fmt.Errorf("%w", err)}
}

func storedPath(trail []fat.Entry) string {
	var sb strings.Builder
	for _, e := range trail {
		sb.WriteString(`\` + e.Name)
	}
	return sb.String()
}
