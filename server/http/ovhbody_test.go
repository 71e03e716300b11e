package http

import (
	"errors"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

// The same installation asked three ways must give the same spec.
func TestDecodersAgree(t *testing.T) {
	want := boot.InstallSpec{
		OperatingSystem: boot.OSBYOI, ImageURL: "https://img.example/deb.qcow2", ImageType: "qcow2",
		ImageCheckSum: "0123456789abcdef0123456789abcdef", ImageCheckSumType: "md5",
		HTTPHeaders: map[string]string{"Authorization": "Basic eDp5", "X-Token": "t"},
		Hostname:    "mon-tux", SSHKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host",
		ConfigDriveUserData: "#cloud-config\n", ConfigDriveMetadata: map[string]string{"role": "web"},
		DiskGroupID: 2,
	}
	tests := []struct {
		name   string
		decode func([]byte) (boot.InstallSpec, error)
		body   string
	}{
		{"reinstall", decodeReinstall, `{"operatingSystem":"byoi_64","customizations":{"hostname":"mon-tux",
			"imageURL":"https://img.example/deb.qcow2","imageType":"qcow2","imageCheckSum":"0123456789abcdef0123456789abcdef",
			"imageCheckSumType":"md5","httpHeaders":{"Authorization":"Basic eDp5","X-Token":"t"},"sshKey":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host",
			"configDriveUserData":"#cloud-config\n","configDriveMetadata":{"role":"web"}},
			"storage":[{"diskGroupId":2,"partitioning":{"layout":[]}}],"properties":{"x":1}}`},
		{"install/start", decodeInstallStart, `{"templateName":"byoi_64","partitionSchemeName":"default",
			"details":{"customHostname":"mon-tux","diskGroupId":2,"language":"en"},"userMetadata":[
			{"key":"imageURL","value":"https://img.example/deb.qcow2"},{"key":"imageType","value":"qcow2"},
			{"key":"imageCheckSum","value":"0123456789abcdef0123456789abcdef"},{"key":"imageCheckSumType","value":"md5"},
			{"key":"httpHeaders1Key","value":"X-Token"},{"key":"httpHeaders0Key","value":"Authorization"},
			{"key":"httpHeaders0Value","value":"Basic eDp5"},{"key":"httpHeaders1Value","value":"t"},
			{"key":"sshKey","value":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host"},{"key":"configDriveUserData","value":"#cloud-config\n"},
			{"key":"configDriveMetadata","value":"{\"role\":\"web\"}"}]}`},
		{"bringYourOwnImage", decodeBYOI, `{"URL":"https://img.example/deb.qcow2","type":"qcow2","description":"d",
			"checkSum":"0123456789abcdef0123456789abcdef","checkSumType":"md5","diskGroupId":2,
			"httpHeader":[{"key":"Authorization","value":"Basic eDp5"},{"key":"X-Token","value":"t"}],
			"configdrive":{"enable":true,"hostname":"mon-tux","sshKey":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host","userData":"#cloud-config\n",
			"userMetadatas":[{"key":"role","value":"web"}]}}`},
		{"bringYourOwnImage flat", decodeBYOI, `{"URL":"https://img.example/deb.qcow2","type":"qcow2",
			"checkSum":"0123456789abcdef0123456789abcdef","checkSumType":"md5","diskGroupId":2,
			"httpHeader":{"Authorization":"Basic eDp5","X-Token":"t"},"hostname":"mon-tux","sshKey":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host",
			"userData":"#cloud-config\n","userMetadatas":{"role":"web"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.decode([]byte(tc.body))
			if err != nil {
				t.Fatalf("decode() = %v", err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decode() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBYOIConfigDriveDisabled(t *testing.T) {
	got, err := decodeBYOI([]byte(`{"URL":"http://a/b","type":"raw","configdrive":{"enable":false,"hostname":"h","userData":"x"}}`))
	if err != nil {
		t.Fatalf("decodeBYOI() = %v", err)
	}
	if got.WantsConfigDrive() {
		t.Errorf("decodeBYOI(enable=false) = %+v, want no config drive", got)
	}
}

// FuzzOVHBodies feeds arbitrary bytes to the three decoders: they never
// panic, and every refusal is a 400 the API can show.
func FuzzOVHBodies(f *testing.F) {
	seeds := []string{
		validReinstall,
		`{"operatingSystem":"byoi_64","customizations":{"httpHeaders":{"a":"b"},"configDriveMetadata":{"k":"v"}},"storage":[{"diskGroupId":1}]}`,
		`{"templateName":"byoi_64","details":{"customHostname":"h","diskGroupId":1},"userMetadata":[{"key":"httpHeaders7Key","value":"A"},{"key":"httpHeaders7Value","value":"B"},{"key":"configDriveMetadata","value":"{}"}]}`,
		`{"URL":"http://a/b","type":"raw","httpHeader":[{"key":"A","value":"B"}],"configdrive":{"enable":true,"userMetadatas":{"a":"b"}}}`,
		`{"URL":"http://a/b","type":"raw","userMetadatas":null,"httpHeader":{}}`,
		`[]`, `null`, `{"userMetadata":[null]}`, "\x00", `{"httpHeader":[{"key":1}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	decoders := map[string]func([]byte) (boot.InstallSpec, error){
		"reinstall": decodeReinstall, "install/start": decodeInstallStart, "bringYourOwnImage": decodeBYOI,
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for name, decode := range decoders {
			spec, err := decode(body)
			if err == nil {
				err = spec.Validate()
			}
			if err == nil {
				if spec.ImageURL == "" || (spec.ImageType != "raw" && spec.ImageType != "qcow2") {
					t.Errorf("%s(%q) accepted %+v without an image", name, body, spec)
				}
				continue
			}
			var he *httpError
			if !boot.IsValidation(err) && !(errors.As(err, &he) && he.status == 400) {
				t.Errorf("%s(%q) = %v (%T), want a 400 error", name, body, err, err)
			}
		}
	})
}

// BYOLinux requests: the storage layout of reinstall and install/start's
// RAID details land in spec.Partitioning.
func TestDecodeBYOLinux(t *testing.T) {
	one := 1
	tests := []struct {
		name    string
		decode  func([]byte) (boot.InstallSpec, error)
		body    string
		want    *boot.Partitioning
		wantErr string
	}{
		{"reinstall default layout", decodeReinstall,
			`{"operatingSystem":"byolinux_64","customizations":{"imageURL":"http://a/b"},"storage":[{"diskGroupId":1,"partitioning":{"layout":[]}}]}`,
			nil, ""},
		{"reinstall explicit layout", decodeReinstall,
			`{"operatingSystem":"byolinux_64","customizations":{"imageURL":"http://a/b"},"storage":[{"diskGroupId":2,"hardwareRaid":[],
			"partitioning":{"disks":2,"schemeName":"mine","layout":[{"mountPoint":"/boot/efi","fileSystem":"vfat","raidLevel":1,"size":511},
			{"mountPoint":"/","fileSystem":"ext4","raidLevel":1,"size":20480,"extras":{"lv":{"name":"root"}}},
			{"mountPoint":"/home","fileSystem":"xfs","size":0}]}}]}`,
			&boot.Partitioning{Disks: 2, SchemeName: "mine", Layout: []boot.LayoutEntry{
				{MountPoint: "/boot/efi", FileSystem: "vfat", RaidLevel: &one, Size: 511},
				{MountPoint: "/", FileSystem: "ext4", RaidLevel: &one, Size: 20480, Extras: &boot.LayoutExtras{LV: &boot.LVExtra{Name: "root"}}},
				{MountPoint: "/home", FileSystem: "xfs", Size: 0},
			}}, ""},
		{"reinstall two partitioned groups", decodeReinstall,
			`{"operatingSystem":"byolinux_64","storage":[{"diskGroupId":1,"partitioning":{"disks":1}},{"diskGroupId":2,"partitioning":{"disks":1}}]}`,
			nil, "storage: only one disk group can be partitioned for the operating system, 2 are"},
		{"reinstall raid level as string", decodeReinstall,
			`{"operatingSystem":"byolinux_64","storage":[{"partitioning":{"layout":[{"mountPoint":"/","fileSystem":"ext4","raidLevel":"1"}]}}]}`,
			nil, "Invalid JSON body: field storage.partitioning.layout.raidLevel must be a int, not a JSON string"},
		{"install/start noRaid", decodeInstallStart,
			`{"templateName":"byolinux_64","partitionSchemeName":"default","details":{"noRaid":true},"userMetadata":[{"key":"imageURL","value":"http://a/b"}]}`,
			&boot.Partitioning{Disks: 1, SchemeName: "default"}, ""},
		{"install/start softRaidDevices", decodeInstallStart,
			`{"templateName":"byolinux_64","details":{"softRaidDevices":3},"userMetadata":[{"key":"imageURL","value":"http://a/b"}]}`,
			&boot.Partitioning{Disks: 3}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.decode([]byte(tc.body))
			if err == nil {
				err = got.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("decode() = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode() = %v", err)
			}
			if got.OperatingSystem != boot.OSBYOLinux || got.ImageType != "qcow2" {
				t.Errorf("decode() = %s %s, want byolinux_64 qcow2", got.OperatingSystem, got.ImageType)
			}
			if diff := cmp.Diff(tc.want, got.Partitioning); diff != "" {
				t.Errorf("decode() partitioning (-want +got):\n%s", diff)
			}
		})
	}
}
