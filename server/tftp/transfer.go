package tftp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// Errors a client sees. They never name a path on the server.
var (
	errRefused  = errors.New("access violation")
	errNotFound = errors.New("file not found")
)

// cleanName checks a requested file name: a relative path of visible
// components inside the root. TFTP names are taken literally (nothing is
// percent-decoded); names a PXE client has no reason to send are refused
// rather than interpreted.
func cleanName(name string) (string, error) {
	if name == "" || len(name) > 255 {
		return "", fmt.Errorf("name of %d bytes", len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("control character %#x", c)
		}
	}
	switch {
	case strings.HasPrefix(name, "/"):
		return "", errors.New("absolute path")
	case strings.ContainsAny(name, `\%`):
		return "", errors.New("backslash or percent sign")
	}
	for _, part := range strings.Split(name, "/") {
		switch {
		case part == "":
			return "", errors.New("empty path component")
		case part[0] == '.':
			return "", errors.New(`"." , ".." or hidden component`)
		}
	}
	return name, nil
}

// handleRead serves one read request.
func (s *Server) handleRead(name string, rf io.ReaderFrom) error {
	start := time.Now()
	client := ""
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		addr := ot.RemoteAddr()
		client = addr.String()
	}
	log := s.log.With("client", client, "file", name)

	clean, err := cleanName(name)
	if err != nil {
		s.metrics.transfer(outcomeRefused)
		log.Warn("tftp request refused", "reason", err.Error())
		return errRefused
	}
	f, err := s.open(clean)
	if err != nil {
		outcome, reply := outcomeNotFound, errNotFound
		if !errors.Is(err, fs.ErrNotExist) {
			outcome, reply = outcomeRefused, errRefused
		}
		s.metrics.transfer(outcome)
		log.Warn("tftp request failed", "outcome", outcome, "err", err)
		return reply
	}
	defer f.Close()
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		if fi, err := f.Stat(); err == nil {
			ot.SetSize(fi.Size())
		}
	}
	n, err := rf.ReadFrom(f)
	s.metrics.bytes.Add(float64(n))
	d := time.Since(start)
	if err != nil {
		s.metrics.transfer(outcomeFailed)
		log.Warn("tftp transfer failed", "bytes", n, "duration", d, "err", err)
		return err
	}
	s.metrics.transfer(outcomeOK)
	log.Info("tftp transfer", "bytes", n, "duration", d)
	return nil
}

// open opens a regular file under the root. os.Root refuses any path,
// symbolic links included, that resolves outside the directory.
func (s *Server) open(name string) (*os.File, error) {
	root, err := os.OpenRoot(s.cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("open root: %w", err)
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	return f, nil
}

// hook receives pin/tftp's transfer events. Transfers are logged and
// counted by the handlers; the hook only sees requests that never reached
// one (malformed or unexpected packets).
type hook struct{ s *Server }

func (h hook) OnSuccess(tftp.TransferStats) {}

func (h hook) OnFailure(st tftp.TransferStats, err error) {
	if st.Filename != "" {
		return
	}
	h.s.metrics.transfer(outcomeMalformed)
	h.s.log.Debug("tftp packet dropped", "client", st.RemoteAddr, "err", err)
}
