package auth

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzForwardedHeaders feeds hostile X-Forwarded-* headers: from an
// untrusted address they change nothing; from a trusted proxy they may
// change the scheme and host, never the path and query a signature covers.
func FuzzForwardedHeaders(f *testing.F) {
	f.Add("https", "api.lab.example", "8443", "192.0.2.1, 10.0.0.1")
	f.Add("https, http", "a.example, b.example", "99999", "")
	f.Add("HTTPS", "[2001:db8::1]:443", "x", "::1")
	f.Add("ftp", "", "", "not an address,,")
	f.Fuzz(func(t *testing.T, proto, host, port, xff string) {
		a := &Authenticator{opts: Options{TrustedProxies: mustPrefixes("10.0.0.0/8")}}
		for _, remote := range []string{"192.0.2.7:5000", "10.0.0.1:5000"} {
			r := httptest.NewRequest("GET", "http://byoi.example:8080/1.0/dedicated/server?status=todo", nil)
			r.RemoteAddr = remote
			plain := a.signedURLs(r)
			plainAddr := a.remoteAddr(r)
			r.Header.Set("X-Forwarded-Proto", proto)
			r.Header.Set("X-Forwarded-Host", host)
			r.Header.Set("X-Forwarded-Port", port)
			r.Header.Set("X-Forwarded-For", xff)
			got := a.signedURLs(r)
			if remote == "192.0.2.7:5000" {
				if !slices.Equal(got, plain) || a.remoteAddr(r) != plainAddr {
					t.Fatalf("untrusted forwarded headers changed the signed URLs %v → %v", plain, got)
				}
				continue
			}
			for _, u := range got {
				if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
					t.Fatalf("signed URL %q has another scheme", u)
				}
				if !strings.HasSuffix(u, "/1.0/dedicated/server?status=todo") {
					t.Fatalf("signed URL %q does not end with the request's path and query", u)
				}
			}
			a.remoteAddr(r)
		}
	})
}
