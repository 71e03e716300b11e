package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
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
// is, how to authenticate and how to print. Unset, --server and the token
// come from the user's config (`byoi login`), else the defaults.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "server", Value: defaultServer, Usage: "URL of the byoi server (default: the user config's, else " + defaultServer + ")", EnvVars: []string{"BYOI_SERVER"}},
		&cli.StringFlag{Name: "token", Usage: "API bearer token", EnvVars: []string{"BYOI_TOKEN"}},
		&cli.StringFlag{Name: "token-file", Usage: "file holding the API token (default: the user config's, else STATE-DIR/" + auth.AdminTokenFile + ")", EnvVars: []string{"BYOI_TOKEN_FILE"}},
		&cli.StringFlag{Name: "state-dir", Value: "state", Usage: "state dir of a local server, to read its admin token (and its self-signed API certificate)", EnvVars: []string{"BYOI_STATE_DIR"}},
		&cli.StringFlag{Name: "ca-cert", Usage: "PEM certificate to trust for an https:// --server, besides the system's (default: STATE-DIR/" + selfSignedCert + " when it exists)", EnvVars: []string{"BYOI_CA_CERT"}},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json"},
	}
}

// withClientFlags appends the client flags to a command's own.
func withClientFlags(flags ...cli.Flag) []cli.Flag { return append(flags, clientFlags()...) }

// clientCommands are the commands that talk to a running server's native
// API (/api/v1). main.go mounts them beside serve.
func clientCommands() []*cli.Command {
	return parseFlagsOurselves([]*cli.Command{
		loginCommand(),
		deployCommand(),
		statusCommand(),
		waitCommand(),
		cancelCommand(),
		tasksCommand(),
		machinesCommand(),
		credentialsCommand(),
		keysCommand(),
		powerCommand(),
		rescueCommand(),
		bootCommand(),
		backupCommand(),
	})
}

// apiClient calls the native API of one server.
type apiClient struct {
	base  *url.URL
	token string
	hc    *http.Client
	json  bool // --output json
}

// newAPIClient builds a client from the command's flags, the user's
// config and the defaults, in that order.
func newAPIClient(c *cli.Context) (*apiClient, error) {
	out := c.String("output")
	if out != "text" && out != "json" {
		return nil, fmt.Errorf("--output %q: use text or json", out)
	}
	cfg, cfgPath, err := loadUserConfig()
	if err != nil {
		return nil, err
	}
	raw := c.String("server")
	if !c.IsSet("server") && cfg.Server != "" {
		raw = cfg.Server
	}
	base, err := parseServerURL(raw)
	if err != nil {
		return nil, err
	}
	token, err := findToken(c, cfg, cfgPath)
	if err != nil {
		return nil, err
	}
	var tc *tls.Config
	if base.Scheme == "https" {
		if tc, err = clientTLS(c.String("ca-cert"), filepath.Join(c.String("state-dir"), selfSignedCert)); err != nil {
			return nil, err
		}
	}
	return &apiClient{base: base, token: token, hc: newHTTPClient(tc), json: out == "json"}, nil
}

// newHTTPClient is the client's HTTP client: a server that does not answer
// is noticed within seconds (connect timeout), a slow answer gets 30 s;
// tc (may be nil) trusts an https server's certificate.
func newHTTPClient(tc *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}
}

// parseServerURL checks a --server value.
func parseServerURL(raw string) (*url.URL, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--server %q: an http:// or https:// URL is expected", raw)
	}
	return base, nil
}

// findToken returns the API token: --token, else --token-file, else the
// user config's token file, else a local server's admin token.
func findToken(c *cli.Context, cfg userConfig, cfgPath string) (string, error) {
	if t := strings.TrimSpace(c.String("token")); t != "" {
		return t, nil
	}
	path, from := "", ""
	switch {
	case c.IsSet("token-file"):
		path, from = c.String("token-file"), "--token-file"
	case cfg.TokenFile != "" && !c.IsSet("state-dir"):
		path, from = cfg.TokenFile, cfgPath
	default:
		path, from = filepath.Join(c.String("state-dir"), auth.AdminTokenFile), ""
	}
	token, err := auth.ReadTokenFile(path)
	switch {
	case err == nil:
		return token, nil
	case errors.Is(err, fs.ErrNotExist) && from == "":
		return "", fmt.Errorf("no API token: run `byoi login` once (it keeps the server URL and a token file in %s), or set --token or BYOI_TOKEN", displayPath(cfgPath))
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("token file %s (from %s) does not exist: run `byoi login` again", path, from)
	}
	return "", fmt.Errorf("reading the API token from %s: %w", path, err)
}

// displayPath shows a path under the home directory as ~/….
func displayPath(p string) string {
	if home, err := os.UserHomeDir(); err == nil && strings.HasPrefix(p, home+"/") {
		return "~/" + strings.TrimPrefix(p, home+"/")
	}
	return p
}

// clientTLS trusts the system's roots plus caFile, or plus the local
// server's self-signed certificate when caFile is empty and it exists.
func clientTLS(caFile, localCert string) (*tls.Config, error) {
	path := caFile
	if path == "" {
		if _, err := os.Stat(localCert); err != nil {
			return &tls.Config{MinVersion: tls.VersionTLS12}, nil
		}
		path = localCert
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in it", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
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

// queryEscape escapes a query parameter value.
func queryEscape(s string) string { return url.QueryEscape(s) }
