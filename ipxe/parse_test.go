package ipxe

// A model of how iPXE reads a script, written from src/image/script.c
// (lines, '\r', backslash continuations, labels), src/core/exec.c
// (split_command, command_terminator, expand_tokens) and
// src/core/settings.c (expand_settings, which re-scans until no ${...} is
// left). The tests render scripts and read them back with it: what a command
// receives is what iPXE would give it.

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// ipxeCommand is one command as iPXE would execute it: expanded argv.
type ipxeCommand struct {
	Line int      // 1-based line number (of the first physical line)
	Argv []string // argv[0] is the command name
	// Sep is the terminator after the command: "", "||", "&&" or ";".
	Sep string
}

// ipxeScript is a parsed script: its commands in order and its labels.
type ipxeScript struct {
	Commands []ipxeCommand
	Labels   []string
}

// isSpace is iPXE's isspace: ' ', '\f', '\n', '\r', '\t', '\v'.
func isSpace(c byte) bool {
	return c == ' ' || c == '\f' || c == '\n' || c == '\r' || c == '\t' || c == '\v'
}

// splitCommand is exec.c's split_command.
func splitCommand(s string) []string {
	var toks []string
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) || s[i] == 0 {
			return toks
		}
		j := i
		for j < len(s) && s[j] != 0 && !isSpace(s[j]) {
			j++
		}
		toks = append(toks, s[i:j])
		i = j
	}
}

// settingsModel holds iPXE settings for expansion: values stored by "set"
// in the script (raw bytes and type) and builtins given by the test.
type settingsModel struct {
	raw      map[string][]byte
	typ      map[string]string
	builtins map[string]string // full reference text, e.g. "netX/mac:hexhyp"
}

func newSettings(builtins map[string]string) *settingsModel {
	return &settingsModel{raw: map[string][]byte{}, typ: map[string]string{}, builtins: builtins}
}

// lookup formats a ${ref} the way fetchf_setting does for the types the
// scripts use; unknown settings expand to "".
func (m *settingsModel) lookup(ref string) string {
	if v, ok := m.builtins[ref]; ok {
		return v
	}
	name, typ, _ := strings.Cut(ref, ":")
	raw, ok := m.raw[name]
	if !ok {
		return ""
	}
	if typ == "" {
		typ = m.typ[name]
	}
	switch typ {
	case "hex":
		parts := make([]string, len(raw))
		for i, b := range raw {
			parts[i] = fmt.Sprintf("%02x", b)
		}
		return strings.Join(parts, ":")
	default: // string
		if i := strings.IndexByte(string(raw), 0); i >= 0 {
			return string(raw[:i])
		}
		return string(raw)
	}
}

// expand is settings.c's expand_settings: find the last "${" before the
// first "}" that follows it, replace, start over.
func (m *settingsModel) expand(s string) (string, error) {
	for n := 0; ; n++ {
		if n > 1000 {
			return "", fmt.Errorf("expansion of %q does not end", s)
		}
		start, end := -1, -1
		for i := 0; i < len(s); i++ {
			if s[i] == '$' && i+1 < len(s) && s[i+1] == '{' {
				start = i
			}
			if start >= 0 && s[i] == '}' {
				end = i
				break
			}
		}
		if end < 0 {
			return s, nil
		}
		s = s[:start] + m.lookup(s[start+2:end]) + s[end+1:]
	}
}

// set models the "set" command: "set name[:type] value...".
func (m *settingsModel) set(argv []string) error {
	if len(argv) < 2 {
		return fmt.Errorf("set: missing setting name")
	}
	name, typ, _ := strings.Cut(argv[1], ":")
	value := strings.Join(argv[2:], " ")
	switch typ {
	case "hex":
		b, err := hex.DecodeString(strings.ReplaceAll(value, ":", ""))
		if err != nil || (len(value) > 0 && len(value) != 3*len(b)-1) {
			return fmt.Errorf("set %s: bad hex %q", argv[1], value)
		}
		m.raw[name] = b
	case "", "string":
		typ = "string"
		m.raw[name] = []byte(value)
	default:
		return fmt.Errorf("set %s: type %q not modelled", argv[1], typ)
	}
	m.typ[name] = typ
	return nil
}

