package lifecycle_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/byoi/byoi/store"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fixture is a lifecycle over a real store with a settable clock.
type fixture struct {
	t     *testing.T
	st    *store.Store
	lc    *lifecycle.Lifecycle
	mu    sync.Mutex
	now   time.Time
	ended []boot.Task
}

func newFixture(t *testing.T, mod ...func(*lifecycle.Config)) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, now: t0}
	cfg := lifecycle.Config{
		InstallerTimeout: 10 * time.Minute,
		Now:              f.clock,
		OnEnd: func(tk boot.Task) {
			f.mu.Lock()
			f.ended = append(f.ended, tk)
			f.mu.Unlock()
		},
	}
	for _, m := range mod {
		m(&cfg)
	}
	f.lc = lifecycle.New(st, cfg)
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) machine(name, mac string) {
	f.t.Helper()
	if _, err := f.st.CreateMachine(context.Background(), boot.Machine{Name: name, MACs: []string{mac}}); err != nil {
		f.t.Fatal(err)
	}
}

var spec = boot.InstallSpec{ImageURL: "https://img.example/debian.raw", ImageType: "raw",
	HTTPHeaders: map[string]string{"Authorization": "Basic c2VjcmV0"}}

func (f *fixture) create(name string) boot.Task {
	f.t.Helper()
	t, err := f.lc.Create(context.Background(), name, spec, "")
	if err != nil {
		f.t.Fatalf("Create(%s) = %v", name, err)
	}
	return t
}

// boot boots mac and returns the result.
func (f *fixture) boot(mac string) lifecycle.BootResult {
	f.t.Helper()
	res, err := f.lc.Boot(context.Background(), lifecycle.BootRequest{MAC: mac, Client: "efi/x86_64", Source: "198.51.100.9"})
	if err != nil {
		f.t.Fatalf("Boot(%s) = %v", mac, err)
	}
	return res
}

