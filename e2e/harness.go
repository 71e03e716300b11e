// Package e2e holds byoi's end-to-end tests: real firmware (OVMF, SeaBIOS),
// real iPXE, the real installer and the real `byoi serve` binary, with QEMU
// under TCG on a tap device inside a network namespace the test creates
// (addresses from 198.51.100.0/24 only).
//
// Run it through `make e2e` (or `make test`), which builds bin/byoi,
// bin/boot (iPXE binaries, kernel, installer initramfs) and fetches OVMF first.
// BYOI_ROOT points at the repository; BYOI_INTEGRATION=1 turns a missing
// prerequisite (root, QEMU, built files) into a failure instead of a skip.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Harness locates the built pieces and the shared fixtures.
type Harness struct {
	Root       string // repository root
	Byoi       string // bin/byoi
	Boot       string // bin/boot: what byoi serves to machines
	Kernel     string // the Debian kernel (also used by the test images)
	ModulesDir string // its modules
	OVMFCode   string
	OVMFVars   string
	Artifacts  string // serial logs and server logs of this run

	fixOnce sync.Once
	fix     *Fixtures
	fixErr  error

	timingsMu sync.Mutex
	timings   map[string][]string
}

func newHarness() (*Harness, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("not root: network namespaces and tap devices need root")
	}
	root := os.Getenv("BYOI_ROOT")
	if root == "" {
		wd, _ := os.Getwd()
		root = filepath.Dir(wd)
	}
	h := &Harness{
		Root:     root,
		Byoi:     filepath.Join(root, "bin", "byoi"),
		Boot:     filepath.Join(root, "bin", "boot"),
		Kernel:   filepath.Join(root, "third_party", "linux", "vmlinuz"),
		OVMFCode: filepath.Join(root, "third_party", "ovmf", "OVMF_CODE_4M.fd"),
		OVMFVars: filepath.Join(root, "third_party", "ovmf", "OVMF_VARS_4M.fd"),
		timings:  map[string][]string{},
	}
	mods, _ := filepath.Glob(filepath.Join(root, "third_party", "linux", "lib", "modules", "*"))
	if len(mods) == 0 {
		return nil, fmt.Errorf("no kernel modules under third_party/linux/lib/modules: run `make build`")
	}
	h.ModulesDir = mods[0]
	for _, p := range []string{h.Byoi, h.Kernel, h.OVMFCode, h.OVMFVars,
		filepath.Join(h.Boot, "ipxe.efi"), filepath.Join(h.Boot, "undionly.kpxe"),
		filepath.Join(h.Boot, "vmlinuz"), filepath.Join(h.Boot, "initrd.img"), filepath.Join(h.Boot, "tools.img")} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("missing %s: run `make build` and `make e2e`", p)
		}
	}
	for _, tool := range []string{"ip", "qemu-system-x86_64", "qemu-img", "sgdisk", "sfdisk", "mkfs.fat", "mcopy", "syslinux", "objcopy", "dnsmasq"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("missing tool %s: run scripts/install-deps.sh test", tool)
		}
	}
	h.Artifacts = filepath.Join(root, "e2e", "artifacts", time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(h.Artifacts, 0o755); err != nil {
		return nil, err
	}
	return h, nil
}

// Fixtures builds the test images once per run.
func (h *Harness) Fixtures(t *testing.T) *Fixtures {
	t.Helper()
	h.fixOnce.Do(func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		dir := filepath.Join(h.Artifacts, "fixtures")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			h.fixErr = err
			return
		}
		h.fix, h.fixErr = buildFixtures(ctx, h, dir)
		t.Logf("fixtures built in %s", time.Since(start).Round(time.Millisecond))
	})
	if h.fixErr != nil {
		t.Fatalf("building test images: %v", h.fixErr)
	}
	return h.fix
}

// Timing records how long a stage of a flow took, for the summary.
func (h *Harness) Timing(flow, stage string, d time.Duration) {
	h.timingsMu.Lock()
	defer h.timingsMu.Unlock()
	h.timings[flow] = append(h.timings[flow], fmt.Sprintf("%s %.1fs", stage, d.Seconds()))
}

func (h *Harness) printTimings() {
	h.timingsMu.Lock()
	defer h.timingsMu.Unlock()
	if len(h.timings) == 0 {
		return
	}
	flows := make([]string, 0, len(h.timings))
	for f := range h.timings {
		flows = append(flows, f)
	}
	sort.Strings(flows)
	fmt.Println("== e2e stage timings (seconds from the start of each VM run) ==")
	for _, f := range flows {
		fmt.Printf("%-28s %s\n", f, strings.Join(h.timings[f], " | "))
	}
}
