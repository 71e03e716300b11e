package boot

import "time"

// Lease is a DHCP lease handed out in full mode. Leases are persisted so
// that a restarted server gives every client the address it had.
type Lease struct {
	MAC      string    `json:"mac"` // lower-case colon form
	IP       string    `json:"ip"`  // dotted IPv4
	Hostname string    `json:"hostname,omitempty"`
	Expires  time.Time `json:"expires"`
}
