// Package distro builds real Debian bookworm images for the end-to-end tests
// from Debian packages: a root file system made once with mmdebstrap, and
// disk images made from it (a genericcloud-like GPT image, a BYOLinux image).
// Everything is cached outside the clone (DefaultCacheDir), keyed by a hash
// of the recipe, so that fresh clones on the same machine reuse the builds:
//
//	b := distro.Builder{Logger: logger}
//	img, err := b.GPTImage(ctx) // ~20 min the first time, instant after
//	// img.Path is a qcow2; img.RootUUID, img.Kernel describe it
//
// Building needs root, mmdebstrap, e2fsprogs, dosfstools, mtools, gdisk and
// qemu-utils (scripts/install-deps.sh test).
package distro

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

//go:embed files/customize-rootfs.sh
var customizeRootfs string

// Builder builds and caches the images. The zero value works.
type Builder struct {
	// CacheDir holds the cache entries; "" means DefaultCacheDir().
	CacheDir string
	// Recipe of the root file system; a zero Recipe means DefaultRecipe().
	Recipe Recipe
	// Logger reports builds and cache hits; nil discards.
	Logger *slog.Logger
}

// Recipe is what goes into the root file system.
type Recipe struct {
	Suite    string   // e.g. "bookworm"
	Packages []string // installed on top of mmdebstrap's "important" variant
}

// DefaultRecipe is the one union root file system every e2e use shares.
// grub-pc and grub-efi-amd64 conflict, so only the -bin packages are
// installed; the images install the boot loaders themselves.
func DefaultRecipe() Recipe {
	return Recipe{Suite: "bookworm", Packages: []string{
		"linux-image-amd64", "systemd-sysv", "udev", "cloud-init", "cloud-guest-utils", "sudo",
		"grub-efi-amd64-bin", "grub-efi-amd64-signed", "shim-signed", "grub-pc-bin", "grub2-common",
		"openssh-server", "ifupdown", "isc-dhcp-client", "mdadm", "initramfs-tools", "locales",
		"e2fsprogs", "xfsprogs", "btrfs-progs", "dosfstools",
	}}
}

func (b *Builder) dir() string {
	if b.CacheDir != "" {
		return b.CacheDir
	}
	return DefaultCacheDir()
}

func (b *Builder) recipe() Recipe {
	if b.Recipe.Suite == "" {
		return DefaultRecipe()
	}
	return b.Recipe
}

func (b *Builder) log() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// rootfsKey hashes everything that decides the root file system's content.
func (b *Builder) rootfsKey() (string, []string, error) {
	r := b.recipe()
	mirrors, err := hostMirrors(r.Suite)
	if err != nil {
		return "", nil, err
	}
	pkgs := append([]string(nil), r.Packages...)
	sort.Strings(pkgs)
	key := hashKey("rootfs v1", r.Suite, strings.Join(pkgs, ","), strings.Join(mirrors, "\n"), customizeRootfs)
	return key, mirrors, nil
}

// Rootfs returns the directory of the cached root file system, building it
// with mmdebstrap when the cache has none for this recipe. Downloaded
// packages are kept in the cache's debs/ folder, so a rebuild after a recipe
// change does not download them again.
func (b *Builder) Rootfs(ctx context.Context) (string, error) {
	key, mirrors, err := b.rootfsKey()
	if err != nil {
		return "", err
	}
	start := time.Now()
	entry, hit, err := cached(ctx, b.dir(), "rootfs", key, func(tmp string) error {
		b.log().Info("building the Debian root file system with mmdebstrap", "dir", tmp)
		return b.mmdebstrap(ctx, tmp, mirrors)
	})
	if err != nil {
		return "", err
	}
	b.log().Info("rootfs ready", "dir", entry, "cached", hit, "took", time.Since(start).Round(time.Millisecond))
	return filepath.Join(entry, "root"), nil
}

func (b *Builder) mmdebstrap(ctx context.Context, tmp string, mirrors []string) error {
	r := b.recipe()
	debs := filepath.Join(b.dir(), "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	script := filepath.Join(tmp, "customize-rootfs.sh")
	if err := os.WriteFile(script, []byte(customizeRootfs), 0o755); err != nil {
		return err
	}
	args := []string{"--mode=root", "--format=directory", "--variant=important",
		"--include=" + strings.Join(r.Packages, ","),
		"--aptopt=Acquire::Languages \"none\"",
		"--skip=essential/unlink",
		`--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
		"--setup-hook=sync-in " + debs + " /var/cache/apt/archives/",
		"--customize-hook=sync-out /var/cache/apt/archives " + debs,
		"--customize-hook=" + script + ` "$1"`,
		r.Suite, filepath.Join(tmp, "root"),
	}
	args = append(args, mirrors...)
	logf := filepath.Join(tmp, "mmdebstrap.log")
	if err := runLogged(ctx, logf, "mmdebstrap", args...); err != nil {
		return err
	}
	return os.Remove(script)
}

// hostMirrors are apt source lines for suite built from the archive URIs the
// machine itself uses (deb822 .sources or one-line sources.list): the main
// archive for suite and suite-updates, the security archive for
// suite-security.
func hostMirrors(suite string) ([]string, error) {
	var uris []string
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "URIs:"); ok {
				uris = append(uris, strings.Fields(v)...)
			}
		}
	}
	if data, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 1 && f[0] == "deb" {
				for _, x := range f[1:] {
					if strings.Contains(x, "://") {
						uris = append(uris, x)
						break
					}
				}
			}
		}
	}
	var main, security string
	for _, u := range uris {
		switch {
		case strings.Contains(u, "security") && security == "":
			security = u
		case !strings.Contains(u, "security") && main == "":
			main = u
		}
	}
	if main == "" {
		return nil, fmt.Errorf("no Debian archive URI in /etc/apt")
	}
	lines := []string{"deb " + main + " " + suite + " main", "deb " + main + " " + suite + "-updates main"}
	if security != "" {
		lines = append(lines, "deb "+security+" "+suite+"-security main")
	}
	return lines, nil
}

// runLogged runs a command with its output appended to logf; on failure the
// error carries the log's last lines.
func runLogged(ctx context.Context, logf, name string, args ...string) error {
	f, err := os.OpenFile(logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "+ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w (log %s):\n%s", name, err, logf, tail(logf, 30))
	}
	return nil
}

// run runs a command and returns its combined output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
