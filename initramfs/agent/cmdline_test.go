package agent

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Cmdline
	}{
		{name: "empty", in: "", want: nil},
		{name: "plain", in: "console=ttyS0 quiet byoi.task=7\n", want: Cmdline{
			{Key: "console", Value: "ttyS0"}, {Key: "quiet", Bare: true}, {Key: "byoi.task", Value: "7"}}},
		{name: "quoted value", in: `a="x y" b=1`, want: Cmdline{{Key: "a", Value: "x y"}, {Key: "b", Value: "1"}}},
		{name: "quoted parameter", in: `"a=x y"`, want: Cmdline{{Key: "a", Value: "x y"}}},
		{name: "value with equals", in: "root=LABEL=a=b", want: Cmdline{{Key: "root", Value: "LABEL=a=b"}}},
		{name: "empty value", in: "a= b", want: Cmdline{{Key: "a"}, {Key: "b", Bare: true}}},
		{name: "tabs and runs of spaces", in: "\ta=1   \t b=2 ", want: Cmdline{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}},
		{name: "init args after --", in: "a=1 -- b=2 c", want: Cmdline{{Key: "a", Value: "1"}}},
		{name: "unterminated quote", in: `a="x y`, want: Cmdline{{Key: "a", Value: "x y"}}},
		{name: "empty quotes", in: `a=""`, want: Cmdline{{Key: "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ParseCmdline(tc.in)); diff != "" {
				t.Errorf("ParseCmdline(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestCmdlineGetFlag(t *testing.T) {
	c := ParseCmdline("x=1 x=2 d byoi.poweroff=0 byoi.debug=yes off=1 off=no")
	if v, ok := c.Get("x"); !ok || v != "2" {
		t.Errorf("Get(x) = %q, %v; want \"2\" (last wins)", v, ok)
	}
	if _, ok := c.Get("nosuch"); ok {
		t.Errorf("Get(nosuch) found, want not found")
	}
	for key, want := range map[string]bool{"d": true, "byoi.poweroff": false, "byoi.debug": true, "off": false, "nosuch": false} {
		if got := c.Flag(key); got != want {
			t.Errorf("Flag(%s) = %v, want %v", key, got, want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	for _, tc := range []struct {
		name    string
		in      string
		want    Config
		wantErr string
	}{
		{
			name: "ipxe installer line",
			in: "initrd=initrd.img console=ttyS0 BOOTIF=01-52-54-00-12-34-56 byoi.server=http://198.51.100.1:8080/ " +
				"byoi.task=7 byoi.token=abc byoi.poweroff=1 byoi.modules=e1000e,,igb",
			want: Config{Server: "http://198.51.100.1:8080", Mode: "install", TaskID: "7", Token: "abc", Poweroff: true, BootIf: mac,
				Modules: []string{"e1000e", "igb"}},
		},
		{
			name: "ipxe rescue line",
			in:   "console=ttyS0 BOOTIF=01-52-54-00-12-34-56 byoi.server=http://198.51.100.1:8080 byoi.mode=rescue byoi.token=abc",
			want: Config{Server: "http://198.51.100.1:8080", Mode: "rescue", Token: "abc", BootIf: mac},
		},
		{name: "explicit install", in: "byoi.server=http://s byoi.mode=install byoi.task=1 byoi.token=t",
			want: Config{Server: "http://s", Mode: "install", TaskID: "1", Token: "t"}},
		{name: "rescue without token", in: "byoi.server=http://s byoi.mode=rescue", wantErr: "rescue script"},
		{name: "install without task", in: "byoi.server=http://s byoi.mode=install byoi.token=t", wantErr: "byoi.task"},
		{name: "unknown mode", in: "byoi.server=http://s byoi.mode=shell byoi.token=t", wantErr: `byoi.mode="shell"`},
		{
			name: "static ip",
			in:   "byoi.server=https://byoi.lab byoi.task=7 byoi.token=abc ip=198.51.100.20::198.51.100.1:255.255.255.0::eth0:off:198.51.100.53",
			want: Config{Server: "https://byoi.lab", Mode: "install", TaskID: "7", Token: "abc", Static: &StaticIP{
				Addr: netip.MustParsePrefix("198.51.100.20/24"), Gateway: netip.MustParseAddr("198.51.100.1"),
				DNS: []netip.Addr{netip.MustParseAddr("198.51.100.53")}, Device: "eth0"}},
		},
		{name: "ip=dhcp", in: "byoi.server=http://s byoi.task=1 byoi.token=t ip=dhcp", want: Config{Server: "http://s", Mode: "install", TaskID: "1", Token: "t"}},
		{name: "no server", in: "byoi.task=1 byoi.token=t", wantErr: "byoi.server"},
		{name: "ftp server", in: "byoi.server=ftp://s byoi.task=1 byoi.token=t", wantErr: "byoi.server"},
		{name: "no token", in: "byoi.server=http://s byoi.task=1", wantErr: "byoi.token"},
		{name: "bad BOOTIF", in: "byoi.server=http://s byoi.task=1 byoi.token=t BOOTIF=01-zz", wantErr: "BOOTIF"},
		{name: "bad ip", in: "byoi.server=http://s byoi.task=1 byoi.token=t ip=300.1.1.1", wantErr: "client address"},
		{name: "bad netmask", in: "byoi.server=http://s byoi.task=1 byoi.token=t ip=10.0.0.2:::255.0.255.0", wantErr: "netmask"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig(ParseCmdline(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseConfig(%q) error = %v, want one mentioning %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig(%q) = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("ParseConfig(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func FuzzParseCmdline(f *testing.F) {
	for _, s := range []string{
		"console=ttyS0 BOOTIF=01-52-54-00-12-34-56 byoi.server=http://198.51.100.1:8080 byoi.task=7 byoi.token=abc",
		`a="b c" "d=e f" -- g`, `"""`, "ip=1.2.3.4::5.6.7.8:255.255.255.0:h:eth0:off:9.9.9.9:8.8.8.8", "x=\x00y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := ParseCmdline(s)
		for _, p := range c {
			if strings.ContainsAny(p.Key, " \t\n") && !strings.Contains(s, `"`) {
				t.Fatalf("ParseCmdline(%q): key %q has a separator without quotes", s, p.Key)
			}
			if p.Bare && p.Value != "" {
				t.Fatalf("ParseCmdline(%q): bare %q has a value", s, p.Key)
			}
		}
		cfg, err := ParseConfig(c)
		if err == nil && (cfg.Server == "" || cfg.Token == "" || (cfg.Mode == "install" && cfg.TaskID == "") ||
			(cfg.Mode != "install" && cfg.Mode != "rescue")) {
			t.Fatalf("ParseConfig(%q) accepted a config without server, mode, task or token: %+v", s, cfg)
		}
	})
}
