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
