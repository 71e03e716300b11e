package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzAppendTaskLog: any sequence of batches an installer (or anyone with
// its token) may send — resent, overlapping, out of order, with gaps, over
// two steps — leaves exactly the log a plain model computes: each line of
// a step's output at most once, in the order received, a gap mark where
// Seq jumped ahead, the oldest lines dropped over the cap.
func FuzzAppendTaskLog(f *testing.F) {
	f.Add([]byte{0, 0, 5, 0, 0, 5, 0, 3, 5})      // in order, resent, overlapping
	f.Add([]byte{0, 10, 3, 0, 0, 4, 1, 0, 2})     // a gap, late lines, another step
	f.Add([]byte{1, 0, 19, 1, 19, 19, 1, 38, 19}) // over the cap
	f.Add([]byte{0, 63, 0, 0, 2, 0})              // empty batches
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 3*40 {
			ops = ops[:3*40]
		}
		const maxLines = 30
		ctx := context.Background()
		s, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{BatchDelay: -1, MaxLogLines: maxLines})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		task := logTask(t, s, "a")
		steps := []boot.StepID{boot.StepPartition, boot.StepBootloader}
		out := func(step, i int) string { return fmt.Sprintf("%s %d", steps[step], i) }

		var model []string
		held := map[int]int{}
		for ; len(ops) >= 3; ops = ops[3:] {
			step, seq, n := int(ops[0]%2), int(ops[1]%64), int(ops[2]%20)
			var lines []string
			for i := seq; i < seq+n; i++ {
				lines = append(lines, out(step, i))
			}
			if _, err := s.AppendTaskLog(ctx, task.ID, boot.LogBatch{Step: steps[step], Stream: string(steps[step]), Seq: int64(seq), Lines: lines}, nil); err != nil {
				t.Fatalf("AppendTaskLog(step %d, seq %d, %d lines) = %v", step, seq, n, err)
			}
			if n == 0 || seq+n <= held[step] {
				continue // nothing new (an empty batch changes nothing, even past a gap)
			}
			if seq > held[step] {
				model = append(model, fmt.Sprintf("[%d lines of %s output lost here: the installer dropped them]", seq-held[step], steps[step]))
			}
			for i := max(seq, held[step]); i < seq+n; i++ {
				model = append(model, out(step, i))
			}
			held[step] = seq + n
		}
		dropped := max(len(model)-maxLines, 0)
		log, got := logTexts(t, s, task.ID)
		if diff := cmp.Diff(model[dropped:], got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("log mismatch (-model +store):\n%s", diff)
		}
		if log.Next != int64(len(model)) || log.Dropped != int64(dropped) || log.First != int64(dropped) {
			t.Errorf("log next %d, dropped %d, first %d; want %d, %d, %d", log.Next, log.Dropped, log.First, len(model), dropped, dropped)
		}
		for i, l := range log.Lines {
			if l.Index != int64(dropped+i) {
				t.Fatalf("line %d has index %d, want %d", i, l.Index, dropped+i)
			}
		}
	})
}
