package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// TestCutLine: every line sent is valid UTF-8 of at most MaxLogLine
// bytes (the server refuses longer ones), cut at a character boundary.
func TestCutLine(t *testing.T) {
	const max = agentapi.MaxLogLine
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short", "hello", "hello"},
		{"exactly the limit", strings.Repeat("a", max), strings.Repeat("a", max)},
		{"one byte over", strings.Repeat("a", max+1), strings.Repeat("a", max-3) + "…"},
		// A 3-byte character across the cut: whole or not at all.
		{"euro across the cut", strings.Repeat("a", max-4) + "€€", strings.Repeat("a", max-4) + "…"},
		{"euro before the cut", strings.Repeat("a", max-6) + "€€", strings.Repeat("a", max-6) + "€€"},
		{"euro ends at the cut", strings.Repeat("a", max-6) + "€€€", strings.Repeat("a", max-6) + "€…"},
		// Invalid bytes become U+FFFD first (3 bytes each), then the cut.
		{"invalid bytes at the end", strings.Repeat("a", max-4) + "\xff\xfe", strings.Repeat("a", max-4) + "\uFFFD"},
		{"a run of invalid bytes is one U+FFFD", strings.Repeat("a", max-3) + "\xff\xfe\xfd", strings.Repeat("a", max-3) + "\uFFFD"},
		{"invalid byte over the limit", strings.Repeat("a", max-2) + "\xff", strings.Repeat("a", max-3) + "…"},
		{"partial rune at the end", strings.Repeat("a", max-1) + "\xe2", strings.Repeat("a", max-3) + "…"},
	}
	for _, tc := range tests {
		got := cutLine(tc.in)
		if got != tc.want {
			t.Errorf("cutLine(%s) = …%q (%d bytes), want …%q (%d bytes)", tc.name, tail(got), len(got), tail(tc.want), len(tc.want))
		}
		if len(got) > max || !utf8.ValidString(got) {
			t.Errorf("cutLine(%s) is %d bytes, valid UTF-8 %v; want at most %d, valid", tc.name, len(got), utf8.ValidString(got), max)
		}
	}
}

func tail(s string) string { return s[max(len(s)-8, 0):] }

// TestBatchLen: a batch stays within MaxLogLines and, once encoded, within
// maxBatchJSON even when every character needs escaping (the server's
// body limit would refuse it, and the batch would block every later line);
// one line always goes, however long.
func TestBatchLen(t *testing.T) {
	plain := strings.Repeat("a", 100)
	ctrl := strings.Repeat("\x01", agentapi.MaxLogLine) // "\u0001" each: 6 bytes encoded
	lines := func(s string, n int) []string {
		l := make([]string, n)
		for i := range l {
			l[i] = s
		}
		return l
	}
	tests := []struct {
		name    string
		pending []string
		want    int
	}{
		{"empty", nil, 0},
		{"a few plain lines", lines(plain, 10), 10},
		{"more than a batch", lines(plain, 300), agentapi.MaxLogLines},
		{"escaped lines", lines(ctrl, 256), maxBatchJSON / (6*agentapi.MaxLogLine + 3)},
		{"one huge line", []string{strings.Repeat("\x01", 2*maxBatchJSON)}, 1},
	}
	for _, tc := range tests {
		n := batchLen(tc.pending)
		if n != tc.want {
			t.Errorf("batchLen(%s) = %d, want %d", tc.name, n, tc.want)
		}
		if n > 1 {
			b, err := json.Marshal(agentapi.Log{Lines: tc.pending[:n]})
			if err != nil || len(b) > maxBatchJSON+100 {
				t.Errorf("batch of %s encodes to %d bytes (%v), want at most about %d", tc.name, len(b), err, maxBatchJSON)
			}
		}
	}
}

// TestLogShipperSkipsRefusedBatch: a batch the server refuses for good (a
// 400) is skipped, not sent again forever: the lines after it still reach
// the server, numbered after it.
func TestLogShipperSkipsRefusedBatch(t *testing.T) {
	var mu sync.Mutex
	var got []agentapi.Log
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b agentapi.Log
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			t.Errorf("decode batch: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, b)
		if len(got) == 1 {
			http.Error(w, `{"message":"refused"}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hs.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := &api{cfg: Config{Server: hs.URL, TaskID: "1", Token: "t"}, client: hs.Client(), clock: realClock{},
		log: log, retryFor: time.Second, attemptTimeout: time.Second}
	r := &run{api: a, log: log, env: Env{ProgressEvery: time.Hour}, steps: map[boot.StepID]bool{}}
	ship := r.newLogShipper(boot.StepConfigDrive, "script")
	for i := range 3 {
		ship.line(fmt.Sprint("first ", i))
	}
	ship.flush(context.Background(), false)
	ship.line("second")
	ship.flush(context.Background(), false)

	mu.Lock()
	defer mu.Unlock()
	want := []agentapi.Log{
		{Step: boot.StepConfigDrive, Seq: 0, Lines: []string{"first 0", "first 1", "first 2"}, Stream: "script"},
		{Step: boot.StepConfigDrive, Seq: 3, Lines: []string{"second"}, Stream: "script"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batches the server saw (-want +got):\n%s", diff)
	}
}

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
	reports := func() []agentapi.Progress {
		s.mu.Lock()
		defer s.mu.Unlock()
		return append([]agentapi.Progress(nil), s.progress...)
	}
	t0 := time.Now()
	l.start(context.Background())
	l.line("update-initramfs: Generating /boot/initrd.img-6.1.0-57-amd64")
	// Two heartbeats, however long a loaded machine takes to send them
	// (a fixed pause here could end before the second one).
	for deadline := t0.Add(10 * time.Second); len(reports()) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d progress reports in 10 s of silence with a 100 ms heartbeat, want 2", len(reports()))
		}
	}
	l.finish()
	elapsed := time.Since(t0)
	progress := reports()
	if most := int(elapsed/l.beat) + 1; len(progress) > most {
		t.Fatalf("progress reports in %v of silence with a 100 ms heartbeat = %d (%+v), want at most %d", elapsed, len(progress), progress, most)
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
