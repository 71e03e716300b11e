package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// clientAction adapts fn so that flags may also follow the positional
// arguments, as in `byoi deploy NAME --image-url …`: urfave/cli v2 stops
// parsing flags at the first argument, so the rest is parsed here. fn gets
// the positional arguments only. Required flags are checked after that
// (see requireFlags), not by urfave/cli, which would check too early.
func clientAction(fn func(c *cli.Context, args []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		args, err := lateFlags(c)
		if err != nil {
			return err
		}
		if c.Bool("help") {
			cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, c.Command)
			return nil
		}
		return fn(c, args)
	}
}

// parseFlagsOurselves makes every leaf command under cmds leave its
// arguments to lateFlags, so that flags go anywhere, and an unknown flag
// gets a suggestion and no page of help.
func parseFlagsOurselves(cmds []*cli.Command) []*cli.Command {
	for _, c := range cmds {
		if c.Action != nil && len(c.Subcommands) == 0 {
			c.SkipFlagParsing = true
		}
		parseFlagsOurselves(c.Subcommands)
	}
	return cmds
}

// apiAction is clientAction for commands that take no argument and talk
// to the server.
func apiAction(fn func(c *cli.Context, api *apiClient) error) cli.ActionFunc {
	return clientAction(func(c *cli.Context, args []string) error {
		if len(args) != 0 {
			return fmt.Errorf("%s: unexpected arguments %q", commandName(c), args)
		}
		api, err := newAPIClient(c)
		if err != nil {
			return err
		}
		return fn(c, api)
	})
}

// argAction is clientAction for commands whose one argument is what (e.g.
// "the credential ID") and that talk to the server.
func argAction(what string, fn func(c *cli.Context, api *apiClient, arg string) error) cli.ActionFunc {
	return clientAction(func(c *cli.Context, args []string) error {
		arg, err := oneArg(c, args, what)
		if err != nil {
			return err
		}
		api, err := newAPIClient(c)
		if err != nil {
			return err
		}
		return fn(c, api, arg)
	})
}

// machineAction is argAction for commands whose one argument is a machine
// name.
func machineAction(fn func(c *cli.Context, api *apiClient, name string) error) cli.ActionFunc {
	return argAction("the machine name", fn)
}

// lateFlags sets the flags found among c's arguments and returns the
// other arguments. "--" ends the flags.
func lateFlags(c *cli.Context) ([]string, error) {
	in := c.Args().Slice()
	var args []string
	for i := 0; i < len(in); i++ {
		a := in[i]
		if a == "--" {
			return append(args, in[i+1:]...), nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			args = append(args, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := lookupFlag(c.Command.Flags, name)
		if f == nil {
			return nil, unknownFlag(c, name)
		}
		if !hasValue {
			if _, isBool := f.(*cli.BoolFlag); isBool {
				value = "true"
			} else {
				if i+1 >= len(in) {
					return nil, fmt.Errorf("%s: flag --%s needs a value", commandName(c), name)
				}
				i++
				value = in[i]
			}
		}
		for _, n := range f.Names() { // urfave/cli keeps one value per alias
			if err := c.Set(n, value); err != nil {
				return nil, fmt.Errorf("%s: invalid value %q for --%s: %s", commandName(c), value, name, flagValueProblem(f, err))
			}
		}
	}
	return args, nil
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// requireFlags fails, as urfave/cli would, when a flag is not set.
func requireFlags(c *cli.Context, names ...string) error {
	var missing []string
	for _, n := range names {
		if !c.IsSet(n) {
			missing = append(missing, `"`+n+`"`)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("required flag %s not set", missing[0])
	}
	return fmt.Errorf("required flags %s not set", strings.Join(missing, ", "))
}

// oneArg returns the single positional argument, named what in the error.
func oneArg(c *cli.Context, args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("%s: expected one argument, %s, got %d", commandName(c), what, len(args))
	}
	return args[0], nil
}

// commandName is the command's full name without the program's, e.g.
// "machines show".
func commandName(c *cli.Context) string {
	if name := strings.TrimPrefix(c.Command.HelpName, c.App.Name+" "); name != "" {
		return name
	}
	return c.Command.FullName()
}

// flagValueProblem phrases a flag parsing error by the flag's type,
// without Go's internals ("strconv.ParseInt: parsing …: invalid syntax").
func flagValueProblem(f cli.Flag, err error) string {
	switch f.(type) {
	case *cli.DurationFlag, *altsrc.DurationFlag:
		return "a duration such as 500ms, 2s or 1m30s is expected"
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *altsrc.IntFlag:
		return "a whole number is expected"
	case *cli.BoolFlag, *altsrc.BoolFlag:
		return "true or false is expected"
	}
	return err.Error()
}
