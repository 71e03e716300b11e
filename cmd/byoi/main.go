// Command byoi is the one CLI of byoi: `byoi serve` runs the service (DHCP,
// TFTP, HTTP); the other commands talk to a running server's native API.
//
//	byoi serve --interface eth1 --dhcp-mode proxy
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

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

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
	app := &cli.App{
		Name:    "byoi",
		Usage:   "bring your own image to bare-metal machines: network boot, install, boot from disk",
		Version: version,
		Writer:  stdout, ErrWriter: stderr,
		Commands: append([]*cli.Command{
			serveCommand(),
			initramfsCommand(),
		}, clientCommands()...),
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {}, // main prints and exits
	}
	return app.RunContext(ctx, args)
}
