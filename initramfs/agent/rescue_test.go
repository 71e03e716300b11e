package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/rescue"
)

// rescueServer plays the byoi server's two rescue endpoints.
type rescueServer struct {
	*httptest.Server
	token  string
	config agentapi.Rescue

	mu    sync.Mutex
	fail  map[string]int // next n calls to a path answer 503
	auth  []string
	ready []agentapi.RescueReady
	got   chan struct{} // closed at the first ready report
}

func newRescueServer(t *testing.T, cfg agentapi.Rescue) *rescueServer {
	s := &rescueServer{token: "rescue-token-1", config: cfg, fail: map[string]int{}, got: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *rescueServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !admit(w, r, s.token, s.fail, &s.auth) {
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == agentapi.PathRescue:
		json.NewEncoder(w).Encode(s.config)
	case r.Method == http.MethodPost && r.URL.Path == agentapi.PathRescueReady:
		var rr agentapi.RescueReady
		if err := json.NewDecoder(r.Body).Decode(&rr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.ready = append(s.ready, rr)
		if len(s.ready) == 1 {
			close(s.got)
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// fakeSSH records what the agent asks of the SSH server.
type fakeSSH struct {
	mu         sync.Mutex
	machine    string
	keys       []string
	prepareErr error
	serveErr   error // Serve fails at once with it
	served     bool
}

var testHostKeys = []rescue.HostKey{
	{Label: "ED25519", Fingerprint: "SHA256:ed", Public: "ssh-ed25519 AAAAed"},
	{Label: "RSA", Fingerprint: "SHA256:rsa", Public: "ssh-rsa AAAArsa"},
}

func (f *fakeSSH) Prepare(machine string, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.machine, f.keys = machine, keys
	return f.prepareErr
}

func (f *fakeSSH) HostKeys(context.Context) ([]rescue.HostKey, error) { return testHostKeys, nil }

func (f *fakeSSH) Serve(ctx context.Context, ready func(int)) error {
	f.mu.Lock()
	f.served = true
	f.mu.Unlock()
	if f.serveErr != nil {
		return f.serveErr
	}
	ready(4242)
	<-ctx.Done()
	return ctx.Err()
}

// syncBuffer is a console several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func rescueEnv(srv *rescueServer, ssh *fakeSSH, console *syncBuffer) Env {
	return Env{
		Cmdline: "console=ttyS0 BOOTIF=01-52-54-00-12-34-56 byoi.server=" + srv.URL + " byoi.mode=rescue byoi.token=" + srv.token,
		Clock:   newFakeClock(), SSH: ssh, Console: console,
		Addresses: func(Config) ([]string, error) { return []string{"198.51.100.10", "2001:db8::10"}, nil },
	}
}

func TestRescue(t *testing.T) {
	keys := []string{"ssh-ed25519 AAAAone op@laptop", "ssh-ed25519 AAAAtwo"}
	srv := newRescueServer(t, agentapi.Rescue{Machine: "rack1-07", SSHKeys: keys})
	srv.fail[agentapi.PathRescue] = 2
	srv.fail[agentapi.PathRescueReady] = 1
	ssh := &fakeSSH{}
	console := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, rescueEnv(srv, ssh, console)) }()
	select {
	case <-srv.got:
	case err := <-done:
		t.Fatalf("Run(rescue) returned before reporting ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready report after 10 s")
	}
	select {
	case err := <-done:
		t.Fatalf("Run(rescue) returned while sshd runs: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run(rescue) after its context ended = %v, want context.Canceled", err)
	}
	if ssh.machine != "rack1-07" || !cmp.Equal(ssh.keys, keys) {
		t.Errorf("SSH server prepared for %q with %v, want rack1-07 with %v", ssh.machine, ssh.keys, keys)
	}
	want := agentapi.RescueReady{Addresses: []string{"198.51.100.10", "2001:db8::10"},
		HostKeys: []string{"ED25519 SHA256:ed", "RSA SHA256:rsa"}, HostPublicKeys: []string{"ssh-ed25519 AAAAed", "ssh-rsa AAAArsa"}}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.ready) != 1 {
		t.Fatalf("server got %d ready reports, want 1", len(srv.ready))
	}
	if diff := cmp.Diff(want, srv.ready[0]); diff != "" {
		t.Errorf("ready report (-want +got):\n%s", diff)
	}
	for _, a := range srv.auth {
		if a != "Bearer "+srv.token {
			t.Errorf("request with Authorization %q, want the boot's token", a)
		}
	}
	wantConsole := "rescue: ssh root@198.51.100.10 (host key SHA256:ed)\n" +
		"rescue: ssh root@2001:db8::10 (host key SHA256:ed)\n" +
		"rescue: host keys: ED25519 SHA256:ed, RSA SHA256:rsa\n"
	if got := console.String(); got != wantConsole {
		t.Errorf("console = %q, want %q", got, wantConsole)
	}
}

func TestRescueFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		badToken  bool
		ssh       *fakeSSH
		keys      []string
		wantErr   string
		wantIs    error
		served    bool
		inConsole string
	}{
		{name: "token rejected", badToken: true, ssh: &fakeSSH{}, wantErr: "rejected this rescue system's token", wantIs: ErrTokenRejected},
		{name: "bad key", ssh: &fakeSSH{prepareErr: rescue.ErrBadKey}, keys: []string{"x"}, wantIs: rescue.ErrBadKey},
		{name: "sshd does not start", ssh: &fakeSSH{serveErr: errors.New("no sshd")}, keys: []string{"k"}, wantErr: "start sshd: no sshd", served: true},
		{name: "no keys", ssh: &fakeSSH{serveErr: errors.New("stop")}, wantErr: "start sshd", served: true,
			inConsole: "rescue: WARNING: byoi gave no SSH key for this machine: nobody can log in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRescueServer(t, agentapi.Rescue{Machine: "m", SSHKeys: tc.keys})
			console := &syncBuffer{}
			env := rescueEnv(srv, tc.ssh, console)
			if tc.badToken {
				env.Cmdline = strings.Replace(env.Cmdline, srv.token, "stale", 1)
			}
			err := Run(context.Background(), env)
			if err == nil || (tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr)) || (tc.wantIs != nil && !errors.Is(err, tc.wantIs)) {
				t.Fatalf("Run(rescue) = %v, want an error containing %q / wrapping %v", err, tc.wantErr, tc.wantIs)
			}
			if tc.ssh.served != tc.served {
				t.Errorf("sshd started = %v, want %v", tc.ssh.served, tc.served)
			}
			if !strings.Contains(console.String(), tc.inConsole) {
				t.Errorf("console = %q, want %q", console.String(), tc.inConsole)
			}
			if len(srv.ready) != 0 {
				t.Errorf("server told the rescue system is ready after %s", tc.name)
			}
		})
	}
}
