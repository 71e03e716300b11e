package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/byoi/byoi/boot"
	bolt "go.etcd.io/bbolt"
)

// Task logs. Lines are kept in bucketTaskLogs under "task id (8 bytes BE)
// line index (8 bytes BE)", so a task's lines are contiguous and in order;
// bucketTaskLogMeta holds, per task, the next index, the oldest kept, the
// bytes kept and, per step, how many lines of the step's output the
// installer delivered (what a resent batch is deduplicated against). Both
// are deleted with the task.

// Defaults of Options' task log caps: a log over either loses its oldest
// lines.
const (
	DefaultMaxLogLines = 20000
	DefaultMaxLogBytes = 8 << 20
)

// logMeta is a task log's bookkeeping.
type logMeta struct {
	Next    int64                 `json:"next"`  // index of the next line
	First   int64                 `json:"first"` // index of the oldest kept line
	Bytes   int64                 `json:"bytes"` // text bytes kept
	Dropped int64                 `json:"dropped"`
	Lost    int64                 `json:"lost"`
	Held    map[boot.StepID]int64 `json:"held"` // lines of each step's output received
}

func logKey(id, index int64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(id))
	binary.BigEndian.PutUint64(k[8:], uint64(index))
	return k
}

func getLogMeta(tx *bolt.Tx, id int64) (logMeta, error) {
	var m logMeta
	if _, err := getJSON(tx.Bucket(bucketTaskLogMeta), u64key(uint64(id)), &m); err != nil {
		return m, fmt.Errorf("log of task %d: %w", id, err)
	}
	return m, nil
}

// AppendTaskLog appends a batch of a step's output to task id's log, in
// one transaction with check: check sees the task first and its error
// aborts the append (returned as is). Lines of the step's output the log
// already holds (Seq+i below what was delivered: a batch sent again) are
// skipped, so no line is ever stored twice; a Seq above it (lines the
// installer dropped) is accepted, and the gap is counted and marked by a
// line of stream "byoi" (a batch without lines changes nothing, whatever
// its Seq). The log then loses its oldest lines while it is over
// Options.MaxLogLines or MaxLogBytes.
func (s *Store) AppendTaskLog(ctx context.Context, id int64, b boot.LogBatch, check func(boot.Task) error) (boot.LogAppend, error) {
	if b.Seq < 0 {
		return boot.LogAppend{}, fmt.Errorf("log of task %d: negative seq %d", id, b.Seq)
	}
	var res boot.LogAppend
	err := s.update(ctx, func(tx *bolt.Tx) error {
		res = boot.LogAppend{}
		t, err := getTask(tx, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(t); err != nil {
				return err
			}
		}
		m, err := getLogMeta(tx, id)
		if err != nil {
			return err
		}
		if m.Held == nil {
			m.Held = map[boot.StepID]int64{}
		}
		held := m.Held[b.Step]
		lines := b.Lines
		skip := min(max(held-b.Seq, 0), int64(len(lines)))
		res.Duplicate, lines = int(skip), lines[skip:]
		if len(lines) == 0 {
			return nil
		}
		logs := tx.Bucket(bucketTaskLogs)
		put := func(stream, text string) error {
			l := boot.LogLine{Index: m.Next, Step: b.Step, Stream: stream, Text: text, Time: b.Time}
			if err := putJSON(logs, logKey(id, m.Next), l); err != nil {
				return err
			}
			m.Next++
			m.Bytes += int64(len(text))
			return nil
		}
		if gap := b.Seq - held; gap > 0 {
			res.Lost, m.Lost = gap, m.Lost+gap
			msg := fmt.Sprintf("[%d lines of %s output lost here: the installer dropped them]", gap, orStep(b.Stream, b.Step))
			if err := put("byoi", msg); err != nil {
				return err
			}
		}
		for _, text := range lines {
			if err := put(b.Stream, text); err != nil {
				return err
			}
		}
		res.Stored = len(lines)
		m.Held[b.Step] = b.Seq + skip + int64(len(lines))
		for m.Next-m.First > int64(s.opts.MaxLogLines) || m.Bytes > int64(s.opts.MaxLogBytes) {
			k := logKey(id, m.First)
			var old boot.LogLine
			if _, err := getJSON(logs, k, &old); err != nil {
				return err
			}
			if err := logs.Delete(k); err != nil {
				return err
			}
			m.First++
			m.Bytes -= int64(len(old.Text))
			m.Dropped++
			res.Dropped++
		}
		return putJSON(tx.Bucket(bucketTaskLogMeta), u64key(uint64(id)), m)
	})
	if err != nil {
		return boot.LogAppend{}, err
	}
	s.logDropped.Add(uint64(res.Dropped))
	return res, nil
}

func orStep(stream string, step boot.StepID) string {
	if stream != "" {
		return stream
	}
	return string(step)
}

// TaskLog returns up to limit lines (limit <= 0: all) of task id's log
// from index from on, with the task's status read in the same
// transaction. A from below the oldest kept line starts at it; a negative
// from asks for the last -from lines. An unknown task is ErrNotFound; a
// task without output has an empty log.
func (s *Store) TaskLog(ctx context.Context, id, from int64, limit int) (boot.TaskLog, error) {
	return read(s, ctx, func(tx *bolt.Tx) (boot.TaskLog, error) {
		t, err := getTask(tx, id)
		if err != nil {
			return boot.TaskLog{}, err
		}
		m, err := getLogMeta(tx, id)
		if err != nil {
			return boot.TaskLog{}, err
		}
		out := boot.TaskLog{TaskID: id, Status: t.Status, Lines: []boot.LogLine{}, First: m.First, Dropped: m.Dropped, Lost: m.Lost}
		if from < 0 {
			from = max(m.Next+from, 0)
		}
		from = min(max(from, m.First), m.Next)
		out.Next = from
		c := tx.Bucket(bucketTaskLogs).Cursor()
		prefix := u64key(uint64(id))
		for k, raw := c.Seek(logKey(id, from)); k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
			if limit > 0 && len(out.Lines) == limit {
				out.More = true
				break
			}
			var l boot.LogLine
			if err := jsonUnmarshal(raw, &l); err != nil {
				return boot.TaskLog{}, fmt.Errorf("log of task %d: %w", id, err)
			}
			out.Lines = append(out.Lines, l)
			out.Next = l.Index + 1
		}
		return out, nil
	})
}

// deleteTaskLog deletes a task's log lines and bookkeeping.
func deleteTaskLog(tx *bolt.Tx, id int64) error {
	logs := tx.Bucket(bucketTaskLogs)
	prefix := u64key(uint64(id))
	var keys [][]byte
	c := logs.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := logs.Delete(k); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketTaskLogMeta).Delete(prefix)
}
