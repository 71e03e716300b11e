package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// download is one run of the download role in a child process, timed like
// the installs: from exec to exit.
func download(ctx context.Context, url string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, childExe, "-role", "download", url)
	var errb strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("download %s: %w: %s", url, err, strings.TrimSpace(errb.String()))
	}
	return time.Since(t0), nil
}
