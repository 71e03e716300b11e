package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/byoi/byoi/server/auth"
	"github.com/urfave/cli/v2"
)

// keysCommand manages the server key that seals OVH application secrets,
// through the running server (which holds the store and the keyring).
func keysCommand() *cli.Command {
	return &cli.Command{
		Name:  "keys",
		Usage: "list and rotate the server key that seals OVH application secrets",
		Subcommands: []*cli.Command{
			{Name: "list", Aliases: []string{"ls"}, Usage: "list the key versions and how many secrets each seals", Flags: withClientFlags(), Action: apiAction(keysList)},
			{
				Name: "rotate", Usage: "make a new key version and seal every stored secret again with it",
				Flags: withClientFlags(
					&cli.BoolFlag{Name: "retire-old", Usage: "drop the old versions afterwards (a store restored from an older backup can then no longer be opened)"},
				),
				Action: apiAction(keysRotate),
			},
		},
	}
}

func keysList(c *cli.Context, api *apiClient) error {
	return exchange(c, api, "GET", apiPath("keys"), nil, table([]string{"VERSION", "CURRENT", "SECRETS"},
		func(v auth.KeyVersion) []string {
			cur := ""
			if v.Current {
				cur = "yes"
			}
			return []string{fmt.Sprint(v.Version), cur, fmt.Sprint(v.Credentials)}
		}))
}

func keysRotate(c *cli.Context, api *apiClient) error {
	req := auth.RotateRequest{RetireOld: c.Bool("retire-old")}
	return exchange(c, api, "POST", apiPath("keys", "rotate"), req, func(w io.Writer, res auth.RotateResult) error {
		fmt.Fprintf(w, "Server key version %d is current; %d secrets sealed again with it.\n", res.Version, res.Resealed)
		if len(res.Retired) > 0 {
			fmt.Fprintf(w, "Retired versions: %s.\n", strings.Trim(fmt.Sprint(res.Retired), "[]"))
		}
		if len(res.Unreadable) > 0 {
			fmt.Fprintf(w, "Not readable with any key version (left as they are): %s.\n", strings.Join(res.Unreadable, ", "))
		}
		return nil
	})
}
