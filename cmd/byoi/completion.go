package main

import (
	"fmt"

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
