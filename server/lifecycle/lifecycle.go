// Package lifecycle owns byoi's installation tasks: creating them (from any
// of the three OVH API generations or the native API), deciding what a
// machine that PXE-boots gets and handing its installer a one-time token,
// the installer's start, progress, success and failure, cancellation, the
// watchdog that ends tasks whose installer went silent, and the "rebooted
// mid-install" rule. Every change of a task's status happens in this
// package, inside one store transaction that also checks the state it
// depends on, so a decision and the write it leads to cannot be separated
// by another request.
//
// The transports (server/http) decode, authenticate, call one method and
// encode what it returns; errors are *Error with a Kind they map to their
// own wording, or boot.ValidationError for a refused request.
//
//	lc := lifecycle.New(st, lifecycle.Config{InstallerTimeout: 15 * time.Minute})
//	t, err := lc.Create(ctx, "rack1-07", spec, lifecycle.FunctionReinstall)
//	res, err := lc.Boot(ctx, lifecycle.BootRequest{MAC: mac, Client: "efi/x86_64"})
//	// res.Action says what to render; res.Token goes into the installer script
package lifecycle

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/byoi/byoi/boot"
)

// Store is what the lifecycle needs from persistence. The bbolt store
// satisfies it; any other backend must give the same guarantees: each call
// is one atomic transaction, UpdateTaskMachine reads and writes a task and
// its machine together (running fn again if it retries), and "not found"
// and "conflict" errors wrap boot.ErrNotFound and boot.ErrConflict.
type Store interface {
	Machine(ctx context.Context, name string) (boot.Machine, error)
	// RecordBoot notes a boot request of mac; with create it records an
	// unknown MAC as a discovered machine (created true).
	RecordBoot(ctx context.Context, mac, client string, now time.Time, create bool) (m boot.Machine, created bool, err error)
	ActiveTask(ctx context.Context, machine string) (boot.Task, error)
	ActiveTasks(ctx context.Context) ([]boot.Task, error)
	// TokenTask is the task of a token hash and whether it is active, from
	// an index: installers' requests are checked without reading the task.
	TokenTask(ctx context.Context, hash string) (id int64, active bool, err error)
	CreateTask(ctx context.Context, t boot.Task) (boot.Task, error)
	UpdateTaskMachine(ctx context.Context, id int64, fn func(*boot.Task, *boot.Machine) error) (boot.Task, boot.Machine, error)
	AppendEvent(ctx context.Context, e boot.Event) (boot.Event, error)
	// For boot modes and the rescue system: machines' own settings.
	UpdateMachine(ctx context.Context, name string, fn func(*boot.Machine) error) (boot.Machine, error)
	MachineByRescueToken(ctx context.Context, hash string) (boot.Machine, error)
	Tasks(ctx context.Context, machine string) ([]boot.Task, error)
	// AppendTaskLog appends a batch of output to a task's log in one
	// transaction with check, which sees the task first and may refuse.
	AppendTaskLog(ctx context.Context, id int64, b boot.LogBatch, check func(boot.Task) error) (boot.LogAppend, error)
}

// Task functions, as OVH names them in dedicated.server.Task.
const (
	FunctionReinstall = "reinstallServer"
)

// DefaultInstallerTimeout is Config.InstallerTimeout's default.
const DefaultInstallerTimeout = 15 * time.Minute

// Config configures a Lifecycle. The zero value works.
type Config struct {
	// InstallerTimeout is how long a task in doing may go without a report
	// from its installer before the watchdog ends it in ovhError.
	// 0: DefaultInstallerTimeout.
	InstallerTimeout time.Duration
	// Now is the clock; nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Discovery bounds how fast one source may make byoi record new
	// discovered machines; the zero value uses the defaults of DiscoveryLimit.
	Discovery DiscoveryLimit
	// Power reboots machines: a reinstall network-boots its machine, a
	// hardReboot task power-cycles it. Nil: nothing is rebooted (the
	// operator does it by hand) and hardReboot tasks fail.
	Power Power
	// OnEnd, if set, is called after a task reached a final status (for
	// metrics); OnWritten with the image bytes an installer reported
	// written since its previous report.
	OnEnd     func(boot.Task)
	OnWritten func(n int64)
}

// Lifecycle is the owner of every task. Its methods are safe for
// concurrent use; all its state is in the store.
type Lifecycle struct {
	cfg       Config
	st        Store
	log       *slog.Logger
	discovery *sourceLimiter
	limited   atomic.Uint64
}

// New builds a Lifecycle over st.
func New(st Store, cfg Config) *Lifecycle {
	if cfg.InstallerTimeout <= 0 {
		cfg.InstallerTimeout = DefaultInstallerTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Discovery.setDefaults()
	return &Lifecycle{cfg: cfg, st: st, log: cfg.Logger, discovery: newSourceLimiter(cfg.Discovery)}
}

// InstallerTimeout is the configured watchdog timeout.
func (l *Lifecycle) InstallerTimeout() time.Duration { return l.cfg.InstallerTimeout }

// event appends a machine event, logging (not failing) on error: the
// history is a record, not a precondition.
func (l *Lifecycle) event(ctx context.Context, machine string, task int64, kind boot.EventKind, msg string) {
	_, err := l.st.AppendEvent(ctx, boot.Event{Time: l.cfg.Now(), Machine: machine, TaskID: task, Kind: kind, Message: msg})
	if err != nil {
		l.log.Error("append event", "machine", machine, "task", task, "kind", kind, "err", err)
	}
}

// ended reports a task that reached a final status to the OnEnd hook.
func (l *Lifecycle) ended(t boot.Task) {
	if l.cfg.OnEnd != nil {
		l.cfg.OnEnd(t)
	}
}
