package boot

import "time"

// A task's log: the output lines of the programs its steps run (BYOLinux's
// make_image_bootable.sh, mkfs, mdadm), kept with the task. Each kept line
// has an index in the task's log, counted from 0 and never reused; the
// oldest lines go first when the log outgrows its cap (Dropped counts
// them).

// LogLine is one line of a task's log.
type LogLine struct {
	Index  int64     `json:"index"`
	Step   StepID    `json:"step"`
	Stream string    `json:"stream,omitempty"`
	Text   string    `json:"text"`
	Time   time.Time `json:"time"`
}

// TaskLog is a window of a task's log: Lines from some index on, in order.
type TaskLog struct {
	TaskID int64 `json:"taskId"`
	// Status is the task's status when the lines were read: once it is
	// final and More is false, the log is complete.
	Status Status    `json:"status"`
	Lines  []LogLine `json:"lines"`
	// Next is the index to ask from next time; More says that lines from
	// Next on are already kept (the window was cut at its limit).
	Next int64 `json:"next"`
	More bool  `json:"more"`
	// First is the index of the oldest line kept; Dropped counts the
	// oldest lines deleted to stay under the cap, Lost the lines the
	// installer numbered but never delivered (it dropped them while the
	// server was unreachable).
	First   int64 `json:"first"`
	Dropped int64 `json:"dropped"`
	Lost    int64 `json:"lost"`
}

// LogBatch is a batch of one step's output to append to a task's log. Seq
// is the index of Lines[0] in the step's output, counted from 0 (the
// installer's numbering, not the log's index).
type LogBatch struct {
	Step   StepID
	Stream string
	Seq    int64
	Lines  []string
	Time   time.Time
}

// LogAppend says what appending a batch did.
type LogAppend struct {
	Stored    int   // lines stored
	Duplicate int   // lines already held (a batch sent again)
	Lost      int64 // lines missing before this batch (a gap in Seq)
	Dropped   int   // oldest lines deleted to stay under the cap
}
