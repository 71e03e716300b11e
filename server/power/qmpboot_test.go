package power

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPXEFirstPlan(t *testing.T) {
	const nic, disk, cd = "/machine/peripheral/nic0", "/machine/peripheral/disk0", "/machine/peripheral/cd0"
	tests := []struct {
		name               string
		devs               []bootDev
		wantApply, wantRes []qomSet
		wantErr            bool
	}{
		{"already first", []bootDev{{nic, 1}, {disk, 2}}, nil, nil, false},
		{"only the nic", []bootDev{{nic, -1}}, nil, nil, false},
		{"zero free", []bootDev{{nic, 2}, {disk, 1}},
			[]qomSet{{nic, 0}}, []qomSet{{nic, 2}}, false},
		{"nic without bootindex", []bootDev{{nic, -1}, {disk, 1}},
			[]qomSet{{nic, 0}}, []qomSet{{nic, -1}}, false},
		{"disk holds zero", []bootDev{{nic, 1}, {disk, 0}, {cd, 2}},
			[]qomSet{{nic, -1}, {cd, 3}, {disk, 1}, {nic, 0}},
			[]qomSet{{nic, -1}, {disk, 0}, {cd, 2}, {nic, 1}}, false},
		{"disk holds zero, nic unset", []bootDev{{nic, -1}, {disk, 0}},
			[]qomSet{{disk, 1}, {nic, 0}},
			[]qomSet{{nic, -1}, {disk, 0}}, false},
		{"no nic", []bootDev{{disk, 0}}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apply, restore, err := pxeFirstPlan(tt.devs, nic)
			if (err != nil) != tt.wantErr {
				t.Fatalf("pxeFirstPlan() error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantApply, apply); diff != "" {
				t.Errorf("apply mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRes, restore); diff != "" {
				t.Errorf("restore mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// qemuBootIndexes models QEMU's rule for qom-set of a bootindex: a value
// another device holds is refused; -1 leaves the boot order.
type qemuBootIndexes map[string]int

func (q qemuBootIndexes) set(path string, idx int) error {
	if idx >= 0 {
		for p, i := range q {
			if i == idx && p != path {
				return fmt.Errorf("The bootindex %d has already been used", idx)
			}
		}
	}
	q[path] = idx
	return nil
}

// TestPXEFirstPlanEveryOrder runs the plan for every assignment of
// bootindexes -1..3 to a NIC and two other devices: every step is accepted
// by QEMU's rule, the NIC ends first, and restore gives back the original.
func TestPXEFirstPlanEveryOrder(t *testing.T) {
	paths := []string{"nic", "a", "b"}
	n := 0
	for i0 := -1; i0 <= 3; i0++ {
		for i1 := -1; i1 <= 3; i1++ {
			for i2 := -1; i2 <= 3; i2++ {
				idx := []int{i0, i1, i2}
				state, ok := qemuBootIndexes{}, true
				var devs []bootDev
				for k, p := range paths {
					if state.set(p, idx[k]) != nil {
						ok = false // not a state QEMU allows
					}
					devs = append(devs, bootDev{p, idx[k]})
				}
				if !ok {
					continue
				}
				n++
				orig := qemuBootIndexes{"nic": i0, "a": i1, "b": i2}
				apply, restore, err := pxeFirstPlan(devs, "nic")
				if err != nil {
					t.Fatalf("pxeFirstPlan(%v) = %v", devs, err)
				}
				for _, s := range apply {
					if err := state.set(s.Path, s.Index); err != nil {
						t.Fatalf("devs %v: apply step %v refused: %v", devs, s, err)
					}
				}
				if state["nic"] < 0 && (state["a"] >= 0 || state["b"] >= 0) {
					t.Fatalf("devs %v: after apply the NIC has no bootindex: %v", devs, state)
				}
				for _, p := range []string{"a", "b"} {
					if state[p] >= 0 && state[p] <= state["nic"] {
						t.Fatalf("devs %v: after apply %s (%d) is not after the NIC (%d)", devs, p, state[p], state["nic"])
					}
				}
				for _, s := range restore {
					if err := state.set(s.Path, s.Index); err != nil {
						t.Fatalf("devs %v: restore step %v refused: %v", devs, s, err)
					}
				}
				if diff := cmp.Diff(orig, state); diff != "" {
					t.Fatalf("devs %v: restore mismatch (-want +got):\n%s", devs, diff)
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("checked %d orders, want at least 50", n)
	}
}

func TestIsNICType(t *testing.T) {
	for typ, want := range map[string]bool{
		"virtio-net-pci": true, "virtio-net-device": true, "e1000e": true, "rtl8139": true,
		"virtio-blk-pci": false, "ide-cd": false, "scsi-hd": false, "virtio-serial-pci": false,
	} {
		if got := isNICType(typ); got != want {
			t.Errorf("isNICType(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestQMPState(t *testing.T) {
	for status, want := range map[string]State{
		"running": On, "suspended": On, "guest-panicked": On, "debug": On,
		"prelaunch": Off, "paused": Off, "shutdown": Off,
	} {
		if got := QMPState(status); got != want {
			t.Errorf("QMPState(%q) = %s, want %s", status, got, want)
		}
	}
}
