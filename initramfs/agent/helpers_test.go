package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// fakeClock advances only when slept on, so retry deadlines pass instantly.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return ctx.Err()
}

// agentServer plays the byoi server's agent API for one task.
type agentServer struct {
	*httptest.Server
	token string
	task  agentapi.Task

	mu       sync.Mutex
	progress []agentapi.Progress
	done     []agentapi.Done
	failures []agentapi.Failure
	// fail makes the next n calls to a path answer 503.
	fail map[string]int
	auth []string // Authorization headers seen
}

func newAgentServer(t *testing.T, task agentapi.Task) *agentServer {
	s := &agentServer{token: "tok-" + strconv.Itoa(rand.IntN(1e6)), task: task, fail: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// admit records a test server's request credential in auth and answers the
// request itself when the token is wrong (401, as byoi does) or a failure
// is queued for its path (503, taken off the queue); it reports whether the
// server should go on and serve it. Called with the server's lock held.
func admit(w http.ResponseWriter, r *http.Request, token string, fail map[string]int, auth *[]string) bool {
	*auth = append(*auth, r.Header.Get("Authorization"))
	if r.Header.Get("Authorization") != "Bearer "+token {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(agentapi.Error{Message: "invalid or expired token"})
		return false
	}
	if fail[r.URL.Path] > 0 {
		fail[r.URL.Path]--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return false
	}
	return true
}

func (s *agentServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !admit(w, r, s.token, s.fail, &s.auth) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	var err error
	switch {
	case r.Method == http.MethodGet && r.URL.Path == agentapi.PathTask:
		json.NewEncoder(w).Encode(s.task)
		return
	case r.Method == http.MethodPost && r.URL.Path == agentapi.PathProgress:
		var p agentapi.Progress
		err = json.Unmarshal(body, &p)
		s.progress = append(s.progress, p)
	case r.Method == http.MethodPost && r.URL.Path == agentapi.PathDone:
		var d agentapi.Done
		err = json.Unmarshal(body, &d)
		s.done = append(s.done, d)
	case r.Method == http.MethodPost && r.URL.Path == agentapi.PathError:
		var f agentapi.Failure
		err = json.Unmarshal(body, &f)
		s.failures = append(s.failures, f)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// statuses returns, per step, the statuses reported in order (byte-count
// repeats of "doing" collapsed).
func (s *agentServer) statuses() map[boot.StepID][]boot.StepStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[boot.StepID][]boot.StepStatus{}
	for _, p := range s.progress {
		l := out[p.Step]
		if len(l) == 0 || l[len(l)-1] != p.Status {
			out[p.Step] = append(l, p.Status)
		}
	}
	return out
}

// fakeMachine makes a sysfs and /dev with one disk "vda" of size bytes,
// filled with garbage, and returns the roots and the disk file.
func fakeMachine(t *testing.T, size int64) (sysRoot, devRoot, diskPath string) {
	t.Helper()
	root := t.TempDir()
	sysRoot, devRoot = filepath.Join(root, "sys"), filepath.Join(root, "dev")
	blk := filepath.Join(sysRoot, "block", "vda")
	for _, d := range []string{filepath.Join(blk, "queue"), devRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"size": strconv.FormatInt(size/512, 10), "removable": "0", "ro": "0", "queue/logical_block_size": "512"}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(blk, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	diskPath = filepath.Join(devRoot, "vda")
	garbage := make([]byte, size)
	rand.NewChaCha8([32]byte{1, 2, 3}).Read(garbage)
	if err := os.WriteFile(diskPath, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	return sysRoot, devRoot, diskPath
}

// gptImage writes a raw GPT image of size bytes with one partition full of
// a pattern and a BIOS boot partition, and returns the image bytes.
func gptImage(t *testing.T, size int64) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.raw")
	d, err := diskfs.Create(p, size, diskfs.SectorSizeDefault)
	if err != nil {
		t.Fatalf("diskfs.Create: %v", err)
	}
	end := uint64(size/512) - 34
	table := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true,
		Partitions: []*gpt.Partition{{Index: 1, Start: 2048, End: end, Type: gpt.LinuxFilesystem, Name: "root"},
			// What a legacy BIOS machine boots (GRUB's core.img): the
			// agent's pre-flight wants it on a machine without UEFI.
			{Index: 2, Start: 40, End: 2047, Type: gpt.BIOSBoot, Name: "bios"}}}
	if err := d.Partition(table); err != nil {
		t.Fatalf("partition image: %v", err)
	}
	d.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(2048 * 512); i < int64(end)*512; i += 4096 {
		copy(b[i:], "byoi test data "+strconv.FormatInt(i, 16))
	}
	return b
}

// imageServer serves data at /image.raw.
func imageServer(t *testing.T, data []byte) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/image.raw" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "image.raw", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(s.Close)
	return s
}
