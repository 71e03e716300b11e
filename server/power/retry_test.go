package power

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scripted is a Driver whose calls fail with the errors given, in order,
// and that records every call.
type scripted struct {
	errs  []error
	calls []string
}

func (s *scripted) next(call string) error {
	s.calls = append(s.calls, call)
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	s.errs = s.errs[1:]
	return err
}

func (s *scripted) State(context.Context) (State, error) { return On, s.next("state") }
func (s *scripted) Power(_ context.Context, a Action) error {
	return s.next("power " + string(a))
}
func (s *scripted) PXEOnce(_ context.Context, uefi bool) error {
	return s.next(fmt.Sprintf("pxe uefi=%v", uefi))
}
func (s *scripted) String() string { return "scripted" }

func TestCycleToPXE(t *testing.T) {
	unreachable := &Error{Op: "power-cycle", Driver: "scripted", Err: ErrUnreachable}
	auth := &Error{Op: "power-cycle", Driver: "scripted", Err: ErrAuth}
	tests := []struct {
		name      string
		uefi      bool
		errs      []error
		attempts  int
		wantCalls []string
		wantErr   error
	}{
		{"first try", true, nil, 4, []string{"pxe uefi=true", "power cycle"}, nil},
		{"legacy", false, nil, 4, []string{"pxe uefi=false", "power cycle"}, nil},
		{"retry after unreachable", true, []error{unreachable, nil, unreachable}, 4,
			[]string{"pxe uefi=true", "pxe uefi=true", "power cycle", "pxe uefi=true", "power cycle"}, nil},
		{"gives up", true, []error{unreachable, unreachable, unreachable}, 3,
			[]string{"pxe uefi=true", "pxe uefi=true", "pxe uefi=true"}, ErrUnreachable},
		{"bad credentials stop at once", true, []error{auth}, 4, []string{"pxe uefi=true"}, ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &scripted{errs: tt.errs}
			var seen []string
			err := CycleToPXE(context.Background(), d, tt.uefi, RetryOptions{Attempts: tt.attempts, Backoff: time.Millisecond,
				OnAttempt: func(n int, err error) { seen = append(seen, fmt.Sprintf("%d:%v", n, err == nil)) }})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("CycleToPXE() = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantCalls, d.calls); diff != "" {
				t.Errorf("calls mismatch (-want +got):\n%s", diff)
			}
			if len(seen) == 0 || strings.HasSuffix(seen[len(seen)-1], ":true") != (tt.wantErr == nil) {
				t.Errorf("OnAttempt saw %v, want the last attempt to report the result", seen)
			}
		})
	}
}

func TestCycleToPXEBackoffAndCancel(t *testing.T) {
	d := &scripted{errs: []error{ErrRefused, ErrRefused, ErrRefused, ErrRefused}}
	var at []time.Time

	err := CycleToPXE(context.Background(), d, true, RetryOptions{Attempts: 3, Backoff: 40 * time.Millisecond,
		OnAttempt: func(int, error) { at = append(at, time.Now()) }})
	if !errors.Is(err, ErrRefused) || len(at) != 3 {
		t.Fatalf("CycleToPXE() = %v after %d attempts, want ErrRefused after 3", err, len(at))
	}
	// Waits of 40 ms then 80 ms.
	if g1, g2 := at[1].Sub(at[0]), at[2].Sub(at[1]); g1 < 40*time.Millisecond || g2 < 80*time.Millisecond {
		t.Errorf("waits between attempts = %v, %v; want >= 40ms, >= 80ms", g1, g2)
	}

	ctx, cancel := context.WithCancel(context.Background())
	d = &scripted{errs: []error{ErrUnreachable, ErrUnreachable}}
	err = CycleToPXE(ctx, d, true, RetryOptions{Attempts: 5, Backoff: time.Hour,
		OnAttempt: func(int, error) { cancel() }})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "gave up after 1 attempts") {
		t.Fatalf("CycleToPXE() with a cancelled context = %v, want ErrUnreachable and the give-up note", err)
	}
}

// TestCycleToPXEWording: a one-time PXE request the BMC did not carry out is
// reported as the power cycle it stopped (what the operator must now do by
// hand), with its cause kept for errors.Is and still redacted.
func TestCycleToPXEWording(t *testing.T) {
	const pw = "hunter2-secret"
	tests := []struct {
		name string
		err  error
		want string
		is   error
	}{
		{"unreachable", &Error{Op: opPXE, Machine: "rack1-07", Driver: "IPMI at 198.51.100.20", Err: ErrUnreachable},
			"could not power-cycle rack1-07 via IPMI at 198.51.100.20: one-time PXE boot: BMC unreachable", ErrUnreachable},
		{"echoed password", &Error{Op: opPXE, Machine: "rack1-07", Driver: "IPMI at 198.51.100.20",
			Err: redact(fmt.Errorf("%w: bad request for %s", ErrRefused, pw), pw)},
			"could not power-cycle rack1-07 via IPMI at 198.51.100.20: one-time PXE boot: BMC refused the command: bad request for <redacted>", ErrRefused},
		{"power cycle itself", &Error{Op: Cycle.verb(), Machine: "rack1-07", Driver: "IPMI at 198.51.100.20", Err: ErrUnreachable},
			"could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable", ErrUnreachable},
		{"no driver", fmt.Errorf("%w for rack1-07: boot it from the network by hand", ErrNoDriver),
			"no power driver configured for rack1-07: boot it from the network by hand", ErrNoDriver},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &scripted{errs: []error{tt.err}}
			if tt.name == "power cycle itself" {
				d.errs = []error{nil, tt.err}
			}
			err := CycleToPXE(context.Background(), d, true, RetryOptions{Attempts: 1})
			if err == nil || err.Error() != tt.want || !errors.Is(err, tt.is) {
				t.Errorf("CycleToPXE() = %v, want %q (errors.Is %v)", err, tt.want, tt.is)
			}
		})
	}
}
