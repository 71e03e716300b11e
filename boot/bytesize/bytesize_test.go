package bytesize

import (
	"math"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int64
		want string
	}{
		{"zero", 0, "0 B"},
		{"negative", -5, "-5 B"},
		{"largest byte count", 1023, "1023 B"},
		{"one KiB", 1024, "1.0 KiB"},
		{"half", 1536, "1.5 KiB"},
		{"rounds to one decimal", 1024 + 1024*96/1000, "1.1 KiB"},
		{"rounds up into the next unit", 1<<20 - 1, "1.0 MiB"},
		{"stays below the rounding edge", 1023 << 10, "1023.0 KiB"},
		{"MiB", 300 << 20, "300.0 MiB"},
		{"GiB", 10 << 30, "10.0 GiB"},
		{"disk of 1.6 TB", 1600321314816, "1.5 TiB"},
		{"PiB", 3 << 50, "3.0 PiB"},
		{"EiB", 2 << 60, "2.0 EiB"},
		{"max int64", math.MaxInt64, "8.0 EiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Format(tc.n); got != tc.want {
				t.Errorf("Format(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
}
