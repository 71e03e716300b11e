package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// closest returns the candidate nearest to s by edit distance, when it is
// near enough to be a typo (at most a third of its length, at least 1).
func closest(s string, candidates []string) (string, bool) {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(s, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(1, len(s)/3)
	if bestD < 0 || bestD > limit {
		return "", false
	}
	return best, true
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of two neighbours ("lsit"
// is one edit from "list").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// unknownFlag is the error for a flag a command does not have, with the
// nearest flag it does have.
func unknownFlag(c *cli.Context, name string) error {
	var names []string
	for _, f := range c.Command.Flags {
		names = append(names, f.Names()...)
	}
	msg := fmt.Sprintf("%s: unknown flag --%s", commandName(c), name)
	if s, ok := closest(name, names); ok {
		return fmt.Errorf("%s (did you mean --%s?)", msg, s)
	}
	return fmt.Errorf("%s (see `byoi help %s`)", msg, commandName(c))
}

// unknownCommand is the error for a command name that does not exist,
// with the nearest one.
func unknownCommand(parent string, cmds []*cli.Command, name string) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	where := strings.TrimSpace("byoi " + parent)
	msg := fmt.Sprintf("unknown command %q", name)
	if parent != "" {
		msg = parent + ": " + msg
	}
	if s, ok := closest(name, names); ok {
		return fmt.Errorf("%s (did you mean `%s %s`?)", msg, where, s)
	}
	return fmt.Errorf("%s (see `%s --help`)", msg, where)
}
