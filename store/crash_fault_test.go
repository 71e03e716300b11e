package store_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/byoi/byoi/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// crashChildEnv names the store file the child writer uses; the child
// also reads crashRoundEnv for the machine it writes under.
const (
	crashChildEnv = "BYOI_STORE_CRASH_CHILD"
	crashRoundEnv = "BYOI_STORE_CRASH_ROUND"
)

// TestCrashChildWriter is the child process of TestCrashMidWrite: it runs
// only when re-executed with crashChildEnv set. It writes tasks in a loop
// (create, progress updates, done) and prints one line after each call
// returned, i.e. after the bbolt transaction committed:
//
//	T <id>            task created (todo)
//	P <id> <bytes>    progress stored
//	D <id>            task done
//
// It runs until it is killed.
func TestCrashChildWriter(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child process of TestCrashMidWrite; runs only when re-executed by it")
	}
	ctx := context.Background()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		fmt.Printf("ERR open: %v\n", err)
		os.Exit(2)
	}
	name := "crash-" + os.Getenv(crashRoundEnv)
	if _, err := st.CreateMachine(ctx, boot.Machine{Name: name}); err != nil {
		fmt.Printf("ERR machine: %v\n", err)
		os.Exit(2)
	}
	fail := func(what string, err error) {
		fmt.Printf("ERR %s: %v\n", what, err)
		os.Exit(2)
	}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for {
		task, err := st.CreateTask(ctx, boot.Task{Machine: name, Function: "reinstallServer", Status: boot.StatusTodo,
			Steps: boot.NewSteps(), Created: now, LastUpdate: now, Comment: strings.Repeat("x", 200)})
		if err != nil {
			fail("create", err)
		}
		fmt.Printf("T %d\n", task.ID)
		for b := int64(1); b <= 5; b++ {
			_, err := st.UpdateTask(ctx, task.ID, func(t *boot.Task) error {
				if t.Status == boot.StatusTodo {
					if err := storetest.SetStatus(t, boot.StatusDoing, now); err != nil {
						return err
					}
				}
				w := t.Step(boot.StepWrite)
				w.Status, w.BytesDone, w.BytesTotal = boot.StepDoing, b<<20, 5<<20
				return nil
			})
			if err != nil {
				fail("progress", err)
			}
			fmt.Printf("P %d %d\n", task.ID, b<<20)
		}
		if _, err := st.UpdateTask(ctx, task.ID, func(t *boot.Task) error { return storetest.SetStatus(t, boot.StatusDone, now) }); err != nil {
			fail("done", err)
		}
		fmt.Printf("D %d\n", task.ID)
	}
}

// committed is what the child reported of one task.
type committed struct {
	machine string
	bytes   int64
	done    bool
}

// TestCrashMidWrite SIGKILLs a child writing to a bbolt store at random
// moments, several times on the same file, and checks after each kill that
// the file opens, passes bbolt's consistency check, and holds every write
// the child reported as committed.
func TestCrashMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := filepath.Join(t.TempDir(), "byoi.db")
	seen := map[int64]committed{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const rounds = 6
	for round := range rounds {
		kill := time.Duration(30+rng.IntN(200)) * time.Millisecond
		n := runAndKill(t, path, round, kill, seen)
		t.Logf("round %d: killed after %v and %d committed writes", round, kill, n)
		if n == 0 {
			t.Fatalf("round %d: the child reported no write before the kill", round)
		}
		checkBolt(t, path)
		checkCommitted(t, path, seen)
	}
}

// runAndKill runs the child for one round, kills it with SIGKILL after
// delay (counted from its first committed write) and records its
// reports in seen. It returns how many writes it reported.
func runAndKill(t *testing.T, path string, round int, delay time.Duration, seen map[int64]committed) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChildWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var timer <-chan time.Time
	n := 0
	for line := range lines {
		if timer == nil {
			timer = time.After(delay)
		}
		select {
		case <-timer:
			cmd.Process.Signal(syscall.SIGKILL) // the process we started, by PID
			timer = make(chan time.Time)        // never again
		default:
		}
		n += record(t, round, line, seen)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("round %d: child ended with %v, want killed by SIGKILL", round, err)
	}
	return n
}

// record parses one line of the child's report into seen.
func record(t *testing.T, round int, line string, seen map[int64]committed) int {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < 2 || f[0] == "ERR" {
		t.Fatalf("round %d: child said %q", round, line)
	}
	id, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatalf("round %d: bad child line %q", round, line)
	}
	c := seen[id]
	c.machine = "crash-" + strconv.Itoa(round)
	switch f[0] {
	case "T":
	case "P":
		if len(f) != 3 {
			t.Fatalf("round %d: bad child line %q", round, line)
		}
		c.bytes, _ = strconv.ParseInt(f[2], 10, 64)
	case "D":
		c.done = true
	default:
		return 0 // the test framework's own output
	}
	seen[id] = c
	return 1
}

// checkBolt runs bbolt's own consistency check over the whole file.
func checkBolt(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("bolt.Open(%s) after a crash = %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bbolt check after a crash = %v", err)
	}
}

// checkCommitted reopens the store and finds every reported write: a task
// holds at least the bytes last reported (a write committed after the last
// line we read may be there too), a done task is done, and the index of
// active tasks agrees with the records.
func checkCommitted(t *testing.T, path string, seen map[int64]committed) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("store.Open(%s) after a crash = %v", path, err)
	}
	defer st.Close()
	for id, c := range seen {
		task, err := st.Task(ctx, id)
		if err != nil {
			t.Fatalf("Task(%d) after a crash = %v, want the task the child reported", id, err)
		}
		got := task.Step(boot.StepWrite).BytesDone
		if task.Machine != c.machine || got < c.bytes || (c.done && task.Status != boot.StatusDone) {
			t.Errorf("Task(%d) after a crash = %s on %s with %d bytes, want %s with >= %d bytes (done: %v)",
				id, task.Status, task.Machine, got, c.machine, c.bytes, c.done)
		}
	}
	active, err := st.ActiveTasks(ctx)
	if err != nil {
		t.Fatalf("ActiveTasks() after a crash = %v", err)
	}
	for _, a := range active {
		if !a.Status.Active() {
			t.Errorf("active index points at task %d in %s", a.ID, a.Status)
		}
		if c, ok := seen[a.ID]; ok && c.done {
			t.Errorf("task %d reported done is still in the active index", a.ID)
		}
	}
}
