package lifecycle

import (
	"errors"
	"fmt"

	"github.com/byoi/byoi/boot"
)

// Kind says what went wrong, for the transports to phrase.
type Kind int

// Error kinds.
const (
	// KindNoMachine: no machine has that name.
	KindNoMachine Kind = iota + 1
	// KindNotAdopted: the machine was discovered from an unknown MAC and
	// has no operator-given name yet.
	KindNotAdopted
	// KindActive: the machine already has an active task (TaskID, 0 when
	// another request created it meanwhile).
	KindActive
	// KindBadDiskGroup: the spec's diskGroupId is not one of the machine's
	// disk groups (DiskGroups lists them).
	KindBadDiskGroup
	// KindNoTask: no task has that ID.
	KindNoTask
	// KindTaskEnded: the task is already in a final status (Status).
	KindTaskEnded
	// KindToken: an installer token that is unknown, was replaced, or whose
	// task ended.
	KindToken
	// KindBadReport: an installer's report that cannot be applied (Msg says
	// why).
	KindBadReport
)

// Error is a refused lifecycle operation.
type Error struct {
	Kind       Kind
	Machine    string
	TaskID     int64
	Status     boot.Status // KindTaskEnded
	DiskGroups []int       // KindBadDiskGroup: the machine's groups
	DiskGroup  int         // KindBadDiskGroup: the one asked for
	Msg        string      // KindBadReport
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindNoMachine:
		return fmt.Sprintf("machine %s does not exist", e.Machine)
	case KindNotAdopted:
		return fmt.Sprintf("machine %s was discovered and is not adopted yet", e.Machine)
	case KindActive:
		if e.TaskID == 0 {
			return fmt.Sprintf("machine %s already has an active task", e.Machine)
		}
		return fmt.Sprintf("machine %s already has an active task (%d)", e.Machine, e.TaskID)
	case KindBadDiskGroup:
		return fmt.Sprintf("machine %s has no disk group %d (it has %v)", e.Machine, e.DiskGroup, e.DiskGroups)
	case KindNoTask:
		return fmt.Sprintf("task %d does not exist", e.TaskID)
	case KindTaskEnded:
		return fmt.Sprintf("task %d is already %s", e.TaskID, e.Status)
	case KindToken:
		return "invalid or expired installer token"
	case KindBadReport:
		return e.Msg
	}
	return "lifecycle error"
}

// Is makes errors.Is(err, boot.ErrNotFound) and boot.ErrConflict work for
// callers that only care about the broad class.
func (e *Error) Is(target error) bool {
	switch target {
	case boot.ErrNotFound:
		return e.Kind == KindNoMachine || e.Kind == KindNoTask
	case boot.ErrConflict:
		return e.Kind == KindActive || e.Kind == KindTaskEnded || e.Kind == KindNotAdopted
	}
	return false
}

// KindOf returns err's Kind, or 0 when err is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// errToken is the one answer to every token problem: which of them it was
// is not told to the caller.
var errToken = &Error{Kind: KindToken}

func badReport(format string, a ...any) error {
	return &Error{Kind: KindBadReport, Msg: fmt.Sprintf(format, a...)}
}
