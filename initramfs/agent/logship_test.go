package agent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// TestLogShipperHeartbeat: a program silent for longer than the heartbeat
// still has its step reported (with how long it has run and its latest
// line), also by a server without the log endpoint, so the server's
// installer watchdog does not end the task while make_image_bootable.sh
// works (update-initramfs printed nothing for 14 minutes in a TCG VM).
func TestLogShipperHeartbeat(t *testing.T) {
	s := newAgentServer(t, agentapi.Task{}) // answers 404 on the log path
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &run{log: log, steps: map[boot.StepID]bool{boot.StepBootloader: true},
		api: &api{cfg: Config{Server: s.URL, Token: s.token}, client: http.DefaultClient, clock: realClock{}, log: log,
			retryFor: time.Second, attemptTimeout: 5 * time.Second}}
	l := r.newLogShipper(boot.StepBootloader, "make_image_bootable.sh")
	l.every, l.beat = 10*time.Millisecond, 100*time.Millisecond
	l.start(context.Background())
	l.line("update-initramfs: Generating /boot/initrd.img-6.1.0-57-amd64")
	time.Sleep(450 * time.Millisecond)
	l.finish()

	s.mu.Lock()
	progress := append([]agentapi.Progress(nil), s.progress...)
	s.mu.Unlock()
	if len(progress) < 2 || len(progress) > 6 {
		t.Fatalf("progress reports in 450 ms of silence with a 100 ms heartbeat = %d (%+v), want 2-6", len(progress), progress)
	}
	const prefix = "make_image_bootable.sh: running for "
	const suffix = "; last line: update-initramfs: Generating /boot/initrd.img-6.1.0-57-amd64"
	for _, p := range progress {
		if p.Step != boot.StepBootloader || p.Status != boot.StepDoing || !strings.HasPrefix(p.Comment, prefix) || !strings.HasSuffix(p.Comment, suffix) {
			t.Errorf("heartbeat = %+v, want bootloader doing %q…%q", p, prefix, suffix)
		}
	}
}

// TestLogShipperHeartbeatOnlyForReportedSteps: a step the server did not
// ask for gets no heartbeat either.
func TestLogShipperHeartbeatOnlyForReportedSteps(t *testing.T) {
	s := newAgentServer(t, agentapi.Task{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &run{log: log, steps: map[boot.StepID]bool{},
		api: &api{cfg: Config{Server: s.URL, Token: s.token}, client: http.DefaultClient, clock: realClock{}, log: log,
			retryFor: time.Second, attemptTimeout: 5 * time.Second}}
	l := r.newLogShipper(boot.StepBootloader, "make_image_bootable.sh")
	l.every, l.beat = 10*time.Millisecond, 50*time.Millisecond
	l.start(context.Background())
	time.Sleep(200 * time.Millisecond)
	l.finish()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.progress) != 0 {
		t.Errorf("progress reports for a step the server did not list = %+v, want none", s.progress)
	}
}
