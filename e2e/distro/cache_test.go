package distro

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCachedBuildsOnce runs four builders of one entry at the same time:
// one builds (the others wait on the lock), all get the same entry, and a
// later call finds it without building.
func TestCachedBuildsOnce(t *testing.T) {
	dir := t.TempDir()
	key := hashKey("recipe", "a")
	var builds atomic.Int32
	build := func(tmp string) error {
		builds.Add(1)
		time.Sleep(300 * time.Millisecond) // long enough for the others to queue
		return os.WriteFile(filepath.Join(tmp, "out"), []byte("built"), 0o644)
	}
	var wg sync.WaitGroup
	entries := make([]string, 4)
	for i := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, _, err := cached(context.Background(), dir, "x", key, build)
			if err != nil {
				t.Errorf("cached() = %v", err)
			}
			entries[i] = e
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("builds = %d, want 1", n)
	}
	for _, e := range entries[1:] {
		if e != entries[0] {
			t.Errorf("entries differ: %q, %q", e, entries[0])
		}
	}
	if b, err := os.ReadFile(filepath.Join(entries[0], "out")); err != nil || string(b) != "built" {
		t.Errorf("entry content = %q, %v", b, err)
	}
	_, hit, err := cached(context.Background(), dir, "x", key, build)
	if err != nil || !hit || builds.Load() != 1 {
		t.Errorf("second cached() = hit %v, %v, builds %d; want a hit without building", hit, err, builds.Load())
	}
}

// TestCachedFailureLeavesNothing: a failed build leaves no entry and no
// temporary directory, and the next call builds again.
func TestCachedFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	key := hashKey("recipe", "b")
	boom := errors.New("boom")
	_, _, err := cached(context.Background(), dir, "x", key, func(tmp string) error {
		os.WriteFile(filepath.Join(tmp, "half"), []byte("x"), 0o644)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("cached() = %v, want %v", err, boom)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*x-*"))
	for _, l := range left {
		if filepath.Ext(l) != ".lock" {
			t.Errorf("a failed build left %s", l)
		}
	}
	built := false
	if _, hit, err := cached(context.Background(), dir, "x", key, func(string) error { built = true; return nil }); err != nil || hit || !built {
		t.Errorf("cached() after a failure = hit %v, %v, built %v; want a new build", hit, err, built)
	}
}

// TestCachedWaitEndsWithContext: a builder waiting for the lock gives up
// when its context ends.
func TestCachedWaitEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	key := hashKey("recipe", "c")
	release := make(chan struct{})
	started := make(chan struct{})
	first := make(chan struct{})
	go func() {
		defer close(first)
		cached(context.Background(), dir, "x", key, func(string) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	// The first build must end before t.TempDir's cleanup removes dir
	// under it.
	defer func() { close(release); <-first }()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, _, err := cached(ctx, dir, "x", key, func(string) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cached() while locked = %v, want context.DeadlineExceeded", err)
	}
}

// TestRecipeKeys: the rootfs key follows the package list (in any order)
// and the customize script; the cache dir follows BYOI_CACHE_DIR.
func TestRecipeKeys(t *testing.T) {
	a, _, err := (&Builder{}).rootfsKey()
	if err != nil {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf("precondition failed with BYOI_INTEGRATION=1: no apt sources on this machine: %v", err)
		}
		t.Skipf("no apt sources on this machine: %v", err)
	}
	r := DefaultRecipe()
	for i, j := 0, len(r.Packages)-1; i < j; i, j = i+1, j-1 {
		r.Packages[i], r.Packages[j] = r.Packages[j], r.Packages[i]
	}
	if b, _, _ := (&Builder{Recipe: r}).rootfsKey(); b != a {
		t.Errorf("rootfsKey with the packages reversed = %s, want %s", b, a)
	}
	r.Packages = append(r.Packages, "vim")
	if c, _, _ := (&Builder{Recipe: r}).rootfsKey(); c == a {
		t.Errorf("rootfsKey with one more package = %s, the same as without", c)
	}
	if hashKey("ab", "c") == hashKey("a", "bc") {
		t.Error(`hashKey("ab","c") == hashKey("a","bc")`)
	}
	t.Setenv("BYOI_CACHE_DIR", "/x/y")
	if got := DefaultCacheDir(); got != "/x/y" {
		t.Errorf("DefaultCacheDir() = %q, want /x/y", got)
	}
}
