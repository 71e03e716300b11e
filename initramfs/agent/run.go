package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/disk"
)

// Failure is how Run ends when the installation failed: what the server
// was told (or would have been), and whether it heard it.
type Failure struct {
	agentapi.Failure
	// Reported is true when the server acknowledged the error report.
	Reported bool
	// Err is the underlying error.
	Err error
}

func (f *Failure) Error() string {
	s := fmt.Sprintf("installation failed at step %s (%s error): %s", f.Step, f.Class, f.Message)
	if f.Err != nil && f.Err.Error() != f.Message {
		s += " (" + f.Err.Error() + ")"
	}
	if !f.Reported {
		s += "; the byoi server was NOT told"
	}
	return s
}

func (f *Failure) Unwrap() error { return f.Err }

// run is the state of one Run.
type run struct {
	env   Env
	cfg   Config
	api   *api
	log   *slog.Logger
	task  agentapi.Task
	disk  disk.Disk
	steps map[boot.StepID]bool // steps the server wants reports on
	step  boot.StepID          // current step, for errors
	// picked: the UEFI loader in task.Spec.EFIBootloaderPath was picked by
	// pre-flight because the task gave none.
	picked bool
}

// Run installs the machine's task: parse the command line, prepare the
// machine, fetch the task, then download, check and write the image, fix
// the GPT, add the config drive, set up boot, report done and reboot. Any
// failure is reported to the server and returned as a *Failure (or, before
// the task is known, a plain error); the caller must then not reboot.
// With byoi.mode=rescue it runs the rescue system instead (see the package
// comment) and returns only if sshd cannot run.
func Run(ctx context.Context, env Env) error {
	env = env.withDefaults()
	cfg, err := ParseConfig(ParseCmdline(env.Cmdline))
	if err != nil {
		return err
	}
	if cfg.Mode == agentapi.ModeRescue {
		return runRescue(ctx, env, cfg)
	}
	log := env.Logger.With("task", cfg.TaskID)
	client := env.Client
	if client == nil {
		client = http.DefaultClient
	}
	r := &run{env: env, cfg: cfg, log: log,
		api: &api{cfg: cfg, client: client, clock: env.Clock, log: log, retryFor: env.ReportRetry, attemptTimeout: 30 * time.Second}}
	if env.Prepare != nil {
		if err := env.Prepare(ctx, cfg); err != nil {
			return fmt.Errorf("prepare the machine: %w", err)
		}
	}
	log.Info("fetching task", "server", cfg.Server)
	if r.task, err = r.api.Task(ctx); err != nil {
		return fmt.Errorf("fetch task %s from %s: %w", cfg.TaskID, cfg.Server, err)
	}
	r.steps = map[boot.StepID]bool{}
	ids := r.task.Steps
	if len(ids) == 0 {
		ids = boot.StepsFor(r.task.Spec.OperatingSystem)
	}
	for _, s := range ids {
		r.steps[s] = true
	}
	log.Info("task received", "machine", r.task.Machine, "image", r.task.Spec.Redacted().ImageURL, "type", r.task.Spec.ImageType)
	if err := r.install(ctx); err != nil {
		return r.fail(ctx, err)
	}
	return nil
}

// install runs the steps in order.
func (r *run) install(ctx context.Context) error {
	if r.task.Spec.OperatingSystem == boot.OSBYOLinux {
		return r.installBYOLinux(ctx)
	}
	r.step = boot.StepDownload
	d, err := r.findDisk(ctx)
	if err != nil {
		return err
	}
	r.disk = d
	r.log.Info("target disk", "disk", d.Path, "size", d.Size, "sectorSize", d.LogicalSectorSize, "model", d.Model, "serial", d.Serial)
	if err := r.image(ctx); err != nil {
		return err
	}
	for _, s := range []struct {
		id boot.StepID
		fn func(context.Context) (string, error)
	}{
		{boot.StepGPT, r.fixGPT},
		{boot.StepConfigDrive, r.configDrive},
		{boot.StepBootSetup, r.bootSetup},
	} {
		r.step = s.id
		if err := r.report(ctx, agentapi.Progress{Step: s.id, Status: boot.StepDoing}); err != nil {
			return err
		}
		comment, err := s.fn(ctx)
		if err != nil {
			return stepError(s.id, err)
		}
		if err := r.report(ctx, agentapi.Progress{Step: s.id, Status: boot.StepDone, Comment: comment}); err != nil {
			return err
		}
	}
	return r.finish(ctx)
}

// report sends a status change of a step the server asked for.
func (r *run) report(ctx context.Context, p agentapi.Progress) error {
	if !r.steps[p.Step] {
		return nil
	}
	r.log.Info("step", "step", p.Step, "status", p.Status, "comment", p.Comment, "bytes", p.BytesDone, "total", p.BytesTotal)
	if err := r.api.Progress(ctx, p); err != nil {
		return fmt.Errorf("report step %s: %w", p.Step, err)
	}
	return nil
}

// findDisk waits up to DiskWait for the task's disk to show up.
func (r *run) findDisk(ctx context.Context) (disk.Disk, error) {
	deadline := r.env.Clock.Now().Add(r.env.DiskWait)
	for {
		disks, err := disk.List(r.env.SysRoot, r.env.DevRoot)
		if err == nil {
			var d disk.Disk
			if d, err = disk.Select(disks, r.task.Disk); err == nil {
				return d, nil
			}
		}
		if !r.env.Clock.Now().Before(deadline) {
			return disk.Disk{}, fmt.Errorf("no target disk after %s: %w", r.env.DiskWait, err)
		}
		if err := r.env.Clock.Sleep(ctx, 500*time.Millisecond); err != nil {
			return disk.Disk{}, err
		}
	}
}

// finish reports the last steps and done, then reboots.
func (r *run) finish(ctx context.Context) error {
	r.step = boot.StepReboot
	comment := "Rebooting into the installed system"
	if r.cfg.Poweroff {
		comment = "Powering off (" + agentapi.ParamPoweroff + "=1)"
	}
	if err := r.report(ctx, agentapi.Progress{Step: boot.StepReboot, Status: boot.StepDone, Comment: comment}); err != nil {
		return err
	}
	done := agentapi.Done{BootMode: boot.BootModeLocal, EFIBootloaderPath: r.task.Spec.EFIBootloaderPath, Disk: r.disk.Path}
	if err := r.api.Done(ctx, done); err != nil {
		// Rebooting now would PXE-boot into this task again.
		return fmt.Errorf("report done: %w", err)
	}
	r.log.Info("task done", "disk", r.disk.Path, "poweroff", r.cfg.Poweroff)
	if r.env.Reboot == nil {
		return nil
	}
	if err := r.env.Reboot(r.cfg.Poweroff); err != nil {
		// The task is done; only the restart failed. Say so on the console.
		return fmt.Errorf("installation done, but reboot failed: %w", err)
	}
	return nil
}

// fail reports err to the server and returns it as a *Failure.
func (r *run) fail(ctx context.Context, err error) error {
	f := &Failure{Failure: failure(r.step, err), Err: err}
	if f.Failure.Step != "" && r.steps != nil && !r.steps[f.Failure.Step] {
		// A step this task does not list (preflight, for a task created
		// by an older server): report the failure on the task as a whole.
		f.Failure.Step = ""
	}
	if errors.Is(err, ErrTokenRejected) {
		return f // nobody to tell
	}
	if rerr := r.api.Fail(ctx, f.Failure); rerr != nil {
		r.log.Error("could not report the error to the server", "err", rerr)
	} else {
		f.Reported = true
	}
	return f
}
