package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs byoi with args and returns stdout, stderr and the error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"byoi"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestHelpVersionCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help", "deploy"}, "byoi deploy - install an image on a machine"},
		{[]string{"help", "machines", "set"}, "change a machine's fields; the fields not given are kept"},
		{[]string{"deploy", "--help"}, "--image-url value"},
		{[]string{"--version"}, "byoi version dev (revision "},
		{[]string{"completion", "bash"}, "complete -o bashdefault -o default -F _byoi_complete byoi"},
		{[]string{"completion", "zsh"}, "bashcompinit"},
		{[]string{"completion", "fish"}, "complete -r -c byoi -n '__fish_byoi_no_subcommand' -a 'deploy'"},
		{[]string{"machines", "--generate-bash-completion"}, "set\n"},
		{[]string{"help", "machines"}, "   set          change a machine's fields"},
		{[]string{"help"}, "COMMANDS:"},
		{[]string{"deploy", "--image", "--generate-bash-completion"}, "--image-url\n--image-type\n"},
	} {
		// urfave/cli's completion reads os.Args, not the arguments given.
		saved := os.Args
		os.Args = append([]string{"byoi"}, tc.args...)
		out, _, err := runCLI(t, tc.args...)
		os.Args = saved
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("byoi %s = %v, output lacks %q:\n%s", strings.Join(tc.args, " "), err, tc.want, out)
		}
	}
}

