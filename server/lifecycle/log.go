package lifecycle

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// maxLogStream bounds the name of a log's stream ("make_image_bootable.sh").
const maxLogStream = 128

// AppendLog keeps a batch of a step's program output with the task of the
// token hash. The token is checked as Progress checks it, inside the
// transaction that appends, and the task must be doing. A batch sent again
// (its answer was lost) stores none of the lines the task already has; a
// Seq above them (lines the installer dropped) is accepted and the gap
// recorded. A batch over agentapi.MaxLogLines lines, a line over
// agentapi.MaxLogLine bytes, a negative Seq or an unknown step is a
// KindBadReport and stores nothing.
//
// The step's comment is not changed here: the installer reports the
// latest line in its next Progress ("make_image_bootable.sh: <line>").
func (l *Lifecycle) AppendLog(ctx context.Context, hash string, lg agentapi.Log) (boot.LogAppend, error) {
	if err := checkLog(lg); err != nil {
		return boot.LogAppend{}, err
	}
	id, err := l.tokenTask(ctx, hash)
	if err != nil {
		return boot.LogAppend{}, err
	}
	b := boot.LogBatch{Step: lg.Step, Stream: lg.Stream, Seq: lg.Seq, Lines: lg.Lines, Time: l.cfg.Now()}
	var machine string
	res, err := l.st.AppendTaskLog(ctx, id, b, func(t boot.Task) error {
		machine = t.Machine
		if t.TokenHash != hash || !t.Status.Active() {
			return errToken
		}
		if t.Status != boot.StatusDoing {
			return badReport("task %d has not started: fetch it first", t.ID)
		}
		if t.Step(lg.Step) == nil {
			return badReport("unknown step %q", lg.Step)
		}
		return nil
	})
	if errors.Is(err, boot.ErrNotFound) && KindOf(err) == 0 {
		return boot.LogAppend{}, errToken // deleted meanwhile
	}
	if err != nil {
		return boot.LogAppend{}, err
	}
	if res.Lost > 0 {
		l.log.Warn("installer output lost", "machine", machine, "task", id, "step", lg.Step, "stream", lg.Stream, "lines", res.Lost)
	}
	return res, nil
}

// checkLog refuses a batch beyond the agent API's bounds.
func checkLog(lg agentapi.Log) error {
	switch {
	case lg.Step == "":
		return badReport("a log batch needs its step")
	case lg.Seq < 0:
		return badReport("invalid log batch: negative seq %d", lg.Seq)
	case len(lg.Lines) > agentapi.MaxLogLines:
		return badReport("log batch of %d lines: at most %d per batch", len(lg.Lines), agentapi.MaxLogLines)
	case len(lg.Stream) > maxLogStream || !utf8.ValidString(lg.Stream):
		return badReport("invalid log stream name: at most %d bytes of UTF-8", maxLogStream)
	}
	for i, s := range lg.Lines {
		if len(s) > agentapi.MaxLogLine {
			return badReport("log line %d is %d bytes long: at most %d (cut longer lines and end them with \"…\")", lg.Seq+int64(i), len(s), agentapi.MaxLogLine)
		}
	}
	return nil
}
