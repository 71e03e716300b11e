package agent

import (
	"github.com/byoi/byoi/boot/agentapi"
)

// stepFailure is a BYOLinux failure already worded for the server: the
// step, the class (customer: the image or the request; internal: byoi or
// the machine) and the message. failure() passes it through.
type stepFailure struct {
	f   agentapi.Failure
	err error
}

func (e *stepFailure) Error() string { return e.f.Message }
func (e *stepFailure) Unwrap() error { return e.err }

// failed words err for the current step of a BYOLinux installation (a step
// the server does not know is left out of the report).
func (r *run) failed(class, msg string, err error) error {
	step := r.step
	if !r.steps[step] {
		step = ""
	}
	return &stepFailure{f: agentapi.Failure{Step: step, Class: class, Message: msg}, err: err}
}

func (r *run) customer(msg string, err error) error {
	return r.failed(agentapi.ClassCustomer, msg, err)
}
func (r *run) internal(msg string, err error) error {
	return r.failed(agentapi.ClassInternal, msg, err)
}

// imageFailure words an image package error (download, format, checksum)
// with the table every installation uses, at the current step.
func (r *run) imageFailure(err error) error {
	f := failure(r.step, err)
	return r.failed(f.Class, f.Message, err)
}
