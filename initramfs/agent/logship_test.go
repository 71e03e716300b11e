package agent

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/byoi/byoi/boot/agentapi"
)

// TestCutLine: every line sent is valid UTF-8 of at most MaxLogLine
// bytes (the server refuses longer ones), cut at a character boundary.
func TestCutLine(t *testing.T) {
	const max = agentapi.MaxLogLine
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short", "hello", "hello"},
		{"exactly the limit", strings.Repeat("a", max), strings.Repeat("a", max)},
		{"one byte over", strings.Repeat("a", max+1), strings.Repeat("a", max-3) + "…"},
		// A 3-byte character across the cut: whole or not at all.
		{"euro across the cut", strings.Repeat("a", max-4) + "€€", strings.Repeat("a", max-4) + "…"},
		{"euro before the cut", strings.Repeat("a", max-6) + "€€", strings.Repeat("a", max-6) + "€€"},
		{"euro ends at the cut", strings.Repeat("a", max-6) + "€€€", strings.Repeat("a", max-6) + "€…"},
		// Invalid bytes become U+FFFD first (3 bytes each), then the cut.
		{"invalid bytes at the end", strings.Repeat("a", max-4) + "\xff\xfe", strings.Repeat("a", max-4) + "\uFFFD"},
		{"a run of invalid bytes is one U+FFFD", strings.Repeat("a", max-3) + "\xff\xfe\xfd", strings.Repeat("a", max-3) + "\uFFFD"},
		{"invalid byte over the limit", strings.Repeat("a", max-2) + "\xff", strings.Repeat("a", max-3) + "…"},
		{"partial rune at the end", strings.Repeat("a", max-1) + "\xe2", strings.Repeat("a", max-3) + "…"},
	}
	for _, tc := range tests {
		got := cutLine(tc.in)
		if got != tc.want {
			t.Errorf("cutLine(%s) = …%q (%d bytes), want …%q (%d bytes)", tc.name, tail(got), len(got), tail(tc.want), len(tc.want))
		}
		if len(got) > max || !utf8.ValidString(got) {
			t.Errorf("cutLine(%s) is %d bytes, valid UTF-8 %v; want at most %d, valid", tc.name, len(got), utf8.ValidString(got), max)
		}
	}
}

func tail(s string) string { return s[max(len(s)-8, 0):] }
