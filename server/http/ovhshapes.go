package http

import (
	"bytes"
	"cmp"
	"context"
	"hash/fnv"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/power"
)

// The answers of the /1.0 API in OVH's shapes, property for property as
// OVH's OpenAPI description of /dedicated/server lists them (2025-10
// export): every property present, null only where OVH's type is nullable.
// byoi's additions are marked.

// ovhDateLayout is how OVH writes dates: RFC 3339, whole seconds, numeric
// offset ("2024-01-26T17:57:10+01:00").
const ovhDateLayout = "2006-01-02T15:04:05-07:00"

// ovhDate is a date as OVH writes it, in UTC ("+00:00"); the zero time is
// null.
type ovhDate time.Time

func (d ovhDate) MarshalJSON() ([]byte, error) {
	t := time.Time(d)
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Truncate(time.Second).Format(ovhDateLayout) + `"`), nil
}

func (d *ovhDate) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*d = ovhDate{}
		return nil
	}
	var t time.Time
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	*d = ovhDate(t)
	return nil
}

// ovhTaskJSON is dedicated.server.Task.
type ovhTaskJSON struct {
	Comment               string    `json:"comment"`
	DoneDate              ovhDate   `json:"doneDate"` // null until the task ends
	Function              string    `json:"function"`
	LastUpdate            ovhDate   `json:"lastUpdate"`
	NeedSchedule          bool      `json:"needSchedule"`
	Note                  *string   `json:"note"`
	PlannedInterventionID *int64    `json:"plannedInterventionId"`
	StartDate             ovhDate   `json:"startDate"` // OVH: "Task Creation date"
	Status                string    `json:"status"`
	Tags                  []taskTag `json:"tags"`
	TaskID                int64     `json:"taskId"`
	TicketReference       *string   `json:"ticketReference"`
}

// taskTag is complexType.SafeKeyValueCanBeNull<string>; byoi sets none.
type taskTag struct {
	Key   *string `json:"key"`
	Value string  `json:"value"`
}

func toOVHTask(t boot.Task) ovhTaskJSON {
	comment := t.Comment
	if t.Message != "" {
		comment = t.Message
	}
	// OVH's startDate is the creation date; tasks stored before StartDate
	// meant that have their Created.
	start := cmp.Or(t.StartDate, t.Created, t.LastUpdate)
	return ovhTaskJSON{
		TaskID: t.ID, Function: t.Function, Comment: comment, Status: string(t.Status),
		LastUpdate: ovhDate(t.LastUpdate), StartDate: ovhDate(start), DoneDate: ovhDate(t.DoneDate),
	}
}

// ovhServer is dedicated.server.Dedicated, plus byoi's bootMode, macs and
// lastSeen.
type ovhServer struct {
	AvailabilityZone  string  `json:"availabilityZone"`
	BootID            *int64  `json:"bootId"`
	BootScript        *string `json:"bootScript"`
	CommercialRange   *string `json:"commercialRange"`
	Datacenter        string  `json:"datacenter"`
	EFIBootloaderPath *string `json:"efiBootloaderPath"`
	IP                string  `json:"ip"`
	LinkSpeed         *int64  `json:"linkSpeed"`
	Monitoring        bool    `json:"monitoring"`
	Name              string  `json:"name"`
	NewUpgradeSystem  bool    `json:"newUpgradeSystem"`
	NoIntervention    bool    `json:"noIntervention"`
	OS                string  `json:"os"`
	PowerState        string  `json:"powerState"`
	ProfessionalUse   bool    `json:"professionalUse"`
	Rack              string  `json:"rack"`
	Region            string  `json:"region"`
	RescueMail        *string `json:"rescueMail"`
	RescueSSHKey      *string `json:"rescueSshKey"`
	Reverse           *string `json:"reverse"`
	RootDevice        *string `json:"rootDevice"`
	ServerID          int64   `json:"serverId"`
	State             string  `json:"state"`
	SupportLevel      string  `json:"supportLevel"`

	// byoi's own.
	BootMode boot.BootMode `json:"bootMode"`
	MACs     []string      `json:"macs"`
	LastSeen ovhDate       `json:"lastSeen"`
	// Rescue is where the rescue system answers SSH, while it runs.
	Rescue *rescueView `json:"rescue,omitempty"`
}

