package auth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/byoi/byoi/boot"
)

// Scoped credentials. A credential's Rules list what it may call, as OVH's
// access rules do: a method and a path pattern whose "*" matches any run of
// characters, "/" included. A credential without rules may call anything.
// Paths of the OVH API are matched below their version prefix (/1.0 or
// /v1), so {"GET", "/dedicated/server/*"} allows the same calls under both;
// other routes (/api/v1/…, /metrics) are matched with their whole path.
//
// Two exceptions: GET /auth/details describes the caller's own credential
// and is always allowed (OVH's Terraform provider calls it before anything
// else), and the routes that
// manage credentials and the server key (CredentialsPath, KeysPath) need a
// credential without rules, so that a scoped credential cannot make itself
// a broader one.

// ruleMethods are the methods a rule may name (OVH's auth.HTTPMethodEnum).
var ruleMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete}

// MaxRules bounds the rules of one credential; MaxRulePath the length of a
// rule's path.
const (
	MaxRules    = 100
	MaxRulePath = 512
)

// ParseRule reads a rule written as "METHOD /path", e.g. "GET /*" or
// "POST /dedicated/server/*/reinstall".
func ParseRule(s string) (boot.AccessRule, error) {
	method, path, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return boot.AccessRule{}, fmt.Errorf("invalid rule %q: want METHOD /path, e.g. \"GET /*\"", s)
	}
	r := boot.AccessRule{Method: strings.ToUpper(method), Path: strings.TrimSpace(path)}
	return r, ValidateRule(r)
}

// ValidateRule checks a rule: one of GET, POST, PUT, DELETE and a path
// that starts with "/" made of printable ASCII without spaces, "?" or "#".
func ValidateRule(r boot.AccessRule) error {
	known := false
	for _, m := range ruleMethods {
		known = known || r.Method == m
	}
	if !known {
		return fmt.Errorf("invalid rule method %q: use %s", r.Method, strings.Join(ruleMethods, ", "))
	}
	if !strings.HasPrefix(r.Path, "/") || len(r.Path) > MaxRulePath {
		return fmt.Errorf("invalid rule path %q: must start with / and have at most %d characters", r.Path, MaxRulePath)
	}
	for _, c := range r.Path {
		if c <= ' ' || c > '~' || c == '?' || c == '#' {
			return fmt.Errorf("invalid rule path %q: printable ASCII without spaces, ? or #", r.Path)
		}
	}
	return nil
}

// ValidateRules checks every rule and their count.
func ValidateRules(rules []boot.AccessRule) error {
	if len(rules) > MaxRules {
		return fmt.Errorf("too many rules (%d): at most %d", len(rules), MaxRules)
	}
	for _, r := range rules {
		if err := ValidateRule(r); err != nil {
			return err
		}
	}
	return nil
}

// apiPath is the path rules are matched against: below /1.0 or /v1 for the
// OVH API, the whole path otherwise.
func apiPath(p string) string {
	for _, prefix := range []string{"/1.0", "/v1"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok && (rest == "" || rest[0] == '/') {
			if rest == "" {
				return "/"
			}
			return rest
		}
	}
	return p
}

// alwaysAllowed are the calls every valid credential may make: they
// describe the caller itself.
var alwaysAllowed = map[string]bool{"/auth/details": true}

// Allowed reports whether a credential with rules may call method on the
// request path p (as in URL.Path).
func Allowed(rules []boot.AccessRule, method, p string) bool {
	if isManagementPath(p) {
		return len(rules) == 0
	}
	if len(rules) == 0 {
		return true
	}
	if method == http.MethodHead {
		method = http.MethodGet
	}
	rel := apiPath(p)
	if method == http.MethodGet && alwaysAllowed[rel] {
		return true
	}
	for _, r := range rules {
		if r.Method == method && matchPattern(r.Path, rel) {
			return true
		}
	}
	return false
}

func isManagementPath(p string) bool {
	for _, prefix := range []string{CredentialsPath, KeysPath} {
		if rest, ok := strings.CutPrefix(p, prefix); ok && (rest == "" || rest[0] == '/') {
			return true
		}
	}
	return false
}

// matchPattern reports whether s matches pattern, where "*" matches any run
// of characters (none included) and every other character itself. It runs
// in O(len(pattern)·len(s)) at worst: a "*" that fails to place its
// following literal part is resumed from the last star only.
func matchPattern(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case px < len(pattern) && pattern[px] == s[sx]:
			px++
			sx++
		case star >= 0:
			mark++
			px, sx = star+1, mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
