package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
)

// noteSlack allows for the power note being stamped just before the task
// (both come from the server's clock).
const noteSlack = 2 * time.Second

// powerWaitNote says what byoi did through m's BMC to network-boot it for
// task t, which has not started: sent, in progress, retrying, failed. ok
// is false when byoi recorded no power action for t (a server without
// power control, or before it started one).
func powerWaitNote(t boot.Task, m boot.Machine) (string, bool) {
	n := m.LastPower
	if t.Status != boot.StatusTodo && t.Status != boot.StatusInit || n == nil || n.Start.Before(t.Created.Add(-noteSlack)) {
		return "", false
	}
	via := "its BMC"
	if p := m.Power; p != nil && p.Driver != "" {
		via = p.Driver + " at " + p.Address
	}
	what := n.Action
	if n.Reason != "" {
		what += " (" + n.Reason + ")"
	}
	var text string
	switch {
	case n.Pending() && n.Error == "":
		text = fmt.Sprintf("power: %s via %s, in progress", what, via)
	case n.Pending():
		text = fmt.Sprintf("power: %s: attempt %d failed, retrying: %s", what, n.Attempts, n.Error)
	case n.Error != "" && strings.Contains(n.Error, "by hand"):
		text = "power: " + n.Error
	case n.Error != "":
		text = fmt.Sprintf("power: %s failed: %s; power-cycle %s by hand (network boot first)", what, n.Error, m.Name)
	default:
		text = fmt.Sprintf("power: %s sent via %s at %s", what, via, n.End.Local().Format(time.TimeOnly))
	}
	return text + "; waiting for " + m.Name + " to network-boot", true
}
