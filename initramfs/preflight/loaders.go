package preflight

import (
	"errors"
	"io/fs"
	"sort"
	"strings"
)

// Ranks of loaders, in the order they are picked when no efiBootloaderPath
// is given: shim (it chains the distribution's signed loader), then the
// distribution's own GRUB, systemd-boot or Windows Boot Manager, then the
// removable-media path every firmware tries, then anything else (listed,
// never picked).
const (
	rankShim = iota
	rankDistro
	rankRemovable
	rankOther
)

type candidate struct {
	path string
	rank int
	esp  int
}

// loaders lists the .efi files of an ESP: \EFI\<dir>\*.efi and
// \EFI\Microsoft\Boot\*.efi, ranked for arch ("x64", "aa64").
func loaders(e esp, arch string) ([]candidate, error) {
	top, err := e.fs.Resolve(`\EFI`)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !top[0].Dir {
		return nil, nil
	}
	dirs, err := e.fs.ReadDir(`\EFI`)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(dirs, func(i, j int) bool { return strings.ToLower(dirs[i].Name) < strings.ToLower(dirs[j].Name) })
	var out []candidate
	scanned, vendors := 0, 0
	for _, d := range dirs {
		if !d.Dir || !safeName(d.Name) {
			continue
		}
		if vendors++; vendors > maxVendored {
			break
		}
		sub := []string{`\` + top[0].Name + `\` + d.Name}
		if strings.EqualFold(d.Name, "Microsoft") {
			if b, err := e.fs.Resolve(sub[0] + `\Boot`); err == nil && b[len(b)-1].Dir {
				sub = append(sub, sub[0]+`\`+b[len(b)-1].Name)
			}
		}
		for _, dir := range sub {
			files, err := e.fs.ReadDir(dir)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				if scanned++; scanned > maxScanned {
					return out, nil
				}
				if f.Dir || !safeName(f.Name) || !strings.HasSuffix(strings.ToLower(f.Name), ".efi") {
					continue
				}
				out = append(out, candidate{path: dir + `\` + f.Name, rank: rank(d.Name, f.Name, arch), esp: e.part.Number})
			}
		}
	}
	return out, nil
}

// rank places a loader \EFI\<vendor>\<file> in the pick order.
func rank(vendor, file, arch string) int {
	v, f := strings.ToLower(vendor), strings.ToLower(file)
	switch {
	case v == "boot" && f == "boot"+arch+".efi":
		return rankRemovable
	case v == "boot":
		return rankOther
	case f == "shim"+arch+".efi":
		return rankShim
	case f == "grub"+arch+".efi", f == "systemd-boot"+arch+".efi", v == "microsoft" && f == "bootmgfw.efi":
		return rankDistro
	}
	return rankOther
}

// safeName keeps names that can be written as an efiBootloaderPath (and
// so be handed to iPXE): printable ASCII without separators (iPXE escapes it).
func safeName(n string) bool {
	if n == "" || n == "." || n == ".." {
		return false
	}
	for _, r := range n {
		if r < 0x20 || r > 0x7e || r == '\\' || r == '/' {
			return false
		}
	}
	return true
}
