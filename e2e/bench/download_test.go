package main

import (
	"strings"
	"testing"
)

// TestDownloadNote: the note lists every download-alone row and says the
// 0.9× target is out of reach only when one is below 0.9×.
func TestDownloadNote(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ratios      []float64
		wantNote    bool
		unreachable bool
	}{
		{"no rows", nil, false, false},
		{"fast download", []float64{1.4, 0.95}, true, false},
		{"slow download", []float64{1.4, 0.74}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &report{}
			rep.Rows = append(rep.Rows, Row{Part: "P1", Case: "qcow2 1G dense none → file", Ratio: 0.5})
			for i, q := range tc.ratios {
				rep.Rows = append(rep.Rows, Row{Part: "P1", Case: strings.Repeat("x", i+1) + " (download alone)", Ratio: q})
			}
			downloadNote(rep)
			if got := len(rep.Notes) == 1; got != tc.wantNote {
				t.Fatalf("downloadNote(%v) notes = %q, want a note: %v", tc.ratios, rep.Notes, tc.wantNote)
			}
			if !tc.wantNote {
				return
			}
			note := rep.Notes[0]
			for i, q := range tc.ratios {
				if want := strings.Repeat("x", i+1) + ")"; !strings.Contains(note, want) || !strings.Contains(note, ratio(q)) {
					t.Errorf("downloadNote note = %q, want row %q with %s", note, want, ratio(q))
				}
			}
			if got := strings.Contains(note, "cannot be met"); got != tc.unreachable {
				t.Errorf("downloadNote(%v) note = %q, says unreachable: %v, want %v", tc.ratios, note, got, tc.unreachable)
			}
		})
	}
}
