package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/auth"
	"github.com/urfave/cli/v2"
)

func credentialsCommand() *cli.Command {
	return &cli.Command{
		Name:  "credentials",
		Usage: "create, list and revoke API credentials (OVH application keys, bearer tokens)",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a credential; its secrets are shown once", Action: clientAction(credentialsCreate),
				Flags: withClientFlags(
					&cli.StringFlag{Name: "kind", Usage: "ovh (application key, secret and consumer key for OVH clients) or token (bearer token for this CLI); required"},
					&cli.StringFlag{Name: "name", Usage: "what the credential is for; required"},
					&cli.StringSliceFlag{Name: "rule", Usage: `allow only these calls, as OVH's access rules: "METHOD /path" with * for any characters, e.g. 'GET /*' or 'POST /dedicated/server/*/reinstall' (repeatable; none: every call)`},
					&cli.DurationFlag{Name: "expires", Usage: "the credential stops working after this long, e.g. 24h (default: never)"},
				),
			},
			{Name: "list", Aliases: []string{"ls"}, Usage: "list credentials (never their secrets)", Flags: withClientFlags(), Action: apiAction(credentialsList)},
			{Name: "revoke", Usage: "revoke a credential at once", ArgsUsage: "ID", Flags: withClientFlags(), Action: argAction("the credential ID", credentialsRevoke)},
		},
	}
}

func credentialsCreate(c *cli.Context, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("credentials create: unexpected arguments %q", args)
	}
	if err := requireFlags(c, "kind", "name"); err != nil {
		return err
	}
	req := auth.CreateRequest{Kind: boot.CredentialKind(c.String("kind")), Name: c.String("name")}
	for _, s := range c.StringSlice("rule") {
		r, err := auth.ParseRule(s)
		if err != nil {
			return fmt.Errorf("--rule: %w", err)
		}
		req.Rules = append(req.Rules, r)
	}
	if d := c.Duration("expires"); d != 0 {
		if d < time.Second || d%time.Second != 0 {
			return fmt.Errorf("--expires %s: a whole number of seconds, at least 1s", d)
		}
		req.ExpiresIn = int64(d / time.Second)
	}
	api, err := newAPIClient(c)
	if err != nil {
		return err
	}
	return exchange(c, api, "POST", apiPath("credentials"), req, func(w io.Writer, iss auth.Issued) error {
		fmt.Fprintf(w, "Created %s credential %s (%s). Its secret is shown only now; store it safely.\n", iss.Kind, iss.ID, iss.Name)
		if len(iss.Rules) > 0 {
			fmt.Fprintf(w, "  allowed calls: %s\n", formatRules(iss.Rules))
		}
		if !iss.Expires.IsZero() {
			fmt.Fprintf(w, "  expires: %s\n", formatTime(iss.Expires))
		}
		switch iss.Kind {
		case boot.CredentialToken:
			fmt.Fprintf(w, "  token: %s\n", iss.Token)
			fmt.Fprintf(w, "Use it with --token or BYOI_TOKEN.\n")
		case boot.CredentialOVH:
			fmt.Fprintf(w, "  application key:    %s\n", iss.ApplicationKey)
			fmt.Fprintf(w, "  application secret: %s\n", iss.ApplicationSecret)
			fmt.Fprintf(w, "  consumer key:       %s\n", iss.ConsumerKey)
			fmt.Fprintf(w, "Use them with any OVH API client, endpoint %s/1.0\n", api.base)
		}
		return nil
	})
}

func credentialsList(c *cli.Context, api *apiClient) error {
	return exchange(c, api, "GET", apiPath("credentials"), nil, table([]string{"ID", "KIND", "NAME", "CREATED", "LAST USED", "EXPIRES", "ALLOWED CALLS"},
		func(cr auth.CredentialView) []string {
			rules := "all"
			if len(cr.Rules) > 0 {
				rules = formatRules(cr.Rules)
			}
			return []string{cr.ID, string(cr.Kind), cr.Name, formatTime(cr.Created), formatTime(cr.LastUsed), formatTime(cr.Expires), rules}
		}))
}

// formatRules prints access rules as --rule takes them.
func formatRules(rules []boot.AccessRule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = r.Method + " " + r.Path
	}
	return strings.Join(parts, ", ")
}

func credentialsRevoke(c *cli.Context, api *apiClient, id string) error {
	return remove(c, api, apiPath("credentials", id), "revoked", id, "Credential "+id+" revoked.")
}
