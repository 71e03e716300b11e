package power

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const qmpGreeting = `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}`

// qmpPeer listens on a unix socket and answers each connection with greet
// (sent first, if not empty) and then reply(command, id) for every command:
// the lines it returns are sent as they are.
func qmpPeer(t *testing.T, greet string, reply func(cmd, id string) []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if greet != "" {
					c.Write([]byte(greet + "\n"))
				}
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					var req struct {
						Execute string `json:"execute"`
						ID      string `json:"id"`
					}
					if json.Unmarshal(sc.Bytes(), &req) != nil {
						return
					}
					lines := reply(req.Execute, req.ID)
					if lines == nil {
						return // hang up
					}
					for _, l := range lines {
						c.Write([]byte(l + "\n"))
					}
				}
			}()
		}
	}()
	return "unix:" + path
}

func ok(id string) string { return `{"return": {}, "id": "` + id + `"}` }

// runningVM answers like a running QEMU, except for the commands in fail,
// which get the given error reply.
func runningVM(fail map[string]string) func(cmd, id string) []string {
	return func(cmd, id string) []string {
		if e, bad := fail[cmd]; bad {
			return []string{`{"error": {"class": "GenericError", "desc": "` + e + `"}, "id": "` + id + `"}`}
		}
		switch cmd {
		case "query-status":
			return []string{`{"event": "NIC_RX_FILTER_CHANGED", "data": {}, "timestamp": {"seconds": 1, "microseconds": 2}}`,
				`{"return": {"status": "other-id-first"}, "id": "999"}`,
				`{"return": {"running": true, "singlestep": false, "status": "running"}, "id": "` + id + `"}`}
		case "system_reset":
			return []string{ok(id), `{"event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}, "timestamp": {"seconds": 1, "microseconds": 2}}`}
		}
		return []string{ok(id)}
	}
}

func TestQMPErrors(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		addr    func(t *testing.T) string
		call    func(ctx context.Context, d Driver) error
		wantIs  error
		wantMsg []string
	}{
		{"no listener",
			func(t *testing.T) string { return "unix:" + filepath.Join(t.TempDir(), "gone.sock") },
			func(ctx context.Context, d Driver) error { _, err := d.State(ctx); return err },
			ErrUnreachable, []string{"could not read the power state of vm1 via QMP at unix:", "connect"}},
		{"never greets",
			func(t *testing.T) string { return qmpPeer(t, "", runningVM(nil)) },
			func(ctx context.Context, d Driver) error { _, err := d.State(ctx); return err },
			ErrUnreachable, []string{"qmp greeting", "no answer within 300ms"}},
		{"not QEMU",
			func(t *testing.T) string { return qmpPeer(t, `{"hello": "world"}`, runningVM(nil)) },
			func(ctx context.Context, d Driver) error { _, err := d.State(ctx); return err },
			nil, []string{"did not greet as QEMU does"}},
		{"garbage",
			func(t *testing.T) string { return qmpPeer(t, "SSH-2.0-OpenSSH_9.2", runningVM(nil)) },
			func(ctx context.Context, d Driver) error { _, err := d.State(ctx); return err },
			nil, []string{"not a QMP message"}},
		{"capabilities refused",
			func(t *testing.T) string {
				return qmpPeer(t, qmpGreeting, runningVM(map[string]string{"qmp_capabilities": "Capabilities negotiation is already complete"}))
			},
			func(ctx context.Context, d Driver) error { _, err := d.State(ctx); return err },
			ErrRefused, []string{"qmp_capabilities: GenericError: Capabilities negotiation is already complete"}},
		{"stop refused",
			func(t *testing.T) string {
				return qmpPeer(t, qmpGreeting, runningVM(map[string]string{"stop": "Migration is in progress"}))
			},
			func(ctx context.Context, d Driver) error { return d.Power(ctx, PowerOff) },
			ErrRefused, []string{"could not power off vm1 via QMP at unix:", "stop: GenericError: Migration is in progress"}},
		{"hangs up",
			func(t *testing.T) string {
				return qmpPeer(t, qmpGreeting, func(cmd, id string) []string {
					if cmd == "qmp_capabilities" {
						return []string{ok(id)}
					}
					return nil
				})
			},
			func(ctx context.Context, d Driver) error { return d.Power(ctx, Cycle) },
			ErrUnreachable, []string{"could not power-cycle vm1", "query-status"}},
		{"no RESET event",
			func(t *testing.T) string {
				vm := runningVM(nil)
				return qmpPeer(t, qmpGreeting, func(cmd, id string) []string {
					if cmd == "system_reset" {
						return []string{ok(id)}
					}
					return vm(cmd, id)
				})
			},
			func(ctx context.Context, d Driver) error { return d.Power(ctx, Reset) },
			ErrUnreachable, []string{"could not reset vm1", "waiting for event RESET"}},
		{"no network card",
			func(t *testing.T) string {
				return qmpPeer(t, qmpGreeting, func(cmd, id string) []string {
					if cmd == "qom-list" {
						return []string{`{"return": [{"name": "type", "type": "string"}], "id": "` + id + `"}`}
					}
					return runningVM(nil)(cmd, id)
				})
			},
			func(ctx context.Context, d Driver) error { return d.PXEOnce(ctx, true) },
			nil, []string{"could not set one-time PXE boot for vm1", "no network card with a bootindex"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(Config{Driver: "qmp", Address: tt.addr(t)}, Options{Machine: "vm1", Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = tt.call(context.Background(), d)
			if err == nil {
				t.Fatalf("call = nil, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("call = %v, want it to wrap %v", err, tt.wantIs)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("call = %T, want a *power.Error", err)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("call = %q, want it to contain %q", err, m)
				}
			}
			if el := time.Since(start); el > 5*timeout {
				t.Errorf("call took %v, want it bounded by the %v timeout", el, timeout)
			}
		})
	}
}

func TestQMPRunningVM(t *testing.T) {
	addr := qmpPeer(t, qmpGreeting, runningVM(nil))
	d, err := New(Config{Driver: "qmp", Address: addr}, Options{Machine: "vm1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if st, err := d.State(ctx); err != nil || st != On {
		t.Fatalf("State() = %v, %v; want on (events and other ids skipped)", st, err)
	}
	if err := d.Power(ctx, Reset); err != nil {
		t.Fatalf("Power(reset) = %v, want nil", err)
	}
	if err := d.Power(ctx, PowerOn); err != nil {
		t.Fatalf("Power(on) of a running VM = %v, want nil", err)
	}
}

func TestQMPContextCancel(t *testing.T) {
	addr := qmpPeer(t, "", runningVM(nil))
	d, err := New(Config{Driver: "qmp", Address: addr}, Options{Machine: "vm1", Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = d.State(ctx)
	if !errors.Is(err, ErrUnreachable) || time.Since(start) > 3*time.Second {
		t.Fatalf("State() with a 200ms context = %v after %v, want ErrUnreachable soon", err, time.Since(start))
	}
}
