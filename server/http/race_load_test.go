//go:build race

package http

// raceEnabled: the race detector slows every request several times.
const raceEnabled = true
