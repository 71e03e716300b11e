package power

import (
	"context"
	"net"
	"testing"
	"time"
)

// FuzzQMPConn feeds arbitrary bytes as everything a QMP peer says: the
// client must return (a value or an error) within its timeout and never
// panic, whatever the greeting, replies, ids and events.
func FuzzQMPConn(f *testing.F) {
	f.Add([]byte(qmpGreeting + "\n" + `{"return": {}, "id": "1"}` + "\n" +
		`{"event": "STOP"}` + "\n" + `{"return": {"status": "running"}, "id": "2"}` + "\n"))
	f.Add([]byte(qmpGreeting + "\n" + `{"return": {}, "id": "1"}` + "\n" + `{"error": {"class": "GenericError", "desc": "x"}, "id": "2"}` + "\n"))
	f.Add([]byte(qmpGreeting + "\n" + `{"return": {}, "id": 1}` + "\n"))
	f.Add([]byte(`{"QMP": null}` + "\n"))
	f.Add([]byte("{\"QMP\": {}}\n{\"return\": [1,2,3], \"id\": \"1\"}\n{\"return\": \"running\", \"id\": \"2\"}\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, peer []byte) {
		client, server := net.Pipe()
		go func() {
			// Drain the client's commands; send the fuzzed stream, then hang up.
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := server.Read(buf); err != nil {
						return
					}
				}
			}()
			_, _ = server.Write(peer)
			server.Close()
		}()
		q := &QMPConn{conn: client, timeout: 200 * time.Millisecond}
		q.r = newQMPReader(client)
		ctx := context.Background()
		if err := q.greet(ctx); err == nil {
			_, _ = qmpStatus(ctx, q)
			_ = q.WaitEvent(ctx, "RESET")
		}
		client.Close()
	})
}
