package lifecycle

import (
	"testing"
	"time"
)

func TestWatchdogInterval(t *testing.T) {
	tests := []struct {
		timeout, want time.Duration
	}{
		{time.Second, time.Second},
		{time.Minute, 6 * time.Second},
		{DefaultInstallerTimeout, time.Minute},
	}
	for _, tc := range tests {
		if got := WatchdogInterval(tc.timeout); got != tc.want {
			t.Errorf("WatchdogInterval(%v) = %v, want %v", tc.timeout, got, tc.want)
		}
	}
	if got := New(nil, Config{}).InstallerTimeout(); got != 15*time.Minute {
		t.Errorf("zero Config InstallerTimeout = %v, want 15m", got)
	}
}
