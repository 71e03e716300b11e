// Package configdrive renders an OpenStack config drive, the way cloud-init's
// ConfigDrive datasource (and cloudbase-init) read it: a filesystem labelled
// "config-2" holding openstack/<version>/meta_data.json, user_data,
// network_data.json and vendor_data.json, for "latest" and one dated version.
//
//	img, fstype, err := configdrive.Image(configdrive.Config{
//		UUID: taskID, Hostname: "web1", PublicKeys: []string{key},
//	}, disk.LogicalSectorSize)
//
// Image returns ISO9660 (Rock Ridge names) for disks with logical sectors of
// up to 2048 bytes and FAT12 (long names) with 4096-byte sectors for 4Kn
// disks, where an ISO9660 filesystem cannot be mounted. Both writers are the
// package's own: the output is deterministic, needs no temporary files, and
// the tests check it with isoinfo, blkid, fsck.fat and mtools.
package configdrive

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Label is the filesystem label cloud-init looks for.
const Label = "config-2"

// Version is the dated OpenStack metadata version written beside "latest";
// cloud-init picks the newest version it knows (2018-08-27 is its newest).
const Version = "2018-08-27"

// Filesystem types returned by Image.
const (
	TypeISO9660 = "iso9660"
	TypeVFAT    = "vfat"
)

// Config is what goes on the drive.
type Config struct {
	// UUID is the instance id (cloud-init requires it; a new one makes
	// cloud-init run its per-instance modules again).
	UUID string
	// Hostname becomes hostname and name in meta_data.json.
	Hostname string
	// PublicKeys are SSH public keys, written as public_keys {"0": …}.
	PublicKeys []string
	// Meta lands under "meta" (string values, as nova writes them). cloud-init
	// honours meta.dsmode.
	Meta map[string]string
	// UserData is written to user_data when non-empty.
	UserData []byte
	// NetworkData is network_data.json (must be JSON). When nil, one is
	// generated from Network or, without it, with DHCPv4 on every MAC in
	// MACs; with
	// no MACs either, no network_data.json is written and cloud-init falls
	// back to DHCP on its first connected NIC (a network_data.json cannot
	// express "all NICs" without their MACs).
	NetworkData []byte
	// Network describes the boot NIC (DHCP or a fixed address). When set
	// (and NetworkData is nil), network_data.json describes that NIC only,
	// and MACs are not used.
	Network *Interface
	// MACs are the machine's NIC addresses for the generated network data.
	MACs []string
}

// metaData is meta_data.json; the field order is the output order.
type metaData struct {
	UUID       string            `json:"uuid"`
	Name       string            `json:"name"`
	Hostname   string            `json:"hostname,omitempty"`
	PublicKeys map[string]string `json:"public_keys,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
	LaunchIdx  int               `json:"launch_index"`
}

type networkData struct {
	Links    []link    `json:"links"`
	Networks []network `json:"networks"`
	Services []any     `json:"services"`
}

type link struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	MAC  string `json:"ethernet_mac_address"`
}

type network struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Link      string `json:"link"`
	NetworkID string `json:"network_id"`
}

// Files returns the drive's files by slash-separated path.
func Files(c Config) (map[string][]byte, error) {
	if c.UUID == "" {
		return nil, errors.New("config drive: uuid is required")
	}
	md := metaData{UUID: c.UUID, Name: c.Hostname, Hostname: c.Hostname, Meta: c.Meta}
	if md.Name == "" {
		md.Name = c.UUID
	}
	if len(c.PublicKeys) > 0 {
		md.PublicKeys = map[string]string{}
		for i, k := range c.PublicKeys {
			md.PublicKeys[fmt.Sprint(i)] = k
		}
	}
	meta, err := marshal(md)
	if err != nil {
		return nil, err
	}
	one := map[string][]byte{"meta_data.json": meta, "vendor_data.json": []byte("{}\n")}
	if len(c.UserData) > 0 {
		one["user_data"] = c.UserData
	}
	switch {
	case c.NetworkData != nil:
		if !json.Valid(c.NetworkData) {
			return nil, errors.New("config drive: network data is not valid JSON")
		}
		one["network_data.json"] = c.NetworkData
	case c.Network != nil:
		if one["network_data.json"], err = interfaceData(*c.Network); err != nil {
			return nil, err
		}
	case len(c.MACs) > 0:
		nd := networkData{Links: []link{}, Networks: []network{}, Services: []any{}}
		for i, mac := range c.MACs {
			id := fmt.Sprintf("nic%d", i)
			nd.Links = append(nd.Links, link{ID: id, Type: "phy", MAC: mac})
			nd.Networks = append(nd.Networks, network{ID: fmt.Sprintf("network%d", i), Type: "ipv4_dhcp", Link: id, NetworkID: fmt.Sprintf("network%d", i)})
		}
		if one["network_data.json"], err = marshal(nd); err != nil {
			return nil, err
		}
	}
	out := map[string][]byte{}
	for _, v := range []string{"latest", Version} {
		for name, data := range one {
			out["openstack/"+v+"/"+name] = data
		}
	}
	return out, nil
}

func marshal(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	return append(b, '\n'), nil
}

// Image renders the drive for a disk with the given logical sector size and
// returns the image and its filesystem type.
func Image(c Config, sectorSize int) ([]byte, string, error) {
	switch sectorSize {
	case 512, 1024, 2048:
		img, err := ISO(c)
		return img, TypeISO9660, err
	case 4096:
		img, err := vfat(c, 4096)
		return img, TypeVFAT, err
	}
	return nil, "", fmt.Errorf("config drive: logical sector size %d is not supported", sectorSize)
}

// sortedPaths returns the keys of files in order.
func sortedPaths(files map[string][]byte) []string {
	return slices.Sorted(maps.Keys(files))
}
