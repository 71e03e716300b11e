package main

import (
	"fmt"
	"io"

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
	api, err := newAPIClient(c)
	if err != nil {
		return err
	}
	req := auth.CreateRequest{Kind: boot.CredentialKind(c.String("kind")), Name: c.String("name")}
	return exchange(c, api, "POST", apiPath("credentials"), req, func(w io.Writer, iss auth.Issued) error {
		fmt.Fprintf(w, "Created %s credential %s (%s). Its secret is shown only now; store it safely.\n", iss.Kind, iss.ID, iss.Name)
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
	return exchange(c, api, "GET", apiPath("credentials"), nil, table([]string{"ID", "KIND", "NAME", "CREATED", "LAST USED"},
		func(cr auth.CredentialView) []string {
			return []string{cr.ID, string(cr.Kind), cr.Name, formatTime(cr.Created), formatTime(cr.LastUsed)}
		}))
}

func credentialsRevoke(c *cli.Context, api *apiClient, id string) error {
	return remove(c, api, apiPath("credentials", id), "revoked", id, "Credential "+id+" revoked.")
}
