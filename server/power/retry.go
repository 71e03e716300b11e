package power

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RetryOptions bound CycleToPXE's attempts. The zero value works.
type RetryOptions struct {
	// Attempts is the number of tries; zero means 4.
	Attempts int
	// Backoff is the wait after the first failure, doubled after each
	// further one; zero means 2 s.
	Backoff time.Duration
	// MaxBackoff caps the wait; zero means 30 s.
	MaxBackoff time.Duration
	// OnAttempt, when set, is told about every attempt and its result
	// (err nil on success), e.g. to record an event.
	OnAttempt func(attempt int, err error)
}

func (r RetryOptions) withDefaults() RetryOptions {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Backoff <= 0 {
		r.Backoff = 2 * time.Second
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 30 * time.Second
	}
	return r
}

// CycleToPXE makes the machine boot from the network once, now: one-time PXE
// (UEFI or legacy), then a power cycle, or a power-on when it is off. It
// retries the whole sequence with exponential backoff while the BMC is
// unreachable or refuses; a machine without a driver (ErrNoDriver) and bad
// credentials (ErrAuth) fail at once. The error of the last attempt is
// returned; it wraps the driver's *Error.
func CycleToPXE(ctx context.Context, d Driver, uefi bool, retry RetryOptions) error {
	retry = retry.withDefaults()
	wait := retry.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		err = cycleToPXEOnce(ctx, d, uefi)
		if retry.OnAttempt != nil {
			retry.OnAttempt(attempt, err)
		}
		if err == nil || attempt >= retry.Attempts || errors.Is(err, ErrNoDriver) || errors.Is(err, ErrAuth) {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up after %d attempts: %v)", err, attempt, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, retry.MaxBackoff)
	}
	return err
}

func cycleToPXEOnce(ctx context.Context, d Driver, uefi bool) error {
	if err := d.PXEOnce(ctx, uefi); err != nil {
		return asCycleError(err)
	}
	return d.Power(ctx, Cycle)
}

// asCycleError words a failed one-time PXE request as the power cycle it
// stopped, which is what the operator asked for and must now do by hand:
// "could not power-cycle rack1-07 via IPMI at 198.51.100.20: one-time PXE
// boot: BMC unreachable: …". The cause keeps its sentinel (errors.Is) and
// stays as the driver redacted it.
func asCycleError(err error) error {
	var pe *Error
	if !errors.As(err, &pe) || pe.Op != opPXE {
		return err
	}
	return &Error{Op: Cycle.verb(), Machine: pe.Machine, Driver: pe.Driver, Err: fmt.Errorf("one-time PXE boot: %w", pe.Err)}
}
