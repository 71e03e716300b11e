package power

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	const pw = "hunter2-secret"
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means valid
	}{
		{"zero value is none", Config{}, ""},
		{"none explicit", Config{Driver: "none"}, ""},
		{"none with address", Config{Address: "198.51.100.20"}, "an address needs a driver"},
		{"unknown driver", Config{Driver: "ilo", Address: "x"}, `unknown driver "ilo"`},
		{"ipmi host", Config{Driver: "ipmi", Address: "198.51.100.20", Username: "admin", Password: pw}, ""},
		{"ipmi upper case driver", Config{Driver: "IPMI", Address: "bmc1", Username: "admin"}, ""},
		{"ipmi host:port", Config{Driver: "ipmi", Address: "198.51.100.20:6230", Username: "admin"}, ""},
		{"ipmi ipv6", Config{Driver: "ipmi", Address: "[2001:db8::1]:623", Username: "admin"}, ""},
		{"ipmi no address", Config{Driver: "ipmi", Username: "admin"}, "ipmi needs an address"},
		{"ipmi bad port", Config{Driver: "ipmi", Address: "bmc:99999", Username: "admin"}, "invalid port"},
		{"ipmi url", Config{Driver: "ipmi", Address: "http://bmc/", Username: "admin"}, `ipmi address "http://bmc/"`},
		{"ipmi user@host", Config{Driver: "ipmi", Address: "admin@bmc", Username: "admin"}, "want host or host:port"},
		{"ipmi no user", Config{Driver: "ipmi", Address: "bmc"}, "ipmi needs a username"},
		{"ipmi long password", Config{Driver: "ipmi", Address: "bmc", Username: "a", Password: strings.Repeat("x", 21)}, "at most 20"},
		{"redfish https", Config{Driver: "redfish", Address: "https://198.51.100.21", Username: "root", Password: pw}, ""},
		{"redfish bare host", Config{Driver: "redfish", Address: "bmc.example:8443", Username: "root"}, ""},
		{"redfish ftp", Config{Driver: "redfish", Address: "ftp://bmc", Username: "root"}, "want an https:// or http:// URL"},
		{"redfish path", Config{Driver: "redfish", Address: "https://bmc/redfish/v1", Username: "root"}, "scheme://host[:port] only"},
		{"redfish credentials in url", Config{Driver: "redfish", Address: "https://root:" + pw + "@bmc", Username: "root"}, "scheme://host[:port] only"},
		{"redfish no user", Config{Driver: "redfish", Address: "https://bmc"}, "redfish needs a username"},
		{"qmp unix", Config{Driver: "qmp", Address: "unix:/run/vm1/qmp.sock"}, ""},
		{"qmp path", Config{Driver: "qmp", Address: "/run/vm1/qmp.sock"}, ""},
		{"qmp tcp", Config{Driver: "qmp", Address: "tcp:127.0.0.1:4444"}, ""},
		{"qmp tcp no port", Config{Driver: "qmp", Address: "tcp:127.0.0.1"}, "want tcp:host:port"},
		{"qmp relative", Config{Driver: "qmp", Address: "qmp.sock"}, "want unix:/path"},
		{"qmp empty unix", Config{Driver: "qmp", Address: "unix:"}, "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.cfg.Public(), err)
				}
				if _, err := New(tt.cfg, Options{}); err != nil {
					t.Fatalf("New(%+v) = %v, want a driver", tt.cfg.Public(), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate(%+v) = %v, want an error containing %q", tt.cfg.Public(), err, tt.wantErr)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("Validate error %q contains the password", err)
			}
			if _, err := New(tt.cfg, Options{}); err == nil {
				t.Fatalf("New(%+v) = nil error, want one", tt.cfg.Public())
			}
		})
	}
}

func TestConfigPublic(t *testing.T) {
	cfg := Config{Driver: "ipmi", Address: "198.51.100.20", Username: "admin", Password: "pw"}
	got := cfg.Public()
	want := Config{Driver: "ipmi", Address: "198.51.100.20", Username: "admin"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Public() mismatch (-want +got):\n%s", diff)
	}
	if !cfg.HasPassword() || got.HasPassword() {
		t.Errorf("HasPassword() = %v, %v; want true, false", cfg.HasPassword(), got.HasPassword())
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no power driver"},
		{Config{Driver: "ipmi", Address: "198.51.100.20", Username: "admin", Password: "pw"}, "IPMI at 198.51.100.20"},
		{Config{Driver: "redfish", Address: "198.51.100.21", Username: "root", Password: "pw"}, "Redfish at https://198.51.100.21"},
		{Config{Driver: "qmp", Address: "unix:/run/vm1.sock"}, "QMP at unix:/run/vm1.sock"},
	}
	for _, tt := range tests {
		d, err := New(tt.cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.String(); got != tt.want {
			t.Errorf("New(%+v).String() = %q, want %q", tt.cfg.Public(), got, tt.want)
		}
	}
}

func TestParseAction(t *testing.T) {
	for _, s := range []string{"on", "off", "cycle", "reset"} {
		a, err := ParseAction(s)
		if err != nil || string(a) != s {
			t.Errorf("ParseAction(%q) = %q, %v; want %q, nil", s, a, err, s)
		}
	}
	for _, s := range []string{"", "status", "ON", "soft"} {
		if _, err := ParseAction(s); err == nil {
			t.Errorf("ParseAction(%q) = nil error, want one", s)
		}
	}
}

func TestOVHState(t *testing.T) {
	if got := On.OVHState(); got != "poweron" {
		t.Errorf("On.OVHState() = %q, want poweron", got)
	}
	if got := Off.OVHState(); got != "poweroff" {
		t.Errorf("Off.OVHState() = %q, want poweroff", got)
	}
}
