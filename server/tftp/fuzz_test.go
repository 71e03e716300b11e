package tftp

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCleanName: an accepted name is a clean, local, visible relative path
// made of printable characters, without backslashes or percent signs.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"ipxe.efi", "a/b.efi", "../etc/passwd", "/etc/passwd", "a/../../x", `..\x`,
		"%2e%2e/x", "a\x00", "a//b", ".hidden", "a/./b", "\u2024\u2024/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := cleanName(name)
		if err != nil {
			return
		}
		if got != name {
			t.Fatalf("cleanName(%q) = %q, want the name unchanged", name, got)
		}
		if !filepath.IsLocal(name) || filepath.Clean(name) != name {
			t.Fatalf("cleanName(%q) accepted a path that is not clean and local", name)
		}
		if strings.ContainsAny(name, "\\%\x00") {
			t.Fatalf("cleanName(%q) accepted a backslash, percent sign or NUL", name)
		}
		for _, part := range strings.Split(name, "/") {
			if strings.HasPrefix(part, ".") {
				t.Fatalf("cleanName(%q) accepted component %q", name, part)
			}
		}
		for _, c := range []byte(name) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("cleanName(%q) accepted control byte %#x", name, c)
			}
		}
	})
}
