package child

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDownload: download reads the whole body and reports
// its length; a failed request or a short body is an error.
func TestDownload(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 3*DownloadBuf/16+5) // more than one buffer, not a multiple
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
			err := download(ctx, []string{srv.URL + tc.path}, &out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("download(%s) = %v, want error %v", tc.path, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			var r struct{ Downloaded int64 }
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("download(%s) output %q: %v", tc.path, out.String(), err)
			}
			if r.Downloaded != tc.want {
				t.Errorf("download(%s) downloaded = %d, want %d", tc.path, r.Downloaded, tc.want)
			}
		})
	}
}
