package web

import (
	"strings"
	"testing"
)

// TestWriteEvent: whatever the data holds, it stays in data fields of the
// one event: a carriage return cannot start a field of its own (an
// "event: logout" smuggled in by a script's output).
func TestWriteEvent(t *testing.T) {
	tests := []struct {
		data, want string
	}{
		{"<p>a</p>", "event: log\ndata: <p>a</p>\n\n"},
		{"a\nb", "event: log\ndata: a\ndata: b\n\n"},
		{"a\r\nb", "event: log\ndata: a\ndata: b\n\n"},
		{"x\revent: logout\rdata: y", "event: log\ndata: x\ndata: event: logout\ndata: data: y\n\n"},
		{"", "event: log\ndata: \n\n"},
	}
	for _, tc := range tests {
		var b strings.Builder
		writeEvent(&b, "log", tc.data)
		if got := b.String(); got != tc.want {
			t.Errorf("writeEvent(log, %q) = %q, want %q", tc.data, got, tc.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"tab\tkept", "tab\tkept"},
		{"\x1b[31mred\x1b[0m", "\uFFFD[31mred\uFFFD[0m"},
		{"cr\rlf\nnul\x00del\x7f", "cr\uFFFDlf\uFFFDnul\uFFFDdel\uFFFD"},
		{"c1 \u009b csi", "c1 \uFFFD csi"},
		{"é ünïcode ✓", "é ünïcode ✓"},
	}
	for _, tc := range tests {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
