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
	"sync"
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

// parsing serialises flag parsing across concurrent runs in one process
// (the tests run `byoi serve` and client commands side by side). urfave/cli
// v2 appends its package-level HelpFlag and VersionFlag to every app and
// command, and BoolFlag.Apply writes to the flag it is called on, so two
// runs parsing flags at once race on those two variables. A run holds the
// lock from its start until its command's action begins.
var parsing sync.Mutex

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	parsing.Lock()
	var once sync.Once
	parsed := func() { once.Do(parsing.Unlock) }
	defer parsed()
	app := newApp(stdout, stderr)
	app.Action = afterParsing(app.Action, parsed)
	var wrap func([]*cli.Command)
	wrap = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.Action = afterParsing(c.Action, parsed)
			wrap(c.Subcommands)
		}
	}
	wrap(app.Commands)
	return app.RunContext(ctx, args)
}

// afterParsing returns action preceded by parsed; nil stays nil.
func afterParsing(action cli.ActionFunc, parsed func()) cli.ActionFunc {
	if action == nil {
		return nil
	}
	return func(c *cli.Context) error {
		parsed()
		return action(c)
	}
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
