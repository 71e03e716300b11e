package boot

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func validSpec() InstallSpec {
	return InstallSpec{ImageURL: "https://images.example.org/debian-12.qcow2", ImageType: "qcow2"}
}

func TestInstallSpecValidate(t *testing.T) {
	sha256 := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		edit    func(s *InstallSpec)
		wantErr string // exact message; "" means valid
	}{
		{"minimal", func(s *InstallSpec) {}, ""},
		{"byoi_64", func(s *InstallSpec) { s.OperatingSystem = OSBYOI }, ""},
		{"byolinux_64", func(s *InstallSpec) { s.OperatingSystem = OSBYOLinux }, ""},
		{"byolinux_64 without imageType", func(s *InstallSpec) { s.OperatingSystem, s.ImageType = OSBYOLinux, "" }, ""},
		{"byolinux_64 raw", func(s *InstallSpec) { s.OperatingSystem, s.ImageType = OSBYOLinux, "raw" },
			"Bad format image, expected: qcow2. (byolinux_64 images hold one file system in a qcow2; imageType raw is not supported)"},
		{"byolinux_64 bad layout", func(s *InstallSpec) {
			s.OperatingSystem = OSBYOLinux
			s.Partitioning = &Partitioning{Layout: []LayoutEntry{{MountPoint: "/", FileSystem: "ntfs"}}}
		}, `Unknown fileSystem "ntfs" for mountPoint /: expected one of ext4, xfs, btrfs, vfat, swap`},
		{"byoi_64 with a layout", func(s *InstallSpec) {
			s.Partitioning = &Partitioning{Layout: []LayoutEntry{{MountPoint: "/", FileSystem: "ext4"}}}
		}, "A partitioning layout applies to byolinux_64 only: a byoi_64 image carries its own partition table"},
		{"other os", func(s *InstallSpec) { s.OperatingSystem = "debian12_64" }, `Invalid operatingSystem "debian12_64": expected byoi_64 or byolinux_64`},
		{"no image URL", func(s *InstallSpec) { s.ImageURL = "" }, "Missing parameter: imageURL"},
		{"ftp URL", func(s *InstallSpec) { s.ImageURL = "ftp://h/x.raw" }, `Invalid imageURL "ftp://h/x.raw": an http:// or https:// URL is expected`},
		{"relative URL", func(s *InstallSpec) { s.ImageURL = "/x.raw" }, `Invalid imageURL "/x.raw": an http:// or https:// URL is expected`},
		{"URL with newline", func(s *InstallSpec) { s.ImageURL = "http://h/x\n.raw" }, "Invalid imageURL \"http://h/x\\n.raw\": an http:// or https:// URL is expected"},
		{"URL with space", func(s *InstallSpec) { s.ImageURL = "http://h/a b.raw" }, `Invalid imageURL "http://h/a b.raw": spaces and control characters are not allowed`},
		{"no image type", func(s *InstallSpec) { s.ImageType = "" }, "Missing parameter: imageType"},
		{"blank image type", func(s *InstallSpec) { s.ImageType = "  " }, "Missing parameter: imageType"},
		{"vmdk", func(s *InstallSpec) { s.ImageType = "vmdk" }, "Bad format image, expected: qcow2, raw."},
		{"raw", func(s *InstallSpec) { s.ImageType = "raw" }, ""},
		{"QCOW2 padded", func(s *InstallSpec) { s.ImageType = " QCOW2 " }, ""},
		{"checksum without type", func(s *InstallSpec) { s.ImageCheckSum = sha256 }, "Please provide checkSum AND checkSumType or none of them"},
		{"type without checksum", func(s *InstallSpec) { s.ImageCheckSumType = "sha256" }, "Please provide checkSum AND checkSumType or none of them"},
		{"sha256", func(s *InstallSpec) { s.ImageCheckSum, s.ImageCheckSumType = sha256, "sha256" }, ""},
		{"SHA512 upper case", func(s *InstallSpec) { s.ImageCheckSum, s.ImageCheckSumType = strings.Repeat("AB", 64), "SHA512" }, ""},
		{"md5", func(s *InstallSpec) { s.ImageCheckSum, s.ImageCheckSumType = strings.Repeat("0", 32), "md5" }, ""},
		{"sha1", func(s *InstallSpec) { s.ImageCheckSum, s.ImageCheckSumType = strings.Repeat("f", 40), "sha1" }, ""},
		{"crc32", func(s *InstallSpec) { s.ImageCheckSum, s.ImageCheckSumType = "abcd1234", "crc32" }, `Bad checkSumType "crc32", expected: md5, sha1, sha256, sha512.`},
		{"short sha256", func(s *InstallSpec) { s.ImageCheckSum, s.ImageCheckSumType = "abcd", "sha256" }, "Bad checkSum for checkSumType sha256: expected 64 hexadecimal characters"},
		{"non-hex sha256", func(s *InstallSpec) { s.ImageCheckSum, s.ImageCheckSumType = strings.Repeat("zz", 32), "sha256" }, "Bad checkSum for checkSumType sha256: expected 64 hexadecimal characters"},
		{"md5 given a sha1", func(s *InstallSpec) { s.ImageCheckSum, s.ImageCheckSumType = strings.Repeat("f", 40), "md5" }, "Bad checkSum for checkSumType md5: expected 32 hexadecimal characters"},
		{"header ok", func(s *InstallSpec) { s.HTTPHeaders = map[string]string{"Authorization": "Bearer x"} }, ""},
		{"header key with space", func(s *InstallSpec) { s.HTTPHeaders = map[string]string{"Bad Key": "v"} }, `Invalid httpHeaders key "Bad Key"`},
		{"header value with newline", func(s *InstallSpec) { s.HTTPHeaders = map[string]string{"X-A": "a\r\nX-B: b"} }, `Invalid httpHeaders value for "X-A": at most 8192 bytes, no line breaks`},
		{"efi path ok", func(s *InstallSpec) { s.EFIBootloaderPath = `\efi\debian\grubx64.efi` }, ""},
		{"efi path relative", func(s *InstallSpec) { s.EFIBootloaderPath = `efi\x.efi` }, `invalid efiBootloaderPath "efi\\x.efi": must start with \ (e.g. \efi\debian\grubx64.efi)`},
		{"hostname ok", func(s *InstallSpec) { s.Hostname = "web-1.example.org" }, ""},
		{"hostname leading dash", func(s *InstallSpec) { s.Hostname = "-web" }, `Invalid hostname "-web"`},
		{"hostname too long", func(s *InstallSpec) { s.Hostname = strings.Repeat("a.", 127) + "ab" }, `Invalid hostname "` + strings.Repeat("a.", 32) + `"… (256 bytes)`},
		{"ssh key ok", func(s *InstallSpec) { s.SSHKey = testSSHKey + " user@host" }, ""},
		{"ssh key two lines", func(s *InstallSpec) { s.SSHKey = "ssh-ed25519 A\nssh-rsa B" }, "Invalid sshKey: a single public key line is expected"},
		{"user data 64 KiB", func(s *InstallSpec) { s.ConfigDriveUserData = "#cloud-config\n#" + strings.Repeat("x", 64<<10-15) }, ""},
		{"user data plain cloud-config", func(s *InstallSpec) { s.ConfigDriveUserData = "#cloud-config\n" }, ""},
		{"user data base64", func(s *InstallSpec) { s.ConfigDriveUserData = "I2Nsb3VkLWNvbmZpZwo=" }, ""},
		{"user data neither base64 nor a document", func(s *InstallSpec) { s.ConfigDriveUserData = "hello world" },
			"Invalid configDriveUserData: not valid base64, and not a cloud-init document in clear (#cloud-config, #!…, MIME multipart)"},
		{"user data broken base64", func(s *InstallSpec) { s.ConfigDriveUserData = "abcde" },
			"Invalid configDriveUserData: not valid base64, and not a cloud-init document in clear (#cloud-config, #!…, MIME multipart)"},
		{"user data too large", func(s *InstallSpec) { s.ConfigDriveUserData = strings.Repeat("x", 64<<10+1) }, "configDriveUserData is too large: at most 65536 bytes"},
		{"metadata ok", func(s *InstallSpec) { s.ConfigDriveMetadata = map[string]string{"role": "web"} }, ""},
		{"metadata empty key", func(s *InstallSpec) { s.ConfigDriveMetadata = map[string]string{"": "x"} }, `Invalid configDriveMetadata key ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.edit(&s)
			err := s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Validate() = %q, want %q", err.Error(), tt.wantErr)
			}
			if !IsValidation(err) {
				t.Errorf("IsValidation(%v) = false, want true", err)
			}
		})
	}
}

func TestInstallSpecNormalises(t *testing.T) {
	s := validSpec()
	s.ImageType = " Raw "
	s.ImageCheckSum = " " + strings.Repeat("AB", 32) + " "
	s.ImageCheckSumType = "SHA256"
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := InstallSpec{OperatingSystem: OSBYOI, ImageURL: s.ImageURL, ImageType: "raw",
		ImageCheckSum: strings.Repeat("ab", 32), ImageCheckSumType: "sha256"}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Validate() normalised (-want +got):\n%s", diff)
	}
}

func TestIsValidation(t *testing.T) {
	if IsValidation(errors.New("x")) {
		t.Error("IsValidation(plain error) = true")
	}
	wrapped := errors.Join(errors.New("ctx"), &ValidationError{Msg: "m"})
	if !IsValidation(wrapped) {
		t.Error("IsValidation(wrapped ValidationError) = false")
	}
}

func TestUserData(t *testing.T) {
	cloudConfig := "#cloud-config\nhostname: web-1\n"
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain cloud-config", cloudConfig, cloudConfig},
		{"plain shell script", "#!/bin/sh\necho hi\n", "#!/bin/sh\necho hi\n"},
		{"base64 std padded", "I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogd2ViLTEK", cloudConfig},
		{"base64 std unpadded", "I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogd2ViLTE", "#cloud-config\nhostname: web-1"},
		{"base64 wrapped at 20 columns", "I2Nsb3VkLWNvbmZpZwpo\nb3N0bmFtZTogd2ViLTEK\n", cloudConfig},
		{"base64 url alphabet", "-_-_", "\xfb\xff\xbf"},
		{"base64 std alphabet", "+/+/", "\xfb\xff\xbf"},
		{"MIME multipart stays plain", "Content-Type: multipart/mixed; boundary=x\n", "Content-Type: multipart/mixed; boundary=x\n"},
		{"MIME header first", "MIME-Version: 1.0\n", "MIME-Version: 1.0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(InstallSpec{ConfigDriveUserData: tt.in}.UserData())
			if got != tt.want {
				t.Errorf("UserData(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactedAndConfigDrive(t *testing.T) {
	s := validSpec()
	s.HTTPHeaders = map[string]string{"Authorization": "Bearer secret"}
	s.ConfigDriveUserData = "#cloud-config\npassword: secret\n"
	s.ConfigDriveMetadata = map[string]string{"role": "web"}
	r := s.Redacted()
	if r.HTTPHeaders["Authorization"] != RedactedValue || r.ConfigDriveUserData != RedactedValue {
		t.Errorf("Redacted() = %+v, want header and user data redacted", r)
	}
	if s.HTTPHeaders["Authorization"] != "Bearer secret" {
		t.Error("Redacted() changed the original's headers")
	}
	r.ConfigDriveMetadata["role"] = "changed"
	if s.ConfigDriveMetadata["role"] != "web" {
		t.Error("Redacted() shares the metadata map with the original")
	}

	for _, tt := range []struct {
		name string
		s    InstallSpec
		want bool
	}{
		{"nothing", validSpec(), false},
		{"hostname", InstallSpec{Hostname: "h"}, true},
		{"ssh key", InstallSpec{SSHKey: "k"}, true},
		{"user data", InstallSpec{ConfigDriveUserData: "u"}, true},
		{"metadata", InstallSpec{ConfigDriveMetadata: map[string]string{"a": "b"}}, true},
		{"headers only", InstallSpec{HTTPHeaders: map[string]string{"a": "b"}}, false},
	} {
		if got := tt.s.WantsConfigDrive(); got != tt.want {
			t.Errorf("%s: WantsConfigDrive() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
