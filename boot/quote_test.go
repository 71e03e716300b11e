package boot

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes, 2-byte runes
	tests := []struct{ in, quote, clip string }{
		{"", `""`, ""},
		{"web-1", `"web-1"`, "web-1"},
		{"a\nb", `"a\nb"`, "a\nb"},
		{strings.Repeat("a", 64), `"` + strings.Repeat("a", 64) + `"`, strings.Repeat("a", 64)},
		{strings.Repeat("a", 1<<20), `"` + strings.Repeat("a", 64) + `"… (1048576 bytes)`, strings.Repeat("a", 64) + "… (1048576 bytes)"},
		{long, `"` + strings.Repeat("é", 32) + `"… (200 bytes)`, strings.Repeat("é", 32) + "… (200 bytes)"},
	}
	for _, tc := range tests {
		if got := Quote(tc.in); got != tc.quote {
			t.Errorf("Quote(%d bytes) = %s, want %s", len(tc.in), got, tc.quote)
		}
		if got := Clip(tc.in); got != tc.clip {
			t.Errorf("Clip(%d bytes) = %s, want %s", len(tc.in), got, tc.clip)
		}
	}
}
