package power

import (
	"context"
	"errors"
	"testing"
)

func TestNoneDriver(t *testing.T) {
	d, err := New(Config{}, Options{Machine: "rack1-07"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"state", func() error { _, err := d.State(ctx); return err },
			"no power driver configured for rack1-07: check its power by hand"},
		{"cycle", func() error { return d.Power(ctx, Cycle) },
			"no power driver configured for rack1-07: power-cycle it by hand"},
		{"on", func() error { return d.Power(ctx, PowerOn) },
			"no power driver configured for rack1-07: power on it by hand"},
		{"pxe", func() error { return d.PXEOnce(ctx, true) },
			"no power driver configured for rack1-07: boot it from the network by hand"},
		{"cycle to pxe", func() error { return CycleToPXE(ctx, d, true, RetryOptions{}) },
			"no power driver configured for rack1-07: boot it from the network by hand"},
	}
	for _, tt := range tests {
		err := tt.call()
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrNoDriver) {
			t.Errorf("%s = %v, want %q wrapping ErrNoDriver", tt.name, err, tt.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	err := &Error{Op: Cycle.verb(), Machine: "rack1-07", Driver: "IPMI at 198.51.100.20", Err: ErrUnreachable}
	want := "could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("errors.Is(%v, ErrUnreachable) = false, want true", err)
	}
	err.Machine = ""
	if got, want := err.Error(), "could not power-cycle the machine via IPMI at 198.51.100.20: BMC unreachable"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
