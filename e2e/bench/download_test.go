package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRoleDownload: the download child reads the whole body and reports
// its length; a failed request or a short body is an error.
func TestRoleDownload(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 3*downloadBuf/16+5) // more than one buffer, not a multiple
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/image":
			w.Write(body)
		case "/short":
			w.Header().Set("Content-Length", "1000")
			w.Write(body[:10])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path    string
		want    int64
		wantErr bool
	}{
		{"/image", int64(len(body)), false},
		{"/short", 0, true},
		{"/missing", 0, true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			err := roleDownload(ctx, []string{srv.URL + tc.path}, &out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("roleDownload(%s) = %v, want error %v", tc.path, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			var r struct{ Downloaded int64 }
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("roleDownload(%s) output %q: %v", tc.path, out.String(), err)
			}
			if r.Downloaded != tc.want {
				t.Errorf("roleDownload(%s) downloaded = %d, want %d", tc.path, r.Downloaded, tc.want)
			}
		})
	}
}

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
