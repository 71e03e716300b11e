package power

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// One-time PXE for a QEMU VM: QEMU rebuilds the firmware's "bootorder" file
// (fw_cfg) from the devices' bootindex properties at every system reset, and
// OVMF and SeaBIOS follow that file at every boot. So byoi sets the NIC's
// bootindex below every other device's, resets the VM, and puts every
// bootindex back before the guest runs: the boot that follows is from the
// network, the one after that uses the VM's own order again.

// bootDev is a device with a bootindex property (-1: not in the boot order).
type bootDev struct {
	Path  string
	Index int
}

// qomSet is one qom-set of a bootindex.
type qomSet struct {
	Path  string
	Index int
}

// pxeFirstPlan returns the bootindex changes that put nic before every other
// device, and those that undo them. QEMU refuses a bootindex another device
// holds, so every step is chosen to be free when it runs.
func pxeFirstPlan(devs []bootDev, nic string) (apply, restore []qomSet, err error) {
	nicIdx, found := -1, false
	var others []bootDev
	for _, d := range devs {
		if d.Path == nic {
			nicIdx, found = d.Index, true
			continue
		}
		if d.Index >= 0 {
			others = append(others, d)
		}
	}
	if !found {
		return nil, nil, fmt.Errorf("network card %s has no bootindex property", nic)
	}
	sort.Slice(others, func(i, j int) bool { return others[i].Index < others[j].Index })
	if len(others) == 0 || (nicIdx >= 0 && nicIdx < others[0].Index) {
		return nil, nil, nil // already first
	}
	if others[0].Index > 0 {
		// 0 is free: the NIC takes it.
		return []qomSet{{nic, 0}}, []qomSet{{nic, nicIdx}}, nil
	}
	// Another device holds 0: shift the others up by one (highest first),
	// then give the NIC 0; undo in the reverse order.
	if nicIdx >= 0 {
		apply = append(apply, qomSet{nic, -1})
	}
	for i := len(others) - 1; i >= 0; i-- {
		apply = append(apply, qomSet{others[i].Path, others[i].Index + 1})
	}
	apply = append(apply, qomSet{nic, 0})
	restore = append(restore, qomSet{nic, -1})
	for _, o := range others {
		restore = append(restore, qomSet(o))
	}
	if nicIdx >= 0 {
		restore = append(restore, qomSet{nic, nicIdx})
	}
	return apply, restore, nil
}

// QOM containers where QEMU puts -device devices (with and without id).
var qomContainers = []string{"/machine/peripheral", "/machine/peripheral-anon"}

// nicTypes are QEMU device types of network cards that do not contain "-net".
var nicTypes = map[string]bool{
	"e1000": true, "e1000e": true, "e1000-82544gc": true, "e1000-82545em": true, "igb": true,
	"rtl8139": true, "vmxnet3": true, "ne2k_pci": true, "pcnet": true, "i82559er": true,
	"i82550": true, "i82551": true, "i82557a": true, "i82557b": true, "i82557c": true,
	"i82558a": true, "i82558b": true, "i82559a": true, "i82559b": true, "i82559c": true,
	"i82562": true, "i82801": true, "tulip": true,
}

func isNICType(t string) bool {
	return nicTypes[t] || strings.Contains(t, "-net-") || strings.HasSuffix(t, "-net")
}

// bootDevices lists the devices with a bootindex property and the path of
// the NIC to boot from (want: a QOM id or path, or "" for the first NIC).
func bootDevices(ctx context.Context, q *QMPConn, want string) ([]bootDev, string, error) {
	if want != "" && !strings.HasPrefix(want, "/") {
		want = "/machine/peripheral/" + want
	}
	var devs []bootDev
	nic := ""
	for _, c := range qomContainers {
		var props []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		}
		if err := q.Execute(ctx, "qom-list", map[string]any{"path": c}, &props); err != nil {
			var qe *QMPError
			if errors.As(err, &qe) && qe.Class == "DeviceNotFound" {
				continue // no device without id
			}
			return nil, "", err
		}
		for _, p := range props {
			if !strings.HasPrefix(p.Type, "child<") {
				continue
			}
			path := c + "/" + p.Name
			var idx int
			if err := q.Execute(ctx, "qom-get", map[string]any{"path": path, "property": "bootindex"}, &idx); err != nil {
				continue // no bootindex property
			}
			devs = append(devs, bootDev{Path: path, Index: idx})
			typ := strings.TrimSuffix(strings.TrimPrefix(p.Type, "child<"), ">")
			if (want == "" && nic == "" && isNICType(typ)) || path == want {
				nic = path
			}
		}
	}
	if nic == "" {
		if want != "" {
			return nil, "", fmt.Errorf("no device %s with a bootindex in the VM", want)
		}
		return nil, "", errors.New("the VM has no network card with a bootindex (give -device …-net-pci,id=…, or set nic)")
	}
	return devs, nic, nil
}

// setBootIndexes runs the steps in order and stops at the first failure.
func setBootIndexes(ctx context.Context, q *QMPConn, steps []qomSet) error {
	for _, s := range steps {
		if err := q.Execute(ctx, "qom-set", map[string]any{"path": s.Path, "property": "bootindex", "value": s.Index}, nil); err != nil {
			return fmt.Errorf("bootindex of %s to %d: %w", s.Path, s.Index, err)
		}
	}
	return nil
}
