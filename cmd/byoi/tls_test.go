package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestAPICertificate(t *testing.T) {
	dir := t.TempDir()
	cfg := serveConfig{StateDir: dir, TLSNames: []string{"localhost", "127.0.0.1", "byoi.lab.example"}}
	_, fp1, created, err := apiCertificate(cfg)
	if err != nil || !created {
		t.Fatalf("apiCertificate(new) = %q, created %v, %v", fp1, created, err)
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp1) {
		t.Errorf("fingerprint = %q, want 32 colon-separated hex bytes", fp1)
	}
	if fi, err := os.Stat(filepath.Join(dir, selfSignedKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	_, fp2, created, err := apiCertificate(cfg)
	if err != nil || created || fp2 != fp1 {
		t.Errorf("apiCertificate(again) = %q, created %v, %v; want the same certificate", fp2, created, err)
	}
	cfg.TLSNames = append(cfg.TLSNames, "new.lab.example")
	_, fp3, created, err := apiCertificate(cfg)
	if err != nil || !created || fp3 == fp1 {
		t.Errorf("apiCertificate(a new name) = %q, created %v, %v; want a new certificate", fp3, created, err)
	}

	// An operator's certificate is used as it is.
	op := serveConfig{TLSCert: filepath.Join(dir, selfSignedCert), TLSKey: filepath.Join(dir, selfSignedKey)}
	if _, fp, created, err := apiCertificate(op); err != nil || created || fp != fp3 {
		t.Errorf("apiCertificate(--tls-cert) = %q, created %v, %v; want %q", fp, created, err, fp3)
	}
}

func TestSelfSignedUsable(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	certPEM, keyPEM, err := makeSelfSigned([]string{"localhost", "198.51.100.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		at    time.Time
		want  bool
	}{
		{[]string{"localhost", "198.51.100.1"}, now, true},
		{[]string{"198.51.100.2"}, now, false},
		{[]string{"localhost"}, now.Add(selfSignedLifetime - selfSignedRenew + time.Hour), false},
		{[]string{"localhost"}, now.Add(-2 * time.Hour), false},
	} {
		if got := selfSignedUsable(cert, tc.names, tc.at); got != tc.want {
			t.Errorf("selfSignedUsable(%v at %v) = %v, want %v", tc.names, tc.at, got, tc.want)
		}
	}
}
