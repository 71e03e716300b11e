package e2e

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// serialFile follows the serial log a VM writes to a file (the VMs of
// e2e/bmc: QEMU started by a BMC, appended to across QEMU runs). Each Wait
// scans from where the previous one matched, so markers are found in the
// order the flow expects them.
type serialFile struct {
	t     *testing.T
	name  string
	path  string
	off   int64     // start of the first line not yet matched
	start time.Time // what Since counts from
}

func newSerialFile(t *testing.T, name, path string) *serialFile {
	return &serialFile{t: t, name: name, path: path, start: time.Now()}
}

// Restart makes Since count from now (e.g. when byoi sent a power cycle).
func (s *serialFile) Restart() { s.start = time.Now() }

// Since is the time since the last Restart.
func (s *serialFile) Since() time.Duration { return time.Since(s.start).Round(100 * time.Millisecond) }

// Wait returns the first complete line after the previous match that
// contains marker (ANSI sequences removed), failing the test on timeout.
func (s *serialFile) Wait(marker string, timeout time.Duration) string {
	s.t.Helper()
	line, err := s.WaitAny([]string{marker}, timeout)
	if err != nil {
		s.t.Fatalf("vm %s: waiting for %q: %v (serial log: %s)\n%s", s.name, marker, err, s.path, s.tail(30))
	}
	return line
}

// WaitAny returns the first new line holding any of the markers.
func (s *serialFile) WaitAny(markers []string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(s.path)
		if int64(len(b)) > s.off {
			rest := b[s.off:]
			for {
				i := bytes.IndexByte(rest, '\n')
				if i < 0 {
					break // an incomplete line: read it again next time
				}
				line := ansiRE.ReplaceAllString(string(rest[:i]), "")
				s.off += int64(i + 1)
				rest = rest[i+1:]
				for _, m := range markers {
					if strings.Contains(line, m) {
						return line, nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("timed out after %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tail returns the last n lines of the log.
func (s *serialFile) tail(n int) string {
	b, _ := os.ReadFile(s.path)
	lines := strings.Split(ansiRE.ReplaceAllString(string(b), ""), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
