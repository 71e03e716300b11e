package boot

import "time"

// PowerSettings are a machine's BMC settings as stored: the password only
// ever sealed (encrypted with the server key, bound to the machine's name),
// never in clear. server/powerctl turns them into a driver.
type PowerSettings struct {
	Driver      string `json:"driver,omitempty"` // ipmi, redfish, qmp; empty: none
	Address     string `json:"address,omitempty"`
	Username    string `json:"username,omitempty"`
	System      string `json:"system,omitempty"` // Redfish system, when several
	NIC         string `json:"nic,omitempty"`    // QMP network card
	InsecureTLS bool   `json:"insecureTLS,omitempty"`
	// SealedPassword is the password sealed with server key KeyVersion.
	SealedPassword []byte `json:"sealedPassword,omitempty"`
	KeyVersion     int    `json:"keyVersion,omitempty"`
}

// HasPassword reports whether a sealed password is stored.
func (p *PowerSettings) HasPassword() bool { return p != nil && len(p.SealedPassword) > 0 }

// PowerNote is byoi's last power action on a machine and how it went.
type PowerNote struct {
	Action string    `json:"action"` // e.g. "network boot and power-cycle", "power off"
	Reason string    `json:"reason,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"` // zero while it is being tried
	// Attempts counts the tries so far; Error is the last one's error.
	Attempts int    `json:"attempts,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Pending reports whether the action is still being tried.
func (n *PowerNote) Pending() bool { return n != nil && n.End.IsZero() }

// RescueInfo is what the machine's rescue system reported, while its boot
// mode is rescue.
type RescueInfo struct {
	// TokenHash is the SHA-256 of the current rescue boot's token.
	TokenHash string    `json:"tokenHash,omitempty"`
	Booted    time.Time `json:"booted,omitzero"` // the rescue script was served
	Ready     time.Time `json:"ready,omitzero"`  // sshd answers
	// Addresses are where sshd listens, boot NIC first; HostKeys are the
	// host key fingerprints ("ED25519 SHA256:…"), HostPublicKeys the keys.
	Addresses      []string `json:"addresses,omitempty"`
	HostKeys       []string `json:"hostKeys,omitempty"`
	HostPublicKeys []string `json:"hostPublicKeys,omitempty"`
}

// Redacted returns the machine as any API may show it: no sealed password,
// no rescue token hash.
func (m Machine) Redacted() Machine {
	if m.Power != nil {
		p := *m.Power
		p.SealedPassword, p.KeyVersion = nil, 0
		m.Power = &p
	}
	if m.Rescue != nil {
		r := *m.Rescue
		r.TokenHash = ""
		m.Rescue = &r
	}
	return m
}
