package http

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/lifecycle"
)

// TestInstallerTokenRace boots the same machine from many goroutines at
// once while each of them, as soon as it holds a token, fetches the task as
// an installer would (moving it to doing). Whatever the interleaving:
//   - the task's secrets are served to one token only (a token issued while
//     another installer already started would be a second hand-out);
//   - no token is issued once the installation started: the token that
//     received the task is still the task's token afterwards (boots after
//     the start end the task as "rebooted mid-install" instead);
//   - once the task is doing, boot requests never carry a token.
//
// The check and the token write used to be two store calls (decide, then
// issue while the task is "active"): a boot that decided before an
// installer started issued a fresh token after it, and the agent endpoint
// then served the doing task to that second token.
func TestInstallerTokenRace(t *testing.T) {
	const (
		rounds  = 30
		booters = 16
		boots   = 4 // per goroutine and round, so boots keep overlapping the first fetches
	)
	e := newEnv(t)
	for round := range rounds {
		name := fmt.Sprintf("race-%d", round)
		mac := fmt.Sprintf("52:54:00:00:10:%02x", round)
		bootInstaller(t, e, name, mac, validReinstall) // its token is replaced by the storm below

		var (
			mu      sync.Mutex
			served  = map[string]bool{} // tokens that received the task
			issued  []string
			wg      sync.WaitGroup
			scripts = "/ipxe/machine?platform=efi&buildarch=x86_64&mac=" + mac
		)
		start := make(chan struct{})
		for range booters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range boots {
					w := e.do("GET", scripts, "", "")
					if w.Code != 200 {
						t.Errorf("round %d: GET %s = %d %s", round, scripts, w.Code, w.Body.String())
						return
					}
					m := tokenRE.FindStringSubmatch(w.Body.String())
					if m == nil {
						return // the installation already started (or ended): no token, as it should be
					}
					mu.Lock()
					issued = append(issued, m[1])
					mu.Unlock()
					if r := agentReq(e, m[1], agentapi.PathTask, ""); r.Code == 200 {
						mu.Lock()
						served[m[1]] = true
						mu.Unlock()
					}
				}
			}()
		}
		close(start)
		wg.Wait()

		if len(served) > 1 {
			t.Fatalf("round %d: the task (secrets included) was served to %d different tokens, want at most one (issued %d tokens)", round, len(served), len(issued))
		}
		ts, err := e.st.Tasks(context.Background(), name)
		if err != nil || len(ts) != 1 {
			t.Fatalf("round %d: Tasks(%s) = %d tasks, %v; want one", round, name, len(ts), err)
		}
		task := ts[0]
		for tok := range served {
			// No token was issued after the installation started: the
			// token that received the task is still the task's token.
			if task.TokenHash != lifecycle.HashToken(tok) {
				t.Fatalf("round %d: the installer that received the task (%s) lost its token to a later boot (issued %d tokens)", round, task.Status, len(issued))
			}
		}
		if w := e.do("GET", scripts, "", ""); tokenRE.MatchString(w.Body.String()) && len(served) > 0 {
			t.Fatalf("round %d: a boot after the installer started got a token:\n%s", round, w.Body.String())
		}
	}
}
