package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/byoi/byoi/store"
	"github.com/urfave/cli/v2"
)

// controlSocketFile is the Unix socket in the state dir on which `byoi
// serve` answers local maintenance requests (a hot backup). Only who can
// open the state dir can connect: the same people who could read the store
// file itself (SECURITY.md, "the host is trusted").
const controlSocketFile = "byoi.sock"

// serveControl answers GET /backup on the state dir's socket until ctx
// ends.
func serveControl(ctx context.Context, stateDir string, st *store.Store, log *slog.Logger) (func(), error) {
	path := filepath.Join(stateDir, controlSocketFile)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	old := syscall.Umask(0o077)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		n, err := st.Backup(r.Context(), w, func(size int64) { w.Header().Set("Content-Length", strconv.FormatInt(size, 10)) })
		if err != nil {
			log.Error("backup failed", "bytes", n, "err", err)
			if n == 0 {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
			return
		}
		log.Info("backup sent", "bytes", n)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(l)
	return func() { hs.Close(); os.Remove(path) }, nil
}

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "write a consistent copy of the state database to FILE, while byoi serves (run it on the server, as the user byoi runs as, or root)",
		ArgsUsage: "FILE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Value: "state", Usage: "the server's state dir (/var/lib/byoi for the packaged service)", EnvVars: []string{"BYOI_STATE_DIR"}},
		},
		Action: clientAction(func(c *cli.Context, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("backup: expected one argument, the file to write, got %d", len(args))
			}
			dest, dir := args[0], c.String("state-dir")
			if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
				return fmt.Errorf("backup: %s is a directory: give a file name", dest)
			}
			n, how, err := backup(c.Context, dir, dest)
			if err != nil {
				return err
			}
			ms, ts, err := checkBackup(c.Context, dest)
			if err != nil {
				return fmt.Errorf("backup written to %s but it does not open as a store: %w", dest, err)
			}
			_, err = fmt.Fprintf(c.App.Writer, "Backup of %s written to %s (%d bytes, %s): %d machines, %d tasks.\n",
				filepath.Join(dir, storeFile), dest, n, how, ms, ts)
			return err
		}),
	}
}

// backup copies the store of state dir to dest: from the running server
// through its control socket, else from the file (no server running).
func backup(ctx context.Context, dir, dest string) (int64, string, error) {
	sock := filepath.Join(dir, controlSocketFile)
	if _, err := os.Stat(sock); err == nil {
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://byoi/backup", nil)
		resp, err := hc.Do(req)
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return 0, "", fmt.Errorf("backup: the server answered %s: %s", resp.Status, msg)
			}
			n, err := store.WriteFileAtomic(dest, func(w io.Writer) (int64, error) {
				n, err := io.Copy(w, resp.Body)
				if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
					err = fmt.Errorf("copy cut short: %d of %d bytes", n, resp.ContentLength)
				}
				return n, err
			})
			return n, "hot copy from the running server", err
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
			return 0, "", fmt.Errorf("backup: %s: %w", sock, err)
		}
	}
	db := filepath.Join(dir, storeFile)
	if _, err := os.Stat(db); err != nil {
		return 0, "", fmt.Errorf("backup: no store in %s (%v): is --state-dir right?", dir, err)
	}
	st, err := store.Open(db, store.Options{Timeout: time.Second})
	if err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	defer st.Close()
	n, err := st.BackupFile(ctx, dest)
	return n, "no server running: copied from the file", err
}

// checkBackup opens the copy and counts what it holds.
func checkBackup(ctx context.Context, path string) (machines, tasks int, err error) {
	st, err := store.Open(path, store.Options{Timeout: time.Second})
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	ms, err := st.Machines(ctx)
	if err != nil {
		return 0, 0, err
	}
	ts, err := st.RecentTasks(ctx, 0, nil)
	return len(ms), len(ts), err
}
