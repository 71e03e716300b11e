package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// imageServer is the HTTP server the image parts download from: a child
// process (this binary, -role image-http) serving the work directory on
// 127.0.0.1 with Range and Last-Modified, the same server for byoi and for
// curl. Its own process, so that its CPU time is not byoi's and the Go
// runtime of the bench does not share a heap with it.
type imageServer struct {
	base string
	cmd  *exec.Cmd
}

func startImageServer(ctx context.Context, dir string) (*imageServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-role", "image-http", dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("image server: %w", err)
	}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		if a == "" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, errors.New("image server did not start")
		}
		return &imageServer{base: "http://" + a, cmd: cmd}, nil
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, errors.New("image server: no address after 10 s")
	}
}

func (s *imageServer) url(path string) string { return s.base + "/" + filepath.Base(path) }

// close stops the server process (by its PID) and waits for it.
func (s *imageServer) close() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// roleImageHTTP serves DIR on a free port of 127.0.0.1 and prints the
// address on its first line.
func roleImageHTTP(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: -role image-http DIR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ln.Addr().String())
	srv := &http.Server{Handler: http.FileServer(http.Dir(args[0]))}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
