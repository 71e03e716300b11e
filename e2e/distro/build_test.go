package distro

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// TestBuildRootfs builds (or finds cached) the root file system. It takes
// ~20 minutes the first time, so it runs only with BYOI_DISTRO_BUILD=1; the
// e2e suite builds the same entries when it needs them.
func TestBuildRootfs(t *testing.T) {
	if os.Getenv("BYOI_DISTRO_BUILD") != "1" {
		t.Skip("set BYOI_DISTRO_BUILD=1 to build the real images")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	b := Builder{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	root, err := b.Rootfs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rootfs at %s", root)
}
