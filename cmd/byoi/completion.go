package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// bashCompletion asks byoi itself for the words that can follow (urfave's
// --generate-bash-completion), so it always matches the binary.
const bashCompletion = `# byoi completion for bash: eval "$(byoi completion bash)"
_byoi_complete() {
	local cur words
	cur="${COMP_WORDS[COMP_CWORD]}"
	if [[ "$cur" == -* ]]; then
		words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
	else
		words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o bashdefault -o default -F _byoi_complete byoi
`

const zshCompletion = `# byoi completion for zsh: eval "$(byoi completion zsh)"
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

func completionCommand(app *cli.App) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: eval \"$(byoi completion bash)\" (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return fmt.Errorf("completion: expected one argument, the shell (bash, zsh or fish), got %d", c.Args().Len())
			}
			switch sh := c.Args().First(); sh {
			case "bash":
				_, err := fmt.Fprint(c.App.Writer, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(c.App.Writer, zshCompletion)
				return err
			case "fish":
				s, err := app.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(c.App.Writer, s)
				return err
			default:
				if s, ok := closest(sh, []string{"bash", "zsh", "fish"}); ok {
					return fmt.Errorf("completion: unknown shell %q (did you mean %s?)", sh, s)
				}
				return fmt.Errorf("completion: unknown shell %q: use bash, zsh or fish", sh)
			}
		},
	}
}

// helpCommand is `byoi help [COMMAND [SUBCOMMAND]]`. byoi has its own:
// urfave/cli's help command is one package-level value it appends to
// every command group and mutates, which breaks a second App in the same
// process.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or one command's help: byoi help machines set",
		ArgsUsage: "[COMMAND [SUBCOMMAND]]",
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return cli.ShowAppHelp(c)
			}
			cmds, path := c.App.Commands, ""
			var cmd *cli.Command
			for _, a := range args {
				var found *cli.Command
				for _, x := range cmds {
					if x.HasName(a) {
						found = x
					}
				}
				if found == nil {
					return unknownCommand(path, cmds, a)
				}
				cmd, cmds, path = found, found.Subcommands, strings.TrimSpace(path+" "+found.Name)
			}
			if cmd.HelpName == "" {
				cmd.HelpName = "byoi " + path
			}
			if len(cmd.Subcommands) == 0 {
				cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, cmd)
				return nil
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 3, ' ', 0)
			fmt.Fprintf(w, "NAME:\n   byoi %s - %s\n\nUSAGE:\n   byoi %s COMMAND [options]\n\nCOMMANDS:\n", path, cmd.Usage, path)
			for _, sub := range cmd.Subcommands {
				if !sub.Hidden {
					fmt.Fprintf(w, "   %s\t%s\n", strings.Join(sub.Names(), ", "), sub.Usage)
				}
			}
			fmt.Fprintf(w, "\nbyoi help %s COMMAND shows a command's options.\n", path)
			return w.Flush()
		},
	}
}
