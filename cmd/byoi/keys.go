package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

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
			{Name: "list", Aliases: []string{"ls"}, Usage: "list the key versions and how many secrets each seals", Flags: withClientFlags(), Action: clientAction(keysList)},
			{
				Name: "rotate", Usage: "make a new key version and seal every stored secret again with it",
				Flags: withClientFlags(
					&cli.BoolFlag{Name: "retire-old", Usage: "drop the old versions afterwards (a store restored from an older backup can then no longer be opened)"},
				),
				Action: clientAction(keysRotate),
			},
		},
	}
}

func keysList(c *cli.Context, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("keys list: unexpected arguments %q", args)
	}
	api, err := newAPIClient(c)
	if err != nil {
		return err
	}
	var vs []auth.KeyVersion
	raw, err := api.do(c.Context, "GET", apiPath("keys"), nil, &vs)
	if err != nil {
		return err
	}
	if api.json {
		return printJSON(c.App.Writer, raw, nil)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCURRENT\tSECRETS")
	for _, v := range vs {
		cur := ""
		if v.Current {
			cur = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\n", v.Version, cur, v.Credentials)
	}
	return tw.Flush()
}

func keysRotate(c *cli.Context, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("keys rotate: unexpected arguments %q", args)
	}
	api, err := newAPIClient(c)
	if err != nil {
		return err
	}
	var res auth.RotateResult
	raw, err := api.do(c.Context, "POST", apiPath("keys", "rotate"), auth.RotateRequest{RetireOld: c.Bool("retire-old")}, &res)
	if err != nil {
		return err
	}
	if api.json {
		return printJSON(c.App.Writer, raw, nil)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "Server key version %d is current; %d secrets sealed again with it.\n", res.Version, res.Resealed)
	if len(res.Retired) > 0 {
		fmt.Fprintf(w, "Retired versions: %s.\n", joinInts(res.Retired))
	}
	if len(res.Unreadable) > 0 {
		fmt.Fprintf(w, "Not readable with any key version (left as they are): %s.\n", strings.Join(res.Unreadable, ", "))
	}
	return nil
}

func joinInts(vs []int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
