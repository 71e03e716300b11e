package ipxe

// How iPXE reads a script line (src/image/script.c, src/core/exec.c,
// src/core/settings.c and src/core/getopt.c in current iPXE), and therefore
// what a value must look like to reach a command unchanged:
//
//   - The script is cut into lines at '\n'; one trailing '\r' is dropped; a
//     line ending in '\' is joined with the next one (the backslash goes).
//   - A line is split into tokens at ASCII whitespace (isspace). There is no
//     quoting and no backslash escape: '"', '\'' and '\' are ordinary bytes,
//     so an EFI path like \efi\debian\grubx64.efi passes through as it is.
//   - A token that starts with '#' starts a comment; a token that is exactly
//     "||", "&&" or ";" ends the command and starts another one.
//   - After splitting, every token has its ${name} or ${name:type} references
//     replaced, repeatedly, until none is left: a value that contains "${"
//     followed by "}" can never reach a command as written.
//   - Option parsing stops at the first non-option argument; an option's
//     argument given as the next token must not start with '-'.
//
// Values are placed in one of three ways:
//
//   - as a plain word when nothing above applies to them;
//   - URLs are percent-encoded first, which turns everything special into
//     plain characters;
//   - anything else printable (spaces, a leading '#', a trailing '\') is
//     stored in an iPXE setting from its hex bytes ("set n:hex 5c:45") and
//     referenced as ${n:string}, which is expanded after the line was split.
//
// Control characters (newlines above all), non-ASCII bytes and "${" are
// refused with an error wrapping ErrUnsafe.

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ErrUnsafe is wrapped by every error about a value that cannot be placed
// into an iPXE script as it is.
var ErrUnsafe = errors.New("value cannot be placed safely in an iPXE script")

func unsafe(what, v, why string) error {
	return fmt.Errorf("ipxe: %s %q: %s: %w", what, v, why, ErrUnsafe)
}

// checkPrintable accepts printable ASCII only; spaces are allowed when
// spaces is true.
func checkPrintable(what, v string, spaces bool) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ' ' && spaces:
		case c <= ' ' || c == 0x7f:
			return unsafe(what, v, "control characters and whitespace are not allowed")
		case c >= 0x80:
			return unsafe(what, v, "only ASCII is allowed")
		}
	}
	if strings.Contains(v, "${") {
		return unsafe(what, v, `"${" would be expanded by iPXE`)
	}
	return nil
}

// word returns v unchanged if iPXE reads it back as exactly one argument
// equal to v wherever it stands on a line (never as the first token: labels
// and command names are the templates' own).
func word(what, v string) (string, error) {
	if v == "" {
		return "", unsafe(what, v, "an empty value would vanish from the command line")
	}
	if err := checkPrintable(what, v, false); err != nil {
		return "", err
	}
	switch {
	case v[0] == '#':
		return "", unsafe(what, v, "a leading # starts a comment")
	case v == "||" || v == "&&" || v == ";":
		return "", unsafe(what, v, "it would end the command")
	case strings.HasSuffix(v, `\`):
		return "", unsafe(what, v, "a trailing backslash joins the next line")
	}
	return v, nil
}

// optArg is word for the argument of an option: it must not start with '-'.
func optArg(what, v string) (string, error) {
	w, err := word(what, v)
	if err != nil {
		return "", err
	}
	if w[0] == '-' {
		return "", unsafe(what, v, "an option argument cannot start with -")
	}
	return w, nil
}

// uriSafe are the bytes RFC 3986 allows in a URI, '%' included (existing
// escapes are kept). Everything else is percent-encoded.
const uriSafe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"

// urlWord validates an absolute http(s) URL and returns it percent-encoded
// so that it is a plain word: no whitespace, no braces (so no "${"), and it
// starts with the scheme.
func urlWord(what, raw string) (string, error) {
	for i := 0; i < len(raw); i++ {
		if raw[i] < ' ' || raw[i] == 0x7f {
			return "", unsafe(what, raw, "control characters are not allowed")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("ipxe: %s %q: %v: %w", what, raw, err, ErrUnsafe)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", unsafe(what, raw, "an absolute http:// or https:// URL is expected")
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if strings.IndexByte(uriSafe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return word(what, b.String())
}

// baseURL is urlWord for the server's base URL, without a trailing slash.
// Paths are appended to it, so it cannot carry a query or a fragment.
func baseURL(raw string) (string, error) {
	raw = strings.TrimSuffix(raw, "/")
	if strings.ContainsAny(raw, "?#") {
		return "", unsafe("base URL", raw, "a query or fragment cannot be followed by a path")
	}
	return urlWord("base URL", raw)
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// token checks the installer's one-time token: 1-256 characters of
// [A-Za-z0-9_-] (base64url without padding, as the server makes them).
func token(t string) (string, error) {
	if !tokenRE.MatchString(t) {
		return "", unsafe("token", "<"+fmt.Sprint(len(t))+" bytes>", "only 1-256 characters of A-Z a-z 0-9 _ - are allowed")
	}
	return t, nil
}

// Arg is a value placed in a script, either as a plain word or through an
// iPXE setting.
type Arg struct {
	// Name is the iPXE setting that holds the value, or empty when the value
	// is written as a plain word.
	Name string
	// Hex is the value as colon-separated hex bytes, for "set Name:hex Hex".
	Hex string
	// Word is the plain word, when Name is empty.
	Word string
}

// Ref is what a command line carries: the plain word or ${Name:string}.
func (a Arg) Ref() string {
	if a.Name == "" {
		return a.Word
	}
	return "${" + a.Name + ":string}"
}

var settingNameRE = regexp.MustCompile(`^byoi_[a-z0-9_]{1,32}$`)

// anyArg places a printable ASCII value (spaces, '#', quotes and
// backslashes included) as one argument: a plain word when possible,
// otherwise through the setting name.
func anyArg(what, name, v string) (Arg, error) {
	if !settingNameRE.MatchString(name) {
		return Arg{}, fmt.Errorf("ipxe: invalid setting name %q", name)
	}
	if v == "" {
		return Arg{}, unsafe(what, v, "an empty value would vanish from the command line")
	}
	if w, err := word(what, v); err == nil {
		return Arg{Word: w}, nil
	}
	if err := checkPrintable(what, v, true); err != nil {
		return Arg{}, err
	}
	hex := make([]string, len(v))
	for i := 0; i < len(v); i++ {
		hex[i] = fmt.Sprintf("%02x", v[i])
	}
	return Arg{Name: name, Hex: strings.Join(hex, ":")}, nil
}
