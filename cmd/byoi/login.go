package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/byoi/byoi/server/auth"
	"github.com/urfave/cli/v2"
)

func loginCommand() *cli.Command {
	return &cli.Command{
		Name:  "login",
		Usage: "check a token against a server and keep both for the next commands (in ~/.config/byoi/config.yaml)",
		UsageText: "byoi login --server https://byoi.lab:8080   (asks for the token)\n" +
			"   byoi login --server http://127.0.0.1:8080 --state-dir /var/lib/byoi   (takes the local server's admin token)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Value: defaultServer, Usage: "URL of the byoi server", EnvVars: []string{"BYOI_SERVER"}},
			&cli.StringFlag{Name: "token", Usage: "the token (default: read from --state-dir, else asked for, or read from standard input)", EnvVars: []string{"BYOI_TOKEN"}},
			&cli.StringFlag{Name: "state-dir", Usage: "take the admin token of the server whose state dir this is"},
			&cli.StringFlag{Name: "token-file", Usage: "where to keep the token (default: token beside the config file)"},
		},
		Action: clientAction(func(c *cli.Context, args []string) error {
			if len(args) != 0 {
				return fmt.Errorf("login: unexpected arguments %q", args)
			}
			base, err := parseServerURL(c.String("server"))
			if err != nil {
				return err
			}
			cfgPath, err := userConfigPath()
			if err != nil {
				return err
			}
			token, err := loginToken(c)
			if err != nil {
				return err
			}
			var tc *tls.Config
			if base.Scheme == "https" {
				if tc, err = clientTLS(c.String("ca-cert"), filepath.Join(c.String("state-dir"), selfSignedCert)); err != nil {
					return err
				}
			}
			api := &apiClient{base: base, token: token, hc: newHTTPClient(tc)}
			var ms []struct{}
			if _, err := api.do(c.Context, "GET", apiPath("machines"), nil, &ms); err != nil {
				return fmt.Errorf("login to %s: %w", base, err)
			}
			tokenFile := c.String("token-file")
			if tokenFile == "" {
				tokenFile = filepath.Join(filepath.Dir(cfgPath), "token")
			}
			if tokenFile, err = filepath.Abs(tokenFile); err != nil {
				return err
			}
			if err := writePrivateFile(tokenFile, []byte(token+"\n")); err != nil {
				return fmt.Errorf("saving the token: %w", err)
			}
			if err := saveUserConfig(cfgPath, userConfig{Server: base.String(), TokenFile: tokenFile}); err != nil {
				return fmt.Errorf("saving %s: %w", cfgPath, err)
			}
			_, err = fmt.Fprintf(c.App.Writer, "Logged in to %s (%d machines). Server and token file saved in %s.\n", base, len(ms), displayPath(cfgPath))
			return err
		}),
	}
}

// loginToken finds the token to log in with: --token, the state dir's
// admin token, else a prompt on a terminal (not echoed) or a line of
// standard input.
func loginToken(c *cli.Context) (string, error) {
	if t := strings.TrimSpace(c.String("token")); t != "" {
		return t, nil
	}
	if dir := c.String("state-dir"); dir != "" {
		return auth.ReadTokenFile(filepath.Join(dir, auth.AdminTokenFile))
	}
	in := os.Stdin
	if term.IsTerminal(int(in.Fd())) {
		fmt.Fprint(c.App.ErrWriter, "API token: ")
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(c.App.ErrWriter)
		if err != nil {
			return "", fmt.Errorf("reading the token: %w", err)
		}
		return checkedToken(string(b))
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the token from standard input: %w", err)
	}
	return checkedToken(line)
}

func checkedToken(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("no token given: paste a byoi API token (`byoi credentials create --kind token` makes one)")
	}
	return s, nil
}
