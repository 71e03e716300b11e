package image

import (
	"fmt"

	"github.com/byoi/byoi/boot"
)

// Error is what Install returns: the step that failed, whether the customer
// caused it (task status customerError) or byoi/the machine did (ovhError),
// and a message in OVH's words, safe to show (no header values).
type Error struct {
	Step     boot.StepID
	Customer bool
	Msg      string
	Err      error
}

// Error returns the user-facing message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

func customer(step boot.StepID, msg string, err error) *Error {
	return &Error{Step: step, Customer: true, Msg: msg, Err: err}
}

func internal(step boot.StepID, msg string, err error) *Error {
	return &Error{Step: step, Msg: msg, Err: err}
}

func downloadError(err error) *Error {
	return customer(boot.StepDownload, "Could not download image: "+err.Error(), err)
}

func mismatchError(got, want string) *Error {
	return customer(boot.StepCheck,
		fmt.Sprintf("image provided format is %s which does not match expected %s format", got, want), nil)
}

func sizeError(size int64, t Target) *Error {
	return customer(boot.StepCheck,
		fmt.Sprintf("image provided has a size of %d bytes which is larger than %s of %d bytes", size, t.Name(), t.Size()), nil)
}

func noPartitionError(what string) *Error {
	return customer(boot.StepCheck,
		"image provided format is not of type raw because no partition table was found. It seems to contain: "+what, nil)
}

func checksumError(typ, got, want string) *Error {
	return customer(boot.StepCheck,
		fmt.Sprintf("Bad %s for downloaded file, got: %s while expecting %s.", typ, got, want), nil)
}

func writeError(imageType string, err error) *Error {
	return internal(boot.StepWrite, fmt.Sprintf("Can't write %s on disk", imageType), err)
}

// WriteError is OVH's failure to write an image of imageType ("raw" or
// "qcow2") to the disk: a disk that cannot be opened for writing, is read
// only, full or failing. err is the cause, for logs; it is not shown.
func WriteError(imageType string, err error) *Error { return writeError(imageType, err) }
