package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Cookie names.
const (
	sessionCookie = "byoi_session"
	loginCookie   = "byoi_login" // the login form's CSRF token (double submit)
)

// maxSessions bounds the sessions kept; the oldest goes first.
const maxSessions = 1000

// session is one logged-in browser. The token stays on the server: the
// cookie holds only a random session ID.
type session struct {
	id, token, who, csrf string
	expires              time.Time
	checked              time.Time // when the token was last checked
}

type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
	now func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, ttl: ttl, now: now}
}

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(token, who string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.m) >= maxSessions {
		var oldest *session
		for _, x := range s.m {
			if oldest == nil || x.expires.Before(oldest.expires) {
				oldest = x
			}
		}
		delete(s.m, oldest.id)
	}
	x := &session{id: randomID(), token: token, who: who, csrf: randomID(), expires: now.Add(s.ttl), checked: now}
	s.m[x.id] = x
	return x
}

// get returns the live session of id, extending it.
func (s *sessions) get(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.m[id]
	if !ok {
		return session{}, false
	}
	now := s.now()
	if now.After(x.expires) {
		delete(s.m, id)
		return session{}, false
	}
	x.expires = now.Add(s.ttl)
	return *x, true
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

type sessionKey struct{}

func sessionFrom(ctx context.Context) session {
	x, _ := ctx.Value(sessionKey{}).(session)
	return x
}

// authed runs h for a request of a logged-in browser whose token still
// authenticates; others go to the login page (or get 401 for events).
func (u *UI) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x, ok := u.session(r)
		if !ok {
			if r.URL.Path == "/ui/events" || r.Method != http.MethodGet {
				http.Error(w, "not logged in", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, x)))
	}
}

// session returns the request's session after checking its token again
// (a revoked token ends its sessions at once).
func (u *UI) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	x, ok := u.sessions.get(c.Value)
	if !ok {
		return session{}, false
	}
	if _, err := u.checkToken(r, x.token); err != nil {
		u.sessions.remove(x.id)
		u.log.Info("web: session ended: its token no longer authenticates", "who", x.who, "err", err)
		return session{}, false
	}
	return x, true
}

func (u *UI) checkToken(r *http.Request, token string) (string, error) {
	if u.cfg.Auth == nil {
		return "", errNoAuth
	}
	return u.cfg.Auth(r, token)
}

type uiError string

func (e uiError) Error() string { return string(e) }

const errNoAuth = uiError("this server has no authentication configured")

// csrf refuses a form post without the session's CSRF token, or sent from
// another origin.
func (u *UI) csrf(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x := sessionFrom(r.Context())
		if !sameOrigin(r) || !equal(r.PostFormValue("csrf"), x.csrf) {
			u.log.Warn("web: form refused: missing or wrong CSRF token", "path", r.URL.Path, "who", x.who, "origin", r.Header.Get("Origin"))
			u.render(w, http.StatusForbidden, "error.html", page{Title: "Refused", Session: x, Error: "This form is stale or was not sent by this page (CSRF check failed). Go back, reload the page and try again."})
			return
		}
		h(w, r)
	}
}

// sameOrigin is false for a request whose Origin names another host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	ou, err := url.Parse(o)
	return err == nil && strings.EqualFold(ou.Host, r.Host)
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// setCookie sets an HttpOnly, SameSite=Strict cookie under /ui/, Secure
// over TLS or when configured.
func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/ui/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || u.cfg.SecureCookies,
	})
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	tok := randomID()
	u.setCookie(w, r, loginCookie, tok, 600)
	u.render(w, http.StatusOK, "login.html", page{Title: "Log in", CSRF: tok, Next: safeNext(r.URL.Query().Get("next"))})
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	next := safeNext(r.PostFormValue("next"))
	fail := func(status int, msg string) {
		tok := randomID()
		u.setCookie(w, r, loginCookie, tok, 600)
		u.render(w, status, "login.html", page{Title: "Log in", CSRF: tok, Next: next, Error: msg})
	}
	if err != nil || !sameOrigin(r) || !equal(r.PostFormValue("csrf"), c.Value) {
		fail(http.StatusForbidden, "The login form expired or was not sent by this page. Try again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		fail(http.StatusBadRequest, "Paste a byoi API token (byoi credentials create --kind token makes one).")
		return
	}
	who, err := u.checkToken(r, token)
	if err != nil {
		u.log.Info("web: login refused", "remote", r.RemoteAddr, "err", err)
		fail(http.StatusUnauthorized, "This token was refused: "+err.Error())
		return
	}
	x := u.sessions.create(token, who)
	u.setCookie(w, r, sessionCookie, x.id, 0)
	u.setCookie(w, r, loginCookie, "", -1)
	u.log.Info("web: logged in", "who", who, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	x := sessionFrom(r.Context())
	if !equal(r.PostFormValue("csrf"), x.csrf) {
		http.Error(w, "CSRF check failed", http.StatusForbidden)
		return
	}
	u.sessions.remove(x.id)
	u.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect inside the UI.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/ui/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/ui/"
}
