package power

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Driver names, as Config.Driver spells them.
const (
	DriverNone    = "none"
	DriverIPMI    = "ipmi"
	DriverRedfish = "redfish"
	DriverQMP     = "qmp"
)

// Config is one machine's power settings, as stored with the machine. The
// zero value is the "none" driver. Password is a secret: store it sealed,
// show Public() instead.
type Config struct {
	// Driver is ipmi, redfish, qmp or none ("" means none).
	Driver string `json:"driver,omitempty"`
	// Address is where the BMC listens:
	//   ipmi:    host or host:port (UDP, port 623 by default)
	//   redfish: https://host[:port] or http://…, or a bare host (https)
	//   qmp:     unix:/path/to/qmp.sock, a path starting with /, or tcp:host:port
	Address string `json:"address,omitempty"`
	// Username and Password log in to the BMC (ipmi, redfish; unused by qmp).
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// System picks the Redfish ComputerSystem (its Id or @odata.id) when the
	// service has more than one; empty means the only one.
	System string `json:"system,omitempty"`
	// NIC is the QOM id (or full QOM path) of the VM's network card that
	// one-time PXE moves first (qmp); empty means the first network card
	// found under /machine/peripheral and /machine/peripheral-anon.
	NIC string `json:"nic,omitempty"`
	// InsecureTLS accepts any TLS certificate from a Redfish BMC (most ship
	// self-signed ones). The password is then only as safe as the network.
	InsecureTLS bool `json:"insecureTLS,omitempty"`
}

// driver returns the normalised driver name.
func (c Config) driver() string {
	if c.Driver == "" {
		return DriverNone
	}
	return strings.ToLower(c.Driver)
}

// Public returns the settings without the password, for views and logs;
// HasPassword tells whether one is set.
func (c Config) Public() Config {
	c.Password = ""
	return c
}

// HasPassword reports whether a password is set.
func (c Config) HasPassword() bool { return c.Password != "" }

// Validate checks the settings without contacting the BMC. Its messages name
// the field and never the password.
func (c Config) Validate() error {
	switch c.driver() {
	case DriverNone:
		if c.Address != "" {
			return errors.New("power settings: an address needs a driver (ipmi, redfish or qmp)")
		}
		return nil
	case DriverIPMI:
		if _, _, err := ipmiHostPort(c.Address); err != nil {
			return fmt.Errorf("power settings: %w", err)
		}
		if c.Username == "" {
			return errors.New("power settings: ipmi needs a username")
		}
		if len(c.Username) > 16 || len(c.Password) > 20 {
			return errors.New("power settings: IPMI v2 allows a username of at most 16 bytes and a password of at most 20")
		}
		return nil
	case DriverRedfish:
		if _, err := redfishEndpoint(c.Address); err != nil {
			return fmt.Errorf("power settings: %w", err)
		}
		if c.Username == "" {
			return errors.New("power settings: redfish needs a username")
		}
		return nil
	case DriverQMP:
		if _, _, err := qmpNetAddr(c.Address); err != nil {
			return fmt.Errorf("power settings: %w", err)
		}
		return nil
	}
	return fmt.Errorf("power settings: unknown driver %q: want ipmi, redfish, qmp or none", c.Driver)
}

// ipmiHostPort splits an IPMI address; the port defaults to 623.
func ipmiHostPort(addr string) (string, int, error) {
	if addr == "" {
		return "", 0, errors.New("ipmi needs an address (host or host:port)")
	}
	host, port := addr, 623
	if h, p, err := net.SplitHostPort(addr); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("ipmi address %q: invalid port", addr)
		}
		host, port = h, n
	}
	if host == "" || strings.ContainsAny(host, "/ \t\n@") {
		return "", 0, fmt.Errorf("ipmi address %q: want host or host:port", addr)
	}
	return host, port, nil
}

// redfishEndpoint returns the service's base URL (scheme://host[:port]).
func redfishEndpoint(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("redfish needs an address (https://host[:port])")
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("redfish address: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("redfish address %q: want an https:// or http:// URL", addr)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("redfish address %q: want scheme://host[:port] only (credentials go in username and password)", u.Redacted())
	}
	return u.Scheme + "://" + u.Host, nil
}

// qmpNetAddr returns the network ("unix" or "tcp") and address of a QMP socket.
func qmpNetAddr(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "unix:"):
		network, address = "unix", strings.TrimPrefix(addr, "unix:")
	case strings.HasPrefix(addr, "/"):
		network, address = "unix", addr
	case strings.HasPrefix(addr, "tcp:"):
		network, address = "tcp", strings.TrimPrefix(addr, "tcp:")
		if _, _, err := net.SplitHostPort(address); err != nil {
			return "", "", fmt.Errorf("qmp address %q: want tcp:host:port", addr)
		}
	default:
		return "", "", fmt.Errorf("qmp address %q: want unix:/path, /path or tcp:host:port", addr)
	}
	if address == "" {
		return "", "", fmt.Errorf("qmp address %q is empty", addr)
	}
	return network, address, nil
}
