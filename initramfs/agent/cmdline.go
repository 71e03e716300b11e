package agent

import (
	"strings"
)

// Param is one kernel command-line parameter: "key=value", or a bare "key"
// (Value "", Bare true).
type Param struct {
	Key, Value string
	Bare       bool
}

// Cmdline is a parsed kernel command line, parameters in order.
type Cmdline []Param

// maxCmdline bounds what is parsed (Linux allows 2048 bytes on x86; iPXE
// can pass more through EFI, but never megabytes).
const maxCmdline = 64 << 10

// ParseCmdline splits a kernel command line the way the kernel does: on
// spaces and tabs and newlines, double quotes group (and are removed from)
// a value or a whole parameter, the first '=' separates key and value.
// Everything after a bare "--" is for init's argv and is ignored. It never
// fails: garbage becomes odd parameters that nothing looks up.
func ParseCmdline(s string) Cmdline {
	if len(s) > maxCmdline {
		s = s[:maxCmdline]
	}
	var out Cmdline
	var cur strings.Builder
	inQuote, have := false, false
	flush := func() {
		if !have {
			return
		}
		w := cur.String()
		cur.Reset()
		have = false
		k, v, ok := strings.Cut(w, "=")
		if k == "--" && !ok {
			out = append(out, Param{Key: "--", Bare: true})
			return
		}
		out = append(out, Param{Key: k, Value: v, Bare: !ok})
	}
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == 0):
			flush()
		default:
			cur.WriteRune(r)
			have = true
		}
		if len(out) > 0 && out[len(out)-1].Key == "--" && out[len(out)-1].Bare {
			return out[:len(out)-1]
		}
	}
	flush()
	if len(out) > 0 && out[len(out)-1].Key == "--" && out[len(out)-1].Bare {
		out = out[:len(out)-1]
	}
	return out
}

// Get returns the value of the last parameter named key (the kernel's rule
// for repeated keys is "last wins" for most of them).
func (c Cmdline) Get(key string) (string, bool) {
	for i := len(c) - 1; i >= 0; i-- {
		if c[i].Key == key {
			return c[i].Value, true
		}
	}
	return "", false
}

// Flag reports whether key is set to a true value: bare, "1", "y", "yes",
// "true" or "on".
func (c Cmdline) Flag(key string) bool {
	for i := len(c) - 1; i >= 0; i-- {
		if c[i].Key != key {
			continue
		}
		if c[i].Bare {
			return true
		}
		switch strings.ToLower(c[i].Value) {
		case "1", "y", "yes", "true", "on":
			return true
		}
		return false
	}
	return false
}
