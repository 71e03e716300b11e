package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/byoi/byoi/initramfs/image"
)

// downloadBuf is the read size of the download role: about what the
// installer asks of the stream at a time (a qcow2 chunk, a raw read).
const downloadBuf = 1 << 20

// download is one run of the download role in a child process, timed like
// the installs: from exec to exit.
func download(ctx context.Context, url string) (time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, self, "-role", "download", url)
	var errb strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("download %s: %w: %s", url, err, strings.TrimSpace(errb.String()))
	}
	return time.Since(t0), nil
}

// roleDownload is the child: GET URL with the installer's HTTP client
// (image.DefaultClient, Accept-Encoding identity as the installer sends)
// and read the body to the end into one reused buffer, writing nothing:
// what the download alone costs, without hashing, decoding or writing.
func roleDownload(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: -role download URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept-Encoding", "identity")
	t0 := time.Now()
	resp, err := image.DefaultClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", args[0], resp.Status)
	}
	buf := make([]byte, downloadBuf)
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read at %d: %w", n, err)
		}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("got %d bytes, want %d", n, resp.ContentLength)
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"seconds": time.Since(t0).Seconds(), "downloaded": n})
}
