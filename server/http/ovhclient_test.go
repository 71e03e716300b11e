package http

import (
	"context"
	"errors"
	"net"
	nethttp "net/http"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/ovh/go-ovh/ovh"
)

// ovhHeaderAuth accepts any request that carries the OVH signature headers;
// checking the signature is the auth package's job. It lets the official
// client run unchanged against the routes here.
type ovhHeaderAuth struct{}

func (a ovhHeaderAuth) CheckHeaders(r *nethttp.Request) error {
	_, err := a.Authenticate(r, nil)
	return err
}

func (ovhHeaderAuth) Authenticate(r *nethttp.Request, _ []byte) (Principal, error) {
	if r.Header.Get("X-Ovh-Application") == "" || r.Header.Get("X-Ovh-Signature") == "" {
		return Principal{}, errors.New("missing OVH signature headers")
	}
	return Principal{CredentialID: r.Header.Get("X-Ovh-Application"), Kind: boot.CredentialOVH}, nil
}

// TestOfficialOVHClient drives the /1.0 routes with github.com/ovh/go-ovh
// over a real listener served by Serve.
func TestOfficialOVHClient(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Auth = ovhHeaderAuth{}; c.Now = nil })
	e.addMachine(boot.Machine{Name: "ns1.example"})
	addr := serveOnLoopback(t, e)

	c, err := ovh.NewClient("http://"+addr+"/1.0", "app", "secret", "consumer")
	if err != nil {
		t.Fatalf("ovh.NewClient() = %v", err)
	}
	var now int64
	if err := c.GetUnAuth("/auth/time", &now); err != nil || now < time.Now().Add(-time.Minute).Unix() {
		t.Fatalf("GET /auth/time = %d, %v", now, err)
	}
	var names []string
	if err := c.Get("/dedicated/server", &names); err != nil || len(names) != 1 {
		t.Fatalf("GET /dedicated/server = %v, %v", names, err)
	}
	type task struct {
		ID         int64     `json:"taskId"`
		Function   string    `json:"function"`
		Status     string    `json:"status"`
		LastUpdate time.Time `json:"lastUpdate"`
		DoneDate   time.Time `json:"doneDate"`
		StartDate  time.Time `json:"startDate"`
	}
	body := map[string]any{
		"operatingSystem": "byoi_64",
		"customizations":  map[string]any{"imageURL": "https://img.example/debian.raw", "imageType": "raw", "hostname": "mon-tux"},
	}
	var created task
	if err := c.Post("/dedicated/server/ns1.example/reinstall", body, &created); err != nil {
		t.Fatalf("POST reinstall = %v", err)
	}
	if created.ID == 0 || created.Function != "reinstallServer" || created.Status != "todo" || created.LastUpdate.IsZero() {
		t.Errorf("POST reinstall = %+v, want a todo reinstallServer task", created)
	}
	var got task
	if err := c.Get("/dedicated/server/ns1.example/task/"+itoa(created.ID), &got); err != nil || got.ID != created.ID {
		t.Errorf("GET task = %+v, %v", got, err)
	}
	var status struct {
		ElapsedTime int64 `json:"elapsedTime"`
		Progress    []struct {
			Comment, Status, Error string
		} `json:"progress"`
	}
	if err := c.Get("/dedicated/server/ns1.example/install/status", &status); err != nil || len(status.Progress) == 0 {
		t.Errorf("GET install/status = %+v, %v", status, err)
	}
	err = c.Post("/dedicated/server/ns1.example/reinstall", body, nil)
	var apiErr *ovh.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 409 || apiErr.Class != "Client::Conflict" {
		t.Errorf("second POST reinstall = %v, want an OVH APIError 409 Client::Conflict", err)
	}
	err = c.Get("/dedicated/server/nope", nil)
	if !errors.As(err, &apiErr) || apiErr.Code != 404 || apiErr.Message != "The requested object (serviceName = nope) does not exist" {
		t.Errorf("GET unknown server = %v, want OVH's 404", err)
	}
}

// serveOnLoopback runs e's server on a real 127.0.0.1 listener until the test
// ends, then checks Serve returned nil; it returns the listener's address.
func serveOnLoopback(t *testing.T, e *env) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() after cancel = %v, want nil", err)
		}
	})
	return l.Addr().String()
}
