// Command byoi is the one CLI of byoi: `byoi serve` runs the service (DHCP,
// TFTP, HTTP, the web UI); the other commands talk to a running server's
// native API.
//
//	byoi serve --interface eth1 --dhcp-mode proxy
//	byoi login --server https://byoi.lab:8080
//	byoi machines add rack1-07 --mac 52:54:00:12:34:56
//	byoi deploy rack1-07 --image-url https://… --image-type qcow2 --wait
//
// Only this package reads flags, environment variables and config files,
// and only main exits.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "byoi:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := newApp(stdout, stderr)
	return app.RunContext(ctx, args)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:    "byoi",
		Usage:   "bring your own image to bare-metal machines: network boot, install, boot from disk",
		Version: currentBuild().String(),
		Writer:  stdout, ErrWriter: stderr,
		Commands: append([]*cli.Command{
			serveCommand(),
			initramfsCommand(),
		}, clientCommands()...),
		Suggest:              true,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // main prints and exits
	}
	app.Commands = append(app.Commands, completionCommand(app), helpCommand())
	app.HideHelpCommand = true
	app.Action = func(c *cli.Context) error {
		if c.Args().Len() == 0 {
			return cli.ShowAppHelp(c)
		}
		return unknownCommand("", c.App.Commands, c.Args().First())
	}
	for _, cmd := range app.Commands {
		guardSubcommands(cmd, "")
	}
	return app
}

// guardSubcommands makes a command group refuse an unknown subcommand with
// a suggestion instead of printing its help and succeeding.
func guardSubcommands(cmd *cli.Command, parent string) {
	if len(cmd.Subcommands) == 0 {
		return
	}
	path := parent + cmd.Name
	subs := cmd.Subcommands
	cmd.HideHelpCommand = true // byoi help GROUP SUB instead (see helpCommand)
	if cmd.Action == nil {
		cmd.Action = func(c *cli.Context) error {
			if c.Args().Len() == 0 {
				return cli.ShowSubcommandHelp(c)
			}
			return unknownCommand(path, subs, c.Args().First())
		}
	}
	for _, s := range subs {
		guardSubcommands(s, path+" ")
	}
}
