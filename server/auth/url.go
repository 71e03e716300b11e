package auth

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The URL a client signed. An OVH signature covers the full URL the client
// built: scheme, host (with or without a port), path and query. byoi
// rebuilds it from the request: the scheme of the connection (https when it
// came over TLS), the Host header, and the request URI exactly as sent.
// Behind a reverse proxy the client signed the proxy's URL; the proxy's
// X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Port are believed only
// when the connection comes from one of Options.TrustedProxies.
//
// Accepted variants, none of which changes the path, query or body: the
// host with its port and without it (the Node.js client signs
// "https://HOST/…" whatever the port), the host with the scheme's default
// port when the request named none, and the path as sent or unescaped (a
// client signs the URL it was given; its HTTP library may escape it).

// ParseTrustedProxies reads addresses and CIDR prefixes ("203.0.113.7",
// "10.0.0.0/8", "::1") into prefixes.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", s)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// trusted reports whether the address (host or host:port) is a trusted
// proxy.
func (a *Authenticator) trusted(addr string) bool {
	if len(a.opts.TrustedProxies) == 0 {
		return false
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range a.opts.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// remoteAddr is the client's IP address (without port). Behind trusted
// proxies it is the right-most X-Forwarded-For entry that is not itself a
// trusted proxy.
func (a *Authenticator) remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !a.trusted(host) {
		return host
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !a.trusted(hops[i]) {
			return hops[i]
		}
		host = hops[i]
	}
	return host
}

// origin is the scheme and host[:port] the client addressed.
func (a *Authenticator) origin(r *http.Request) (scheme, host string) {
	scheme = "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host = r.Host
	if host == "" {
		host = r.URL.Host
	}
	if !a.trusted(r.RemoteAddr) {
		return scheme, host
	}
	if p := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
		scheme = p
	}
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
		host = h
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Port")); p != "" && allDigits(p) {
		host = net.JoinHostPort(hostname(host), p)
	}
	return scheme, host
}

// signedURLs are the URLs a client may have signed for r.
func (a *Authenticator) signedURLs(r *http.Request) []string {
	scheme, host := a.origin(r)
	hosts := []string{host}
	if name, _, err := net.SplitHostPort(host); err == nil {
		hosts = append(hosts, bracket(name)) // without the port
	} else {
		hosts = append(hosts, net.JoinHostPort(hostname(host), defaultPort(scheme)))
	}
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") { // absolute form (proxy style) or unset
		uri = r.URL.RequestURI()
	}
	uris := []string{uri}
	plain := r.URL.Path
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		plain += "?" + r.URL.RawQuery
	}
	if plain != uri {
		uris = append(uris, plain)
	}
	var out []string
	for _, h := range hosts {
		for _, u := range uris {
			out = append(out, scheme+"://"+h+u)
		}
	}
	return out
}

// hostname strips the port of host[:port], keeping IPv6 brackets off.
func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// bracket puts an IPv6 address in brackets, as it appears in a URL.
func bracket(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

func allDigits(s string) bool {
	if len(s) > 5 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}
