package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The API listener's certificate: the operator's (--tls-cert, --tls-key),
// or one byoi makes itself (--tls-self-signed) and keeps in the state dir,
// valid for the names and addresses clients use. Clients trust it by its
// fingerprint or by the certificate file itself (Node.js:
// NODE_EXTRA_CA_CERTS=state/api.crt; the byoi CLI reads it from the state
// dir).

// Files of the self-signed certificate in the state dir.
const (
	selfSignedCert = "api.crt"
	selfSignedKey  = "api.key"
)

// selfSignedLifetime is how long a generated certificate is valid; it is
// made again when less than selfSignedRenew is left.
const (
	selfSignedLifetime = 5 * 365 * 24 * time.Hour
	selfSignedRenew    = 30 * 24 * time.Hour
)

// apiCertificate loads the operator's certificate, or loads (making it
// when missing, expiring or not covering names) the self-signed one. It
// returns the certificate, its SHA-256 fingerprint and whether it was just
// made.
func apiCertificate(cfg serveConfig) (cert tls.Certificate, fingerprint string, created bool, err error) {
	if cfg.TLSCert != "" {
		cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return cert, "", false, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		return cert, certFingerprint(cert.Certificate[0]), false, nil
	}
	certPath, keyPath := filepath.Join(cfg.StateDir, selfSignedCert), filepath.Join(cfg.StateDir, selfSignedKey)
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil && selfSignedUsable(cert, cfg.TLSNames, time.Now()) {
		return cert, certFingerprint(cert.Certificate[0]), false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return cert, "", false, fmt.Errorf("self-signed certificate: %w (remove %s and %s to make a new one)", err, certPath, keyPath)
	}
	certPEM, keyPEM, err := makeSelfSigned(cfg.TLSNames, time.Now())
	if err != nil {
		return cert, "", false, err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return cert, "", false, fmt.Errorf("self-signed certificate: %w", err)
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return cert, "", false, fmt.Errorf("self-signed certificate: %w", err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return cert, "", false, err
	}
	return cert, certFingerprint(cert.Certificate[0]), true, nil
}

// selfSignedUsable reports whether a stored certificate is still valid for
// a while and covers every name.
func selfSignedUsable(cert tls.Certificate, names []string, now time.Time) bool {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || now.Add(selfSignedRenew).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// makeSelfSigned makes an ECDSA P-256 certificate for names (DNS names and
// IP addresses), usable as its own CA.
func makeSelfSigned(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "byoi API", Organization: []string{"byoi"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tpl.IPAddresses = append(tpl.IPAddresses, ip)
		} else {
			tpl.DNSNames = append(tpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// selfSignedNames are the names a generated certificate covers: the
// server's address and host name, loopback, and the operator's extra
// --tls-name values.
func selfSignedNames(address net.IP, extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	add := func(n string) {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if address != nil {
		add(address.String())
	}
	if h, err := os.Hostname(); err == nil {
		add(h)
	}
	for _, n := range extra {
		add(n)
	}
	return names
}

// certFingerprint is the SHA-256 of a certificate, as colon-separated hex.
func certFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, with the given mode.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
