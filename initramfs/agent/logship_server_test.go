package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	byoihttp "github.com/byoi/byoi/server/http"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/byoi/byoi/store"
	"github.com/google/go-cmp/cmp"
)

// TestLogShipperRealServer: the agent's shipper against byoi's real
// server and store, with every third answer to a log batch lost (the
// server stored the batch, the agent saw a 503 and sends it again): the
// task's log holds every line once, in order, long lines cut within the
// server's bound, and the step's comment shows the latest line.
func TestLogShipperRealServer(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := byoihttp.New(byoihttp.Config{FilesDir: t.TempDir()}, st)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	batches, lost := 0, 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == agentapi.PathLog {
			mu.Lock()
			batches++
			drop := batches%3 == 0
			mu.Unlock()
			if drop {
				rec := httptest.NewRecorder()
				srv.Handler().ServeHTTP(rec, r)
				if rec.Code == http.StatusNoContent {
					mu.Lock()
					lost++
					mu.Unlock()
				}
				http.Error(w, "answer lost", http.StatusServiceUnavailable)
				return
			}
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	defer hs.Close()

	const mac = "52:54:00:00:00:41"
	if _, err := st.CreateMachine(ctx, boot.Machine{Name: "m", MACs: []string{mac}}); err != nil {
		t.Fatal(err)
	}
	lc := lifecycle.New(st, lifecycle.Config{})
	task, err := lc.Create(ctx, "m", boot.InstallSpec{ImageURL: "http://198.51.100.9/d.raw", ImageType: "raw"}, lifecycle.FunctionReinstall)
	if err != nil {
		t.Fatal(err)
	}
	res, err := lc.Boot(ctx, lifecycle.BootRequest{MAC: mac, Client: "efi/x86_64"})
	if err != nil || res.Token == "" {
		t.Fatalf("Boot = %+v, %v", res, err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := &api{cfg: Config{Server: hs.URL, TaskID: fmt.Sprint(task.ID), Token: res.Token}, client: hs.Client(), clock: realClock{},
		log: log, retryFor: 10 * time.Second, attemptTimeout: 5 * time.Second}
	if _, err := a.Task(ctx); err != nil {
		t.Fatal(err)
	}
	step := boot.StepConfigDrive
	r := &run{api: a, log: log, env: Env{ProgressEvery: 5 * time.Millisecond}, steps: map[boot.StepID]bool{step: true}}
	ship := r.newLogShipper(step, "make_image_bootable.sh")
	ship.start(ctx)
	var want []string
	for i := range 700 {
		s := fmt.Sprintf("line %d", i)
		if i%100 == 50 {
			s = strings.Repeat("é", agentapi.MaxLogLine) // 2 bytes each: cut on a character
		}
		ship.line(s)
		want = append(want, cutLine(s))
		if i%50 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	ship.finish()

	tl, err := st.TaskLog(ctx, task.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range tl.Lines {
		got = append(got, l.Text)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("task log mismatch (-sent +stored):\n%s", diff)
	}
	if tl.Lost != 0 || tl.Dropped != 0 {
		t.Errorf("task log lost %d, dropped %d; want none", tl.Lost, tl.Dropped)
	}
	mu.Lock()
	if lost == 0 {
		t.Errorf("no answer was lost after a stored batch (%d batches): the test did not test resending", batches)
	}
	mu.Unlock()
	stored, err := st.Task(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c := stored.Step(step).Comment; c != "make_image_bootable.sh: line 699" {
		t.Errorf("step comment = %q, want the latest line", c)
	}
}
