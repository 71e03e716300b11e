package rescue

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckKey(t *testing.T) {
	blob := strings.Fields(edKey)[1]
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"ed25519", edKey, true},
		{"rsa", rsaKey, true},
		{"ecdsa without comment", ecdsaKey, true},
		{"surrounding space", "  " + edKey + "\t", true},
		{"empty", "", false},
		{"type only", "ssh-ed25519", false},
		{"options first", `command="/bin/sh" ` + edKey, false},
		{"unknown type", "ssh-foo " + blob, false},
		{"type mismatch", "ssh-rsa " + blob + " x", false},
		{"not base64", "ssh-ed25519 !!!! x", false},
		{"short blob", "ssh-ed25519 AAAA", false},
		{"length overrun", "ssh-ed25519 AAAA/w== x", false},
		{"two lines", edKey + "\n" + edKey, false},
		{"carriage return", edKey + "\rcommand", false},
		{"nul", edKey + "\x00", false},
		{"huge", "ssh-rsa " + strings.Repeat("A", 20000), false},
	} {
		err := CheckKey(tc.key)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadKey)) {
			t.Errorf("CheckKey(%s) = %v, want ok=%v (errors wrapping ErrBadKey)", tc.name, err, tc.ok)
		}
	}
}

// TestFingerprintAgainstSSHKeygen compares Fingerprint with ssh-keygen -l
// for keys of every type ssh-keygen makes.
func TestFingerprintAgainstSSHKeygen(t *testing.T) {
	keygen := needKeygen(t)
	dir := t.TempDir()
	for _, typ := range []string{"ed25519", "rsa", "ecdsa"} {
		f := filepath.Join(dir, typ)
		if out, err := exec.Command(keygen, "-q", "-t", typ, "-N", "", "-C", "c", "-f", f).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen -t %s: %v\n%s", typ, err, out)
		}
		out, err := exec.Command(keygen, "-l", "-E", "sha256", "-f", f+".pub").Output()
		if err != nil {
			t.Fatal(err)
		}
		// "256 SHA256:… c (ED25519)"
		fields := strings.Fields(string(out))
		want := []string{strings.Trim(fields[len(fields)-1], "()"), fields[1]}
		pub, err := os.ReadFile(f + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		label, fp, err := Fingerprint(string(pub))
		if err != nil {
			t.Fatalf("Fingerprint(%s key): %v", typ, err)
		}
		if diff := cmp.Diff(want, []string{label, fp}); diff != "" {
			t.Errorf("Fingerprint(%s key) differs from ssh-keygen -l (-ssh-keygen +ours):\n%s", typ, diff)
		}
	}
}

func TestHostKeys(t *testing.T) {
	keygen := needKeygen(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/ssh"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := System{Root: root, Keygen: keygen}
	first, err := s.HostKeys(context.Background())
	if err != nil {
		t.Fatalf("HostKeys: %v", err)
	}
	var labels []string
	for _, k := range first {
		labels = append(labels, k.Label)
		if !strings.HasPrefix(k.Fingerprint, "SHA256:") || k.String() != k.Label+" "+k.Fingerprint {
			t.Errorf("host key %+v: want a SHA256 fingerprint", k)
		}
		if l, fp, err := Fingerprint(k.Public); err != nil || l != k.Label || fp != k.Fingerprint {
			t.Errorf("host key %s: its public key gives %s %s, %v", k, l, fp, err)
		}
	}
	if diff := cmp.Diff([]string{"ED25519", "ECDSA"}, labels); diff != "" {
		t.Errorf("HostKeys labels (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private host key: %v, mode %v; want 0600", err, fi.Mode())
	}
	// Existing keys are kept.
	again, err := s.HostKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("second HostKeys made new keys (-first +second):\n%s", diff)
	}
	if _, err := (System{Root: root, Keygen: "/nonexistent/ssh-keygen"}).HostKeys(context.Background()); err != nil {
		t.Errorf("HostKeys with keys present needs no ssh-keygen, got %v", err)
	}
	if _, err := (System{Root: t.TempDir(), Keygen: "/nonexistent/ssh-keygen"}).HostKeys(context.Background()); err == nil {
		t.Error("HostKeys without ssh-keygen = nil error, want one")
	}
}

func FuzzCheckKey(f *testing.F) {
	for _, k := range []string{edKey, rsaKey, ecdsaKey, "ssh-ed25519 AAAA", "", "x y z"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		err := CheckKey(k)
		label, fp, ferr := Fingerprint(k)
		if (err == nil) != (ferr == nil) {
			t.Fatalf("CheckKey = %v but Fingerprint = %v", err, ferr)
		}
		if err != nil {
			return
		}
		if strings.ContainsAny(k, "\r\n\x00") {
			t.Errorf("CheckKey accepted a key with a line break or NUL: %q", k)
		}
		if label == "" || !strings.HasPrefix(fp, "SHA256:") {
			t.Errorf("Fingerprint(%q) = %q %q", k, label, fp)
		}
	})
}
