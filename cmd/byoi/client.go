package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/byoi/byoi/server/auth"
	"github.com/urfave/cli/v2"
)

// defaultServer is where the client commands look for byoi when neither
// --server nor BYOI_SERVER says otherwise.
const defaultServer = "http://127.0.0.1:8080"

// clientFlags are the flags every client command takes: where the server
// is, how to authenticate and how to print.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "server", Value: defaultServer, Usage: "URL of the byoi server", EnvVars: []string{"BYOI_SERVER"}},
		&cli.StringFlag{Name: "token", Usage: "API bearer token (default: read STATE-DIR/" + auth.AdminTokenFile + ")", EnvVars: []string{"BYOI_TOKEN"}},
		&cli.StringFlag{Name: "state-dir", Value: "state", Usage: "state dir of a local server, to read its admin token", EnvVars: []string{"BYOI_STATE_DIR"}},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json"},
	}
}

// withClientFlags appends the client flags to a command's own.
func withClientFlags(flags ...cli.Flag) []cli.Flag { return append(flags, clientFlags()...) }

// clientCommands are the commands that talk to a running server's native
// API (/api/v1). main.go mounts them beside serve.
func clientCommands() []*cli.Command {
	return []*cli.Command{
		deployCommand(),
		statusCommand(),
		waitCommand(),
		cancelCommand(),
		tasksCommand(),
		machinesCommand(),
		credentialsCommand(),
	}
}

// apiClient calls the native API of one server.
type apiClient struct {
	base  *url.URL
	token string
	hc    *http.Client
	json  bool // --output json
}

// newAPIClient builds a client from the command's flags.
func newAPIClient(c *cli.Context) (*apiClient, error) {
	out := c.String("output")
	if out != "text" && out != "json" {
		return nil, fmt.Errorf("--output %q: use text or json", out)
	}
	raw := strings.TrimRight(c.String("server"), "/")
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--server %q: an http:// or https:// URL is expected", raw)
	}
	token := strings.TrimSpace(c.String("token"))
	if token == "" {
		path := filepath.Join(c.String("state-dir"), auth.AdminTokenFile)
		token, err = auth.ReadTokenFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no API token: set --token or BYOI_TOKEN, or run beside the server so %s can be read", path)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the API token: %w", err)
		}
	}
	return &apiClient{base: base, token: token, hc: &http.Client{Timeout: 30 * time.Second}, json: out == "json"}, nil
}

// apiError is an error answered by the server: its status and the class
// and message of OVH's error shape.
type apiError struct {
	Status  int
	Class   string
	Message string
}

func (e *apiError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// path joins API path segments, escaping each.
func apiPath(segments ...string) string {
	var b strings.Builder
	b.WriteString("/api/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// do sends a request with in as JSON body (when not nil), decodes a 2xx
// answer into out (when not nil) and returns the raw answer.
func (a *apiClient) do(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	target := strings.TrimRight(a.base.String(), "/") + path // path is already escaped
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach byoi at %s: %w", a.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
			if len(e.Message) > 200 {
				e.Message = e.Message[:200] + "…"
			}
		}
		return nil, e
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return raw, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
