package agent

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/byoi/byoi/initramfs/kmod"
)

// moduleLoader loads kernel modules of one release, with their
// dependencies, by name or by the modaliases of the devices present
// (what udev's coldplug does on a full system).
type moduleLoader struct {
	dir     string // /lib/modules/<release>
	deps    kmod.Deps
	aliases []kmod.Alias
	builtin map[string]bool
	tried   map[string]bool // module files already given to the kernel
	log     *slog.Logger
	// load gives one module file to the kernel; "already loaded" is nil.
	load func(path string) error
}

// newModuleLoader reads the index files of dir (/lib/modules/<release>).
func newModuleLoader(dir string, load func(string) error, log *slog.Logger) (*moduleLoader, error) {
	m := &moduleLoader{dir: dir, tried: map[string]bool{}, log: log, load: load}
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("kernel modules: %w", err)
	}
	defer f.Close()
	if m.deps, err = kmod.ParseDep(f); err != nil {
		return nil, fmt.Errorf("kernel modules: %w", err)
	}
	if a, err := os.Open(filepath.Join(dir, "modules.alias")); err == nil {
		m.aliases, err = kmod.ParseAlias(a)
		a.Close()
		if err != nil {
			return nil, fmt.Errorf("kernel modules: %w", err)
		}
	}
	if b, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		m.builtin, err = kmod.ParseBuiltin(b)
		b.Close()
		if err != nil {
			return nil, fmt.Errorf("kernel modules: %w", err)
		}
	}
	return m, nil
}

// modulesDir picks /lib/modules/<release> under root: the running kernel's
// release when present, else the only folder there.
func modulesDir(root, release string) (string, error) {
	if fi, err := os.Stat(filepath.Join(root, release)); err == nil && fi.IsDir() {
		return filepath.Join(root, release), nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("kernel modules: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) != 1 {
		return "", fmt.Errorf("kernel modules: no folder for release %s in %s (found %v)", release, root, dirs)
	}
	return filepath.Join(root, dirs[0]), nil
}

// Load loads the named modules and their dependencies; it returns how many
// module files it handed to the kernel. Unknown names are logged, not fatal.
func (m *moduleLoader) Load(names ...string) int {
	n := 0
	for _, name := range names {
		if m.builtin[kmod.Name(name)] {
			continue
		}
		paths, err := m.deps.Closure([]string{name})
		if err != nil {
			m.log.Warn("cannot load module", "module", name, "err", err)
			continue
		}
		for _, p := range paths {
			if m.tried[p] {
				continue
			}
			m.tried[p] = true
			n++
			if err := m.load(filepath.Join(m.dir, filepath.FromSlash(p))); err != nil {
				m.log.Warn("module load failed", "module", kmod.Name(p), "err", err)
			} else {
				m.log.Debug("module loaded", "module", kmod.Name(p))
			}
		}
	}
	return n
}

// Coldplug loads the modules whose aliases match a device under
// sysRoot/bus/*/devices/*/modalias; it returns how many it loaded. Call it
// again until it returns 0: new buses (virtio, scsi) appear as drivers load.
func (m *moduleLoader) Coldplug(sysRoot string) int {
	files, _ := filepath.Glob(filepath.Join(sysRoot, "bus", "*", "devices", "*", "modalias"))
	want := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, mod := range kmod.Match(m.aliases, string(b)) {
			want[mod] = true
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	return m.Load(names...)
}
