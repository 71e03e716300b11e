// Command benchchild is byoi's side of the bench's installs, run by
// e2e/bench as a child process: benchchild -role install|download|idle ARGS.
// See package child.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/byoi/byoi/e2e/bench/child"
)

func main() {
	if len(os.Args) < 3 || os.Args[1] != "-role" {
		fmt.Fprintln(os.Stderr, "usage: benchchild -role install|download|idle ARGS")
		os.Exit(2)
	}
	args := os.Args[3:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := child.Run(ctx, os.Args[2], args, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchchild:", err)
		os.Exit(1)
	}
}