// parseIPXE reads a script as iPXE would and runs its "set" commands in
// order (every other command is only recorded), so later ${...} references
// see the values. Control flow is not followed: every line is read.
func parseIPXE(script string, builtins map[string]string) (ipxeScript, error) {
	var out ipxeScript
	if !strings.HasPrefix(script, "#!ipxe") || len(script) < 7 || !isSpace(script[6]) {
		return out, fmt.Errorf("no #!ipxe magic")
	}
	st := newSettings(builtins)
	physical := strings.Split(script, "\n")
	if physical[len(physical)-1] == "" {
		physical = physical[:len(physical)-1]
	}
	var line string
	first := 0
	for i, p := range physical {
		if line == "" {
			first = i + 1
		}
		p = strings.TrimSuffix(p, "\r")
		line += p
		if strings.HasSuffix(line, `\`) {
			line = strings.TrimSuffix(line, `\`)
			continue
		}
		cmd := strings.TrimLeft(line, " \f\n\r\t\v")
		line = ""
		if strings.HasPrefix(cmd, ":") {
			label := cmd[1:]
			if i := strings.IndexFunc(label, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) }); i >= 0 {
				label, cmd = label[:i], label[i+1:]
			} else {
				cmd = ""
			}
			out.Labels = append(out.Labels, label)
		}
		if err := parseCommandLine(&out, st, first, cmd); err != nil {
			return out, err
		}
	}
	if line != "" {
		return out, fmt.Errorf("script ends inside a backslash continuation")
	}
	return out, nil
}

// parseCommandLine is exec.c's system(): terminators, comments, expansion.
func parseCommandLine(out *ipxeScript, st *settingsModel, lineNo int, cmd string) error {
	toks := splitCommand(cmd)
	for len(toks) > 0 {
		n, sep := 0, ""
	scan:
		for n < len(toks) {
			switch t := toks[n]; {
			case t[0] == '#':
				toks = toks[:n]
				break scan
			case t == "||" || t == "&&" || t == ";":
				sep = t
				break scan
			}
			n++
		}
		argv := make([]string, n)
		for i := range argv {
			v, err := st.expand(toks[i])
			if err != nil {
				return err
			}
			argv[i] = v
		}
		if n > 0 || sep != "" {
			out.Commands = append(out.Commands, ipxeCommand{Line: lineNo, Argv: argv, Sep: sep})
		}
		if n > 0 && argv[0] == "set" {
			if err := st.set(argv); err != nil {
				return err
			}
		}
		if sep == "" {
			return nil
		}
		toks = toks[n+1:]
	}
	return nil
}

// names returns the command names of a parsed script, empty commands as "".
func (s ipxeScript) names() []string {
	var out []string
	for _, c := range s.Commands {
		if len(c.Argv) == 0 {
			out = append(out, "")
			continue
		}
		out = append(out, c.Argv[0])
	}
	return out
}

// find returns the commands named name.
func (s ipxeScript) find(name string) []ipxeCommand {
	var out []ipxeCommand
	for _, c := range s.Commands {
		if len(c.Argv) > 0 && c.Argv[0] == name {
			out = append(out, c)
		}
	}
	return out
}

// optValue returns the argument of a long option in argv as iPXE's getopt
// would read it: "--opt=value" or "--opt value" (not starting with '-').
func optValue(argv []string, opt string) (string, bool) {
	for i, a := range argv {
		if v, ok := strings.CutPrefix(a, "--"+opt+"="); ok {
			return v, true
		}
		if a == "--"+opt && i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
			return argv[i+1], true
		}
	}
	return "", false
}
