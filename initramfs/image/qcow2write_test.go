package image

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

// span is a range [off, end) a target was asked to write or zero.
type span struct {
	off, end int64
	zero     bool
}

// recordTarget is an in-memory Target that records every WriteAt and
// ZeroRange, so a test can check that each byte of the disk was written or
// zeroed exactly once, in which order, and whether calls overlapped in time.
type recordTarget struct {
	mu      sync.Mutex
	disk    []byte
	spans   []span
	busy    int // WriteAt calls in progress
	overlap bool
	zeroing bool // a ZeroRange or Sync is in progress
	misuse  string
}

func newRecordTarget(size int64) *recordTarget {
	disk := bytes.Repeat([]byte{0xa5}, int(size)) // stale data: every byte must be set
	return &recordTarget{disk: disk}
}

func (r *recordTarget) WriteAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	r.busy++
	r.overlap = r.overlap || r.busy > 1
	r.spans = append(r.spans, span{off: off, end: off + int64(len(p))})
	r.mu.Unlock()
	copy(r.disk[off:], p) // outside the lock, so that overlapping calls are seen
	r.mu.Lock()
	r.busy--
	r.mu.Unlock()
	return len(p), nil
}

func (r *recordTarget) ZeroRange(off, n int64) error {
	r.enter(fmt.Sprintf("ZeroRange(%d, %d)", off, n))
	r.mu.Lock()
	r.spans = append(r.spans, span{off: off, end: off + n, zero: true})
	r.mu.Unlock()
	clear(r.disk[off : off+n])
	r.leave()
	return nil
}

func (r *recordTarget) Sync() error {
	r.enter("Sync()")
	r.leave()
	return nil
}

// enter and leave bracket ZeroRange and Sync, which must not run at the
// same time as each other.
func (r *recordTarget) enter(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.zeroing && r.misuse == "" {
		r.misuse = call + " while another ZeroRange or Sync runs"
	}
	r.zeroing = true
}

func (r *recordTarget) leave() {
	r.mu.Lock()
	r.zeroing = false
	r.mu.Unlock()
}

func (r *recordTarget) Size() int64  { return int64(len(r.disk)) }
func (r *recordTarget) Name() string { return "record" }

// coverage sorts the recorded spans and returns the first gap or overlap
// in [0, size), "" if every byte was written or zeroed exactly once, and
// the bytes written and zeroed.
func (r *recordTarget) coverage(size int64) (problem string, written, zeroed int64) {
	spans := slices.Clone(r.spans)
	slices.SortFunc(spans, func(a, b span) int { return int(a.off - b.off) })
	pos := int64(0)
	for _, s := range spans {
		switch {
		case s.off > pos && problem == "":
			problem = fmt.Sprintf("bytes [%d, %d) neither written nor zeroed", pos, s.off)
		case s.off < pos && problem == "":
			problem = fmt.Sprintf("bytes [%d, %d) written or zeroed twice", s.off, min(pos, s.end))
		}
		pos = max(pos, s.end)
		if s.zero {
			zeroed += s.end - s.off
		} else {
			written += s.end - s.off
		}
	}
	if pos != size && problem == "" {
		problem = fmt.Sprintf("last byte written or zeroed at %d, want %d", pos, size)
	}
	return problem, written, zeroed
}

// TestQcow2WriteOnce: while workers decode chunks in parallel, the target
// sees one writer: WriteAt calls never overlap in time, ZeroRange and Sync
// never run together, data is written in disk order, every byte of the
// virtual disk is written or zeroed exactly once, the disk equals qemu-img's
// conversion, Written and Zeroed match what the target saw, and progress
// never goes backwards.
func TestQcow2WriteOnce(t *testing.T) {
	variants, oracleRaw := loadFixtures(t)
	want, err := os.ReadFile(oracleRaw)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"qcow2-v2", "qcow2-v3", "qcow2-zlib", "qcow2-zstd"} {
		t.Run(name, func(t *testing.T) {
			tg := newRecordTarget(testImageSize + 4*mib)
			var mu sync.Mutex
			var reports []int64
			o := Options{Type: "qcow2", Progress: func(step boot.StepID, done, total int64) {
				if step == boot.StepWrite {
					mu.Lock()
					reports = append(reports, done)
					mu.Unlock()
				}
			}}
			res, err := installLocal(t, variants[name], o, tg)
			if err != nil {
				t.Fatalf("InstallLocal(%s) = %v", name, err)
			}
			problem, written, zeroed := tg.coverage(testImageSize)
			if problem != "" {
				t.Errorf("InstallLocal(%s): %s", name, problem)
			}
			if tg.misuse != "" {
				t.Errorf("InstallLocal(%s): %s", name, tg.misuse)
			}
			if !bytes.Equal(tg.disk[:testImageSize], want) {
				i := 0
				for tg.disk[i] == want[i] {
					i++
				}
				t.Errorf("InstallLocal(%s): disk differs from qemu-img's at byte %d", name, i)
			}
			if diff := cmp.Diff([2]int64{written, zeroed}, [2]int64{res.Written, res.Zeroed}); diff != "" {
				t.Errorf("InstallLocal(%s) written, zeroed: target saw vs Result (-target +result):\n%s", name, diff)
			}
			if tg.overlap {
				t.Errorf("InstallLocal(%s): WriteAt called while another WriteAt runs", name)
			}
			var data []span
			for _, s := range tg.spans {
				if !s.zero {
					data = append(data, s)
				}
			}
			if !slices.IsSortedFunc(data, func(a, b span) int { return int(a.off - b.off) }) {
				t.Errorf("InstallLocal(%s): data written out of disk order", name)
			}
			if !slices.IsSorted(reports) || len(reports) == 0 || reports[len(reports)-1] != testImageSize {
				t.Errorf("InstallLocal(%s) write progress = %v, want non-decreasing, ending at %d", name, reports, int64(testImageSize))
			}
		})
	}
}