func (f *fixture) task(id int64) boot.Task {
	f.t.Helper()
	t, err := f.st.Task(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return t
}

func TestCreateRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.machine("web-1", "52:54:00:00:00:01")
	if _, err := f.st.UpdateMachine(ctx, "web-1", func(m *boot.Machine) error {
		m.DiskGroups = map[int]boot.DiskHints{1: {Path: "/dev/sda"}, 2: {Path: "/dev/sdb"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.boot("52:54:00:00:00:99") // discovered-525400000099
	withGroup := spec
	withGroup.DiskGroupID = 3
	bad := spec
	bad.ImageType = "vmdk"
	tests := []struct {
		name    string
		machine string
		spec    boot.InstallSpec
		want    lifecycle.Kind
	}{
		{"unknown machine", "nope", spec, lifecycle.KindNoMachine},
		{"discovered", "discovered-525400000099", spec, lifecycle.KindNotAdopted},
		{"unknown disk group", "web-1", withGroup, lifecycle.KindBadDiskGroup},
		{"invalid spec", "web-1", bad, 0},
	}
	for _, tc := range tests {
		_, err := f.lc.Create(ctx, tc.machine, tc.spec, "")
		if err == nil || lifecycle.KindOf(err) != tc.want {
			t.Errorf("%s: Create() = %v (kind %d), want kind %d", tc.name, err, lifecycle.KindOf(err), tc.want)
		}
		if tc.want == 0 && !boot.IsValidation(err) {
			t.Errorf("%s: Create() = %v, want a validation error", tc.name, err)
		}
	}
	first := f.create("web-1")
	if first.Status != boot.StatusTodo || !first.StartDate.Equal(t0) || first.Function != lifecycle.FunctionReinstall {
		t.Errorf("Create() = %+v, want todo reinstallServer started at %v", first, t0)
	}
	_, err := f.lc.Create(ctx, "web-1", spec, "")
	if e, ok := err.(*lifecycle.Error); !ok || e.Kind != lifecycle.KindActive || e.TaskID != first.ID {
		t.Errorf("second Create() = %v, want KindActive naming task %d", err, first.ID)
	}
}

// TestBootInstallRun walks one task: boot (token), start, progress, a boot
// while doing (rebooted mid-install ends it), and a new task that finishes.
func TestBootInstallRun(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const mac = "52:54:00:00:00:01"
	f.machine("web-1", mac)
	if res := f.boot(mac); res.Action.Kind != boot.ActionExit || res.Token != "" {
		t.Errorf("Boot() without a task = %+v, want exit, no token", res)
	}
	first := f.create("web-1")
	res := f.boot(mac)
	if res.Action.Kind != boot.ActionInstall || res.Token == "" || res.Action.Task.TokenHash != lifecycle.HashToken(res.Token) {
		t.Fatalf("Boot() with a todo task = %+v, want install with the stored token", res)
	}
	stale := res.Token
	tok := f.boot(mac).Token // a second boot before the installer starts replaces the token
	if tok == stale {
		t.Fatal("second boot gave the same token")
	}
	if _, _, err := f.lc.Start(ctx, lifecycle.HashToken(stale)); lifecycle.KindOf(err) != lifecycle.KindToken {
		t.Errorf("Start(replaced token) = %v, want KindToken", err)
	}
	got, m, err := f.lc.Start(ctx, lifecycle.HashToken(tok))
	if err != nil || got.Status != boot.StatusDoing || got.Spec.HTTPHeaders["Authorization"] == "" || m.Name != "web-1" {
		t.Fatalf("Start() = %+v, %v; want doing with secrets", got, err)
	}
	p := agentapi.Progress{Step: boot.StepWrite, Status: boot.StepDoing, BytesDone: 10, BytesTotal: 100}
	if err := f.lc.Progress(ctx, lifecycle.HashToken(tok), p); err != nil {
		t.Fatalf("Progress() = %v", err)
	}
	if err := f.lc.Progress(ctx, lifecycle.HashToken(tok), agentapi.Progress{Step: "nope", Status: boot.StepDoing}); lifecycle.KindOf(err) != lifecycle.KindBadReport {
		t.Errorf("Progress(unknown step) = %v, want KindBadReport", err)
	}
	f.advance(time.Minute)
	res = f.boot(mac)
	if res.Action.Kind != boot.ActionExit || res.Token != "" {
		t.Errorf("Boot() while doing = %+v, want exit, no token", res)
	}
	ended := f.task(first.ID)
	if ended.Status != boot.StatusOVHError || ended.Step(boot.StepWrite).Status != boot.StepError {
		t.Errorf("task after a reboot mid-install = %s, write %s; want ovhError with the write step failed", ended.Status, ended.Step(boot.StepWrite).Status)
	}
	if err := f.lc.Progress(ctx, lifecycle.HashToken(tok), p); lifecycle.KindOf(err) != lifecycle.KindToken {
		t.Errorf("Progress() after the task ended = %v, want KindToken", err)
	}

	second := f.create("web-1")
	tok = f.boot(mac).Token
	if _, _, err := f.lc.Start(ctx, lifecycle.HashToken(tok)); err != nil {
		t.Fatal(err)
	}
	d := agentapi.Done{EFIBootloaderPath: `\efi\debian\grubx64.efi`, Disk: "/dev/vda"}
	done, m, err := f.lc.Finish(ctx, lifecycle.HashToken(tok), d)
	if err != nil || done.Status != boot.StatusDone || m.BootMode != boot.BootModeLocal || m.EFIBootloaderPath != d.EFIBootloaderPath {
		t.Fatalf("Finish() = %s, %+v, %v; want done and local boot", done.Status, m, err)
	}
	if res := f.boot(mac); res.Action.Kind != boot.ActionLocal || res.Action.EFIBootloaderPath != d.EFIBootloaderPath {
		t.Errorf("Boot() after install = %+v, want local with the loader", res.Action)
	}
	if len(f.ended) != 2 || f.ended[0].ID != first.ID || f.ended[1].ID != second.ID {
		t.Errorf("OnEnd saw %d tasks, want the two ended ones", len(f.ended))
	}
	// A reinstall clears local boot when its installer starts, atomically.
	f.create("web-1")
	tok = f.boot(mac).Token
	if _, m, err := f.lc.Start(ctx, lifecycle.HashToken(tok)); err != nil || m.BootMode != boot.BootModeNone {
		t.Errorf("Start() of a reinstall = %+v, %v; want the machine out of local boot", m, err)
	}
}

func TestFinishRefusesBadLoader(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.machine("web-1", "52:54:00:00:00:01")
	task := f.create("web-1")
	tok := lifecycle.HashToken(f.boot("52:54:00:00:00:01").Token)
	if _, _, err := f.lc.Start(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.lc.Finish(ctx, tok, agentapi.Done{EFIBootloaderPath: `\efi\${x}\grubx64.efi`})
	if lifecycle.KindOf(err) != lifecycle.KindBadReport {
		t.Errorf("Finish(${ in the loader) = %v, want KindBadReport", err)
	}
	if got := f.task(task.ID); got.Status != boot.StatusDoing {
		t.Errorf("task after a refused Finish = %s, want still doing", got.Status)
	}
	if _, err := f.lc.Fail(ctx, tok, agentapi.Failure{Step: boot.StepCheck, Class: agentapi.ClassCustomer, Message: "Bad sha256 for downloaded file"}); err != nil {
		t.Fatal(err)
	}
	if got := f.task(task.ID); got.Status != boot.StatusCustomerError || got.Step(boot.StepCheck).Error == "" {
		t.Errorf("task after Fail = %+v, want customerError on the check step", got)
	}
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.machine("web-1", "52:54:00:00:00:01")
	if _, ok, err := f.lc.CancelActive(ctx, "web-1", "x"); ok || err != nil {
		t.Errorf("CancelActive(no task) = %v, %v; want false, nil", ok, err)
	}
	task := f.create("web-1")
	got, err := f.lc.Cancel(ctx, task.ID, "Cancelled by an operator")
	if err != nil || got.Status != boot.StatusCancelled || got.Message != "Cancelled by an operator" {
		t.Fatalf("Cancel() = %+v, %v", got, err)
	}
	if _, err := f.lc.Cancel(ctx, task.ID, "again"); lifecycle.KindOf(err) != lifecycle.KindTaskEnded {
		t.Errorf("Cancel(cancelled) = %v, want KindTaskEnded", err)
	}
	if _, err := f.lc.Cancel(ctx, 999, "x"); lifecycle.KindOf(err) != lifecycle.KindNoTask {
		t.Errorf("Cancel(999) = %v, want KindNoTask", err)
	}
}

func TestWatchdog(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.machine("web-1", "52:54:00:00:00:01")
	f.create("web-1")
	tok := lifecycle.HashToken(f.boot("52:54:00:00:00:01").Token)
	if _, _, err := f.lc.Start(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.advance(10 * time.Minute)
	if n, err := f.lc.CheckInstallers(ctx); n != 0 || err != nil {
		t.Errorf("CheckInstallers() at the timeout = %d, %v; want 0", n, err)
	}
	// Create refuses while the installer is live, then accepts once stale.
	if _, err := f.lc.Create(ctx, "web-1", spec, ""); lifecycle.KindOf(err) != lifecycle.KindActive {
		t.Errorf("Create() with a live installer = %v, want KindActive", err)
	}
	f.advance(time.Second)
	if _, err := f.lc.Create(ctx, "web-1", spec, ""); err != nil {
		t.Errorf("Create() over a stalled installer = %v, want the stalled task ended and a new one", err)
	}
	if n, err := f.lc.CheckInstallers(ctx); n != 0 || err != nil {
		t.Errorf("CheckInstallers() after Create ended it = %d, %v; want 0", n, err)
	}
}

// TestDiscoveryFlood: 10 000 unknown MACs from one source and from many
// sources keep the store under its cap; the rate limit holds a single
// source to its burst, and what was not kept is counted.
func TestDiscoveryFlood(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{MaxDiscovered: 100, MaxEvents: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A fixed clock: no source's bucket refills during the flood.
	lc := lifecycle.New(st, lifecycle.Config{Now: func() time.Time { return t0 }, Discovery: lifecycle.DiscoveryLimit{Rate: 1, Burst: 20}})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1250 {
				n := w*1250 + i
				mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", n>>16, (n>>8)&0xff, n&0xff)
				src := fmt.Sprintf("198.51.100.%d", n%200) // 200 sources, 50 MACs each
				if _, err := lc.Boot(ctx, lifecycle.BootRequest{MAC: mac, Client: "efi/x86_64", Source: src}); err != nil {
					t.Errorf("Boot(%s) = %v", mac, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ms, err := st.Machines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) > 100 {
		t.Errorf("machines after a flood of 10000 unknown MACs = %d, want at most the cap 100", len(ms))
	}
	d := st.Dropped()
	limited := lc.Limited()
	if limited != 10000-200*20 { // each source gets its burst of 20
		t.Errorf("Limited() = %d, want %d (all but each source's burst)", limited, 10000-200*20)
	}
	if got := d.DiscoveredMachines + uint64(len(ms)) + limited; got != 10000 {
		t.Errorf("evicted %d + kept %d + limited %d = %d, want 10000", d.DiscoveredMachines, len(ms), limited, got)
	}
}

// TestConcurrentBootAndStart is the token race at the lifecycle's level:
// booters and installers race; the task's secrets go to one token, and
// that token is still the task's at the end.
func TestConcurrentBootAndStart(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for round := range 20 {
		name, mac := fmt.Sprintf("m-%d", round), fmt.Sprintf("52:54:00:00:20:%02x", round)
		f.machine(name, mac)
		task := f.create(name)
		var mu sync.Mutex
		started := map[string]bool{}
		var wg sync.WaitGroup
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					res, err := f.lc.Boot(ctx, lifecycle.BootRequest{MAC: mac, Client: "efi/x86_64"})
					if err != nil {
						t.Errorf("Boot() = %v", err)
						return
					}
					if res.Token == "" {
						return
					}
					if _, _, err := f.lc.Start(ctx, lifecycle.HashToken(res.Token)); err == nil {
						mu.Lock()
						started[res.Token] = true
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if len(started) > 1 {
			t.Fatalf("round %d: %d tokens started the task, want at most one", round, len(started))
		}
		final := f.task(task.ID)
		for tok := range started {
			if final.TokenHash != lifecycle.HashToken(tok) {
				t.Fatalf("round %d: the token that started the task was replaced afterwards", round)
			}
		}
	}
}

// TestFinishRecordsLoader: the loader the installer reports is recorded on
// the machine and the events say whether it was picked (no
// efiBootloaderPath in the task) or the operator's.
func TestFinishRecordsLoader(t *testing.T) {
	const picked = " (none given: picked by the installer from the image's EFI system partition)"
	for _, tc := range []struct {
		name, given, reported, want, event string
	}{
		{"picked", "", `\EFI\debian\shimx64.efi`, `\EFI\debian\shimx64.efi`, `efiBootloaderPath "\\EFI\\debian\\shimx64.efi"` + picked},
		{"given wins", `\efi\debian\grubx64.efi`, `\EFI\debian\grubx64.efi`, `\efi\debian\grubx64.efi`, `efiBootloaderPath "\\efi\\debian\\grubx64.efi"`},
		{"none (BIOS)", "", "", "", `efiBootloaderPath ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			f.machine("web-1", "52:54:00:00:00:01")
			s := spec
			s.EFIBootloaderPath = tc.given
			if _, err := f.lc.Create(ctx, "web-1", s, ""); err != nil {
				t.Fatal(err)
			}
			tok := lifecycle.HashToken(f.boot("52:54:00:00:00:01").Token)
			if _, _, err := f.lc.Start(ctx, tok); err != nil {
				t.Fatal(err)
			}
			_, m, err := f.lc.Finish(ctx, tok, agentapi.Done{EFIBootloaderPath: tc.reported, Disk: "/dev/vda"})
			if err != nil || m.EFIBootloaderPath != tc.want {
				t.Fatalf("Finish(loader %q) = %q, %v; want %q", tc.reported, m.EFIBootloaderPath, err, tc.want)
			}
			evs, err := f.st.Events(ctx, "web-1", 20)
			if err != nil {
				t.Fatal(err)
			}
			var msgs []string
			for _, e := range evs {
				if e.Kind == boot.EventBootMode {
					msgs = append(msgs, e.Message)
				}
			}
			want := `boot mode "local", ` + tc.event
			if !slices.Contains(msgs, want) {
				t.Errorf("boot mode events = %q, want one %q", msgs, want)
			}
		})
	}
}
