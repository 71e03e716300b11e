package bmc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Redfishtool runs Debian's redfishtool against the service at host:port
// over https (-S Always) with basic authentication, and returns stdout. A
// non-zero exit or an "Error" on stderr is an error.
func Redfishtool(ctx context.Context, hostport, user, password string, args ...string) (string, error) {
	if err := mustLookPath("redfishtool", "redfishtool"); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	argv := append([]string{"-r", hostport, "-u", user, "-p", password, "-S", "Always", "-T", "30"}, args...)
	cmd := exec.CommandContext(ctx, "redfishtool", argv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	stderr := strings.TrimSpace(errb.String())
	if err == nil && strings.Contains(stderr, "Error") {
		err = fmt.Errorf("stderr has an error")
	}
	if err != nil {
		return out.String(), fmt.Errorf("redfishtool %s: %w: %s", strings.Join(args, " "), err, stderr)
	}
	return out.String(), nil
}

// RedfishtoolJSON runs Redfishtool and decodes its JSON output.
func RedfishtoolJSON(ctx context.Context, hostport, user, password string, args ...string) (map[string]any, error) {
	out, err := Redfishtool(ctx, hostport, user, password, args...)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return nil, fmt.Errorf("redfishtool %s: output is not JSON: %v: %q", strings.Join(args, " "), err, out)
	}
	return v, nil
}
