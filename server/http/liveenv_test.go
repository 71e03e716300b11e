package http

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/auth"
	"github.com/byoi/byoi/store"
	"github.com/prometheus/client_golang/prometheus"
)

// liveEnv is byoi as `byoi serve --api-listen` runs it, on loopback: the
// real store, the real authenticator, the boot plane on a plain listener
// and the operator APIs over TLS with a certificate from a test CA. The
// official OVH clients talk to it; the test plays the installer on the
// plain listener.
type liveEnv struct {
	t        *testing.T
	st       *store.Store
	a        *auth.Authenticator
	logs     *syncBuffer
	plainURL string // http://127.0.0.1:PORT
	apiPort  int
	caFile   string // the test CA, PEM
	pool     *x509.CertPool
	full     auth.Issued // every call
	scoped   auth.Issued // GET /* and POST …/reinstall only
	expiring auth.Issued // expires one second after the start
}

func newLiveEnv(t *testing.T) *liveEnv {
	t.Helper()
	dir := t.TempDir()
	e := &liveEnv{t: t, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(filepath.Join(dir, "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	key := make([]byte, auth.KeySize)
	rand.Read(key)
	keys, err := auth.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	if e.a, err = auth.New(st, keys, auth.Options{Logger: log.With("component", "auth"), FailureBurst: 1000}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	if e.full, err = auth.IssueOVH(ctx, st, keys, "acceptance", auth.Grant{}, now); err != nil {
		t.Fatal(err)
	}
	scope := auth.Grant{Rules: []boot.AccessRule{{Method: "GET", Path: "/*"}, {Method: "POST", Path: "/dedicated/server/*/reinstall"}}}
	if e.scoped, err = auth.IssueOVH(ctx, st, keys, "terraform read-only", scope, now); err != nil {
		t.Fatal(err)
	}
	if e.expiring, err = auth.IssueOVH(ctx, st, keys, "for a second", auth.Grant{Expires: now.Add(time.Second)}, now); err != nil {
		t.Fatal(err)
	}
	for _, m := range []boot.Machine{
		{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}, IPv4: "198.51.100.21", Created: now},
		{Name: "web-2", MACs: []string{"52:54:00:00:00:02"}, Datacenter: "rbx-lab", Rack: "R12", ServerID: 4242, Created: now},
		{Name: "web-3", MACs: []string{"52:54:00:00:00:03"}, Created: now},
	} {
		if _, err := st.CreateMachine(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	caPEM, cert, pool := testCA(t)
	e.pool = pool
	e.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(e.caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.plainURL = "http://" + plain.Addr().String()
	e.apiPort = apiLn.Addr().(*net.TCPAddr).Port
	srv, err := New(Config{
		BaseURL: e.plainURL, FilesDir: t.TempDir(), Auth: realAuth{e.a}, Credentials: e.a.Credentials(), Keys: e.a.Keys(),
		Logger: log.With("component", "http"), Registerer: prometheus.NewRegistry(), APIURL: e.apiURL(),
	}, st)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- srv.ServeSplit(sctx, plain, tls.NewListener(apiLn, &tls.Config{Certificates: []tls.Certificate{cert}}))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeSplit() = %v", err)
		}
	})
	return e
}

func (e *liveEnv) apiURL() string { return "https://127.0.0.1:" + strconv.Itoa(e.apiPort) }

// testCA makes a CA and a server certificate it signs for 127.0.0.1 and
// localhost.
func testCA(t *testing.T) (caPEM []byte, leaf tls.Certificate, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "byoi test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "byoi"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// bootInstaller plays the machine's iPXE asking what to boot, on the plain
// listener, and returns the installer token of its script.
func (e *liveEnv) bootInstaller(mac string) string {
	e.t.Helper()
	res, err := nethttp.Get(e.plainURL + "/ipxe/machine?platform=efi&buildarch=x86_64&mac=" + mac)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return scriptToken(e.t, string(body))
}

// agent is one call of the installer's agent API on the plain listener.
func (e *liveEnv) agent(token, method, path, body string, want int) {
	e.t.Helper()
	req, _ := nethttp.NewRequest(method, e.plainURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		b, _ := io.ReadAll(res.Body)
		e.t.Fatalf("agent %s %s = %d %s, want %d", method, path, res.StatusCode, b, want)
	}
}