// rescueView is what the rescue system reported (byoi's addition): where
// it answers SSH, its host key fingerprints, and the keys themselves, so a
// client can write known_hosts and check the host strictly.
type rescueView struct {
	Addresses      []string `json:"addresses"`
	HostKeys       []string `json:"hostKeys"`
	HostPublicKeys []string `json:"hostPublicKeys"`
	Ready          ovhDate  `json:"ready"`
}

// Boot ids of GET /dedicated/server/{serviceName}/boot.
const (
	bootIDDisk   int64 = 1
	bootIDRescue int64 = 2
)

// ovhBoot is dedicated.server.Netboot.
type ovhBoot struct {
	BootID      int64  `json:"bootId"`
	BootType    string `json:"bootType"`
	Description string `json:"description"`
	Kernel      string `json:"kernel"`
}

var ovhBoots = []ovhBoot{
	{BootID: bootIDDisk, BootType: "harddisk", Description: "Boot from the hard disk", Kernel: "hd"},
	{BootID: bootIDRescue, BootType: "rescue", Description: "byoi rescue system (SSH as root with the rescue key)", Kernel: "rescue-byoi"},
}

// Power states (dedicated.server.PowerStateEnum).
const (
	powerOn  = "poweron"
	powerOff = "poweroff"
)

// serverView renders a machine; ip is its address as far as byoi knows.
func (s *Server) serverView(ctx context.Context, m boot.Machine, ip string) ovhServer {
	out := ovhServer{
		Name: m.Name, OS: "none_64", State: "ok", SupportLevel: "pro",
		ServerID: serverID(m), IP: ip, PowerState: s.powerState(ctx, m),
		Datacenter:       or(m.Datacenter, s.cfg.Site.Datacenter),
		Rack:             or(m.Rack, s.cfg.Site.Rack),
		Region:           or(m.Region, s.cfg.Site.Region),
		AvailabilityZone: or(m.AvailabilityZone, s.cfg.Site.AvailabilityZone),
		BootMode:         m.BootMode, MACs: m.MACs, LastSeen: ovhDate(m.LastSeen),
	}
	if m.EFIBootloaderPath != "" {
		p := m.EFIBootloaderPath
		out.EFIBootloaderPath = &p
	}
	switch m.BootMode {
	case boot.BootModeLocal:
		id := bootIDDisk
		out.BootID = &id
	case boot.BootModeRescue:
		id := bootIDRescue
		out.BootID = &id
		if r := m.Rescue; r != nil && !r.Ready.IsZero() {
			out.Rescue = &rescueView{Addresses: r.Addresses, HostKeys: r.HostKeys, HostPublicKeys: r.HostPublicKeys, Ready: ovhDate(r.Ready)}
		}
	}
	if m.RescueSSHKey != "" {
		k := m.RescueSSHKey
		out.RescueSSHKey = &k
	}
	if m.BootMode == boot.BootModeLocal {
		out.OS = boot.OSBYOI
	}
	if out.MACs == nil {
		out.MACs = []string{}
	}
	return out
}

// powerState asks Config.Power, else reports what byoi last saw: a machine
// that asked what to boot was powered on then; one never seen is reported
// off.
func (s *Server) powerState(ctx context.Context, m boot.Machine) string {
	if s.cfg.Power != nil && m.Power != nil {
		st, err := s.cfg.Power.State(ctx, m)
		if err == nil {
			return st.OVHState()
		}
		s.log.Warn("power state unknown, reporting what byoi last saw", "machine", m.Name, "err", err)
	}
	return lastSeenPower(m)
}

// lastSeenPower is the state byoi last read from the BMC, else what the
// machine's boot requests tell: one that asked what to boot was on then.
func lastSeenPower(m boot.Machine) string {
	switch {
	case m.PowerState != "":
		return power.State(m.PowerState).OVHState()
	case m.LastSeen.IsZero():
		return powerOff
	}
	return powerOn
}

// serverID is the machine's own serverId, else one derived from its name:
// FNV-1a, 31 bits, never 0. It stays the same across restarts and changes
// only if the machine is renamed.
func serverID(m boot.Machine) int64 {
	if m.ServerID > 0 {
		return m.ServerID
	}
	h := fnv.New32a()
	h.Write([]byte(m.Name))
	return max(int64(h.Sum32()&0x7fffffff), 1)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