func TestSuggestions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deplyo", "x"}, "unknown command \"deplyo\" (did you mean `byoi deploy`?)"},
		{[]string{"machines", "lsit"}, "machines: unknown command \"lsit\" (did you mean `byoi machines list`?)"},
		{[]string{"machines", "frobnicate"}, "machines: unknown command \"frobnicate\" (see `byoi machines --help`)"},
		{[]string{"deploy", "x", "--image-ulr", "u"}, "deploy: unknown flag --image-ulr (did you mean --image-url?)"},
		{[]string{"machines", "set", "x", "--disk-seral", "S"}, "machines set: unknown flag --disk-seral (did you mean --disk-serial?)"},
		{[]string{"completion", "bsh"}, `completion: unknown shell "bsh" (did you mean bash?)`},
		{[]string{"help", "machines", "lst"}, "machines: unknown command \"lst\" (did you mean `byoi machines list`?)"},
	} {
		_, _, err := runCLI(t, tc.args...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("byoi %s = %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestFlagsCheckedBeforeRequests: a bad value never reaches the server
// (there is none at this address: a request would fail differently).
func TestFlagsCheckedBeforeRequests(t *testing.T) {
	srv := []string{"--server", "http://127.0.0.1:1", "--token", "t"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"machines", "set", "x", "--ipv4", "1.2.3"}, `--ipv4: "1.2.3" is not an IPv4 address`},
		{[]string{"machines", "set", "x", "--disk-min-size", "lots"}, `--disk-min-size: size "lots": use a byte count with an optional K, M, G, T or P suffix`},
		{[]string{"machines", "set", "x", "--efi-bootloader-path", "efi/boot"}, `--efi-bootloader-path: invalid efiBootloaderPath "efi/boot"`},
		{[]string{"machines", "set", "x", "--boot-mode", "disk"}, `--boot-mode "disk": use local or next-device`},
		{[]string{"machines", "set", "x", "--disk-group", "1:seral=A"}, `--disk-group "1:seral=A": unknown key "seral" (did you mean serial?)`},
		{[]string{"machines", "set", "x", "--mac", "zz"}, `--mac: invalid MAC address "zz"`},
		{[]string{"machines", "set", "x"}, "machines set: nothing to change"},
		{[]string{"machines", "adopt", "discovered-1", "n", "--disk-max-size", "x"}, `--disk-max-size: size "x"`},
		{[]string{"machines", "list", "--interval", "-1s"}, "--interval -1s: must be positive"},
		{[]string{"wait", "x", "--interval", "0s"}, "--interval 0s: must be positive"},
		{[]string{"tasks", "--limit", "0"}, "--limit 0: use 1 to 1000"},
	} {
		_, _, err := runCLI(t, append(tc.args, srv...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "cannot reach") {
			t.Errorf("byoi %s = %v, want %q before any request", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestMachinesSet(t *testing.T) {
	r := newRealServer(t)
	if _, err := r.run(t, "machines", "add", "a", "--mac", "52:54:00:00:00:01", "--disk-path", "/dev/sda", "--ipv4", "198.51.100.5"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args  []string
		check func(out string) string
	}{
		{[]string{"--disk-serial", "S1"}, nil},
		{[]string{"--efi-bootloader-path", `\efi\debian\shimx64.efi`, "--boot-mode", "local"}, nil},
		{[]string{"--add-mac", "52-54-00-00-00-02", "--disk-group", "1:serial=G1,min-size=1G"}, nil},
		{[]string{"--remove-mac", "52:54:00:00:00:01", "--ipv4", ""}, nil},
	}
	for _, s := range steps {
		if _, err := r.run(t, append([]string{"machines", "set", "a"}, s.args...)...); err != nil {
			t.Fatalf("machines set a %s = %v", strings.Join(s.args, " "), err)
		}
	}
	m, err := r.st.Machine(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if m.Disk.Path != "/dev/sda" || m.Disk.Serial != "S1" || m.EFIBootloaderPath != `\efi\debian\shimx64.efi` || m.BootMode != "local" ||
		len(m.MACs) != 1 || m.MACs[0] != "52:54:00:00:00:02" || m.IPv4 != "" || m.DiskGroups[1].Serial != "G1" || m.DiskGroups[1].MinSize != 1<<30 {
		t.Errorf("machine after sets = %+v", m)
	}
	if _, err := r.run(t, "machines", "set", "a", "--name", "b", "--disk-group", "1:"); err != nil {
		t.Fatal(err)
	}
	if m, err := r.st.Machine(context.Background(), "b"); err != nil || m.DiskGroups != nil || m.Disk.Serial != "S1" {
		t.Errorf("machine after rename = %+v, %v", m, err)
	}
	if _, err := r.run(t, "machines", "set", "b", "--remove-mac", "52:54:00:00:00:09"); err == nil || !strings.Contains(err.Error(), "machine b has no such MAC (it has 52:54:00:00:00:02)") {
		t.Errorf("remove an unknown MAC = %v", err)
	}
}

func TestLogin(t *testing.T) {
	r := newRealServer(t)
	cfg := filepath.Join(t.TempDir(), "byoi", "config.yaml")
	t.Setenv("BYOI_CLIENT_CONFIG", cfg)
	if _, err := r.run(t, "login", "--server", r.url, "--token", "byoi_wrong"); err == nil || !strings.Contains(err.Error(), "(HTTP 401)") {
		t.Fatalf("login with a wrong token = %v", err)
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Fatal("a refused login wrote the config")
	}
	out, err := r.run(t, "login", "--server", r.url, "--state-dir", r.stateDir)
	if err != nil || !strings.Contains(out, "Logged in to "+r.url+" (0 machines)") {
		t.Fatalf("login = %q, %v", out, err)
	}
	tokenFile := filepath.Join(filepath.Dir(cfg), "token")
	for _, p := range []string{cfg, tokenFile} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", p, fi, err)
		}
	}
	// Now any command finds the server and the token, from anywhere.
	t.Chdir(t.TempDir())
	var o, e bytes.Buffer
	if err := run(context.Background(), []string{"byoi", "machines", "add", "x", "--mac", "52:54:00:00:00:01"}, &o, &e); err != nil {
		t.Fatalf("machines add after login = %v (%s)", err, e.String())
	}
	if err := os.WriteFile(cfg, []byte("server: "+r.url+"\ntokenfile: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"byoi", "machines", "list"}, &o, &e); err == nil || !strings.Contains(err.Error(), `line 2: unknown key "tokenfile"`) {
		t.Errorf("config with an unknown key = %v", err)
	}
}
