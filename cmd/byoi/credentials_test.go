package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/byoi/byoi/server/auth"
)

func TestCredentialsCommands(t *testing.T) {
	f := newFakeAPI(t)
	out, err := f.run(t, "credentials", "create", "--kind", "token", "--name", "ci")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^Created token credential (tok-[0-9a-f]{12}) \(ci\)\. Its secret is shown only now; store it safely\.\n  token: (byoi_\S+)\nUse it with --token or BYOI_TOKEN\.\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("credentials create --kind token printed:\n%s", out)
	}
	tokID, token := m[1], m[2]

	out, err = f.run(t, "credentials", "create", "--kind", "ovh", "--name", "terraform", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ovh auth.Issued
	if err := json.Unmarshal([]byte(out), &ovh); err != nil || ovh.ApplicationSecret == "" || ovh.ConsumerKey == "" {
		t.Fatalf("credentials create --kind ovh -o json = %q, %v, want the keys", out, err)
	}
	out, err = f.run(t, "credentials", "create", "--kind", "ovh", "--name", "n2")
	if err != nil || !strings.Contains(out, "  application secret: ") || !strings.Contains(out, "endpoint "+f.srv.URL+"/1.0\n") {
		t.Errorf("credentials create --kind ovh = %q, %v", out, err)
	}

	out, err = f.run(t, "credentials", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "ID  ") || !strings.Contains(out, tokID) || !strings.Contains(out, ovh.ID) || strings.Count(out, "\n") != 4 {
		t.Errorf("credentials list printed:\n%s", out)
	}
	for _, secret := range []string{token, ovh.ApplicationSecret, ovh.ConsumerKey} {
		if strings.Contains(out, secret) {
			t.Errorf("credentials list shows secret %q", secret)
		}
	}

	if out, err := f.run(t, "credentials", "revoke", tokID); err != nil || out != "Credential "+tokID+" revoked.\n" {
		t.Errorf("credentials revoke = %q, %v", out, err)
	}
	if _, err := f.run(t, "credentials", "revoke", tokID); err == nil || err.Error() != "The requested object (credential = "+tokID+") does not exist (HTTP 404)" {
		t.Errorf("credentials revoke (again) = %v, want the server's 404 message", err)
	}
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"credentials", "create", "--name", "x"}, `required flag "kind" not set`},
		{[]string{"credentials", "create", "--kind", "ssh", "--name", "x"}, `Invalid kind "ssh": use "ovh" or "token" (HTTP 400)`},
		{[]string{"credentials", "revoke"}, "credentials revoke: expected one argument, the credential ID, got 0"},
		{[]string{"credentials", "list", "ci"}, `credentials list: unexpected arguments ["ci"]`},
		{[]string{"machines", "list", "rack1", "-o", "json"}, `machines list: unexpected arguments ["rack1"]`},
	} {
		if _, err := f.run(t, tc.args...); err == nil || err.Error() != tc.wantErr {
			t.Errorf("byoi %s = %v, want %q", strings.Join(tc.args, " "), err, tc.wantErr)
		}
	}
}
