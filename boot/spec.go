package boot

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Operating systems (OVH template names).
const (
	OSBYOI     = "byoi_64"
	OSBYOLinux = "byolinux_64"
)

// InstallSpec is what an operator asked to install, in OVH's current field
// names. All three generations of the OVH API are translated into it.
// HTTPHeaders values and ConfigDriveUserData are secrets: see Redacted.
type InstallSpec struct {
	OperatingSystem     string            `json:"operatingSystem"`
	ImageURL            string            `json:"imageURL"`
	ImageType           string            `json:"imageType"`
	ImageCheckSum       string            `json:"imageCheckSum,omitempty"`
	ImageCheckSumType   string            `json:"imageCheckSumType,omitempty"`
	HTTPHeaders         map[string]string `json:"httpHeaders,omitempty"`
	EFIBootloaderPath   string            `json:"efiBootloaderPath,omitempty"`
	Hostname            string            `json:"hostname,omitempty"`
	SSHKey              string            `json:"sshKey,omitempty"`
	ConfigDriveUserData string            `json:"configDriveUserData,omitempty"`
	ConfigDriveMetadata map[string]string `json:"configDriveMetadata,omitempty"`
	DiskGroupID         int               `json:"diskGroupId,omitempty"`
	// Partitioning is the BYOLinux layout of the disk group (storage[].
	// partitioning); nil means the default layout. byoi_64 images carry
	// their own partition table and take none.
	Partitioning *Partitioning `json:"partitioning,omitempty"`
}

// RedactedValue replaces secrets in anything shown to a user.
const RedactedValue = "<redacted>"

// Redacted returns a copy with header values and user data replaced.
func (s InstallSpec) Redacted() InstallSpec {
	r := s
	if len(s.HTTPHeaders) > 0 {
		r.HTTPHeaders = make(map[string]string, len(s.HTTPHeaders))
		for k := range s.HTTPHeaders {
			r.HTTPHeaders[k] = RedactedValue
		}
	}
	if s.ConfigDriveUserData != "" {
		r.ConfigDriveUserData = RedactedValue
	}
	if len(s.ConfigDriveMetadata) > 0 {
		r.ConfigDriveMetadata = make(map[string]string, len(s.ConfigDriveMetadata))
		for k, v := range s.ConfigDriveMetadata {
			r.ConfigDriveMetadata[k] = v
		}
	}
	return r
}

// WantsConfigDrive reports whether a customization asks for a config drive.
// As at OVH, none is created otherwise.
func (s InstallSpec) WantsConfigDrive() bool {
	return s.Hostname != "" || s.SSHKey != "" || s.ConfigDriveUserData != "" || len(s.ConfigDriveMetadata) > 0
}

// UserData returns the user data as bytes. A value that reads as a
// cloud-init document (see plainUserData) is taken as it is; anything else
// is base64 (standard or URL alphabet, padded or not, wrapped with line breaks),
// which Validate has checked.
func (s InstallSpec) UserData() []byte {
	if plainUserData(s.ConfigDriveUserData) {
		return []byte(s.ConfigDriveUserData)
	}
	b, _ := decodeBase64(s.ConfigDriveUserData)
	return b
}

// plainUserData reports whether v is a cloud-init document in clear: every
// format cloud-init reads from text starts with "#" (#cloud-config, #!,
// #include, #cloud-boothook, ## template) or is a MIME multipart message.
func plainUserData(v string) bool {
	return v == "" || strings.HasPrefix(v, "#") || strings.HasPrefix(strings.ToLower(v), "content-type:") ||
		strings.HasPrefix(strings.ToLower(v), "mime-version:")
}

func decodeBase64(v string) ([]byte, error) {
	t := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, v)
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(t); err == nil {
			return b, nil
		}
	}
	return nil, err
}

// Error messages of OVH's "common customer errors" table, word for word,
// and the other validation messages byoi gives.
const (
	MsgChecksumPair   = "Please provide checkSum AND checkSumType or none of them"
	MsgBadFormatImage = "Bad format image, expected: qcow2, raw."
)

// ValidationError is a user mistake in a request; its text is shown as is.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func invalid(format string, a ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, a...)}
}

// IsValidation reports whether err is a ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// maxHeaders bounds httpHeaders: an image download needs a few at most.
const maxHeaders = 32

var (
	checksumLen = map[string]int{"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
	hexRE       = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	hostnameRE  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*$`)
	headerKeyRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// Validate checks a spec before anything is stored and normalises it
// (lower-case checksum and type names). Errors are *ValidationError with
// OVH's wording where OVH has one.
func (s *InstallSpec) Validate() error {
	switch s.OperatingSystem {
	case "":
		s.OperatingSystem = OSBYOI
	case OSBYOI:
	case OSBYOLinux:
		if err := s.validateBYOLinux(); err != nil {
			return err
		}
	default:
		return invalid("Invalid operatingSystem %s: expected %s or %s", Quote(s.OperatingSystem), OSBYOI, OSBYOLinux)
	}
	if s.OperatingSystem == OSBYOI && s.Partitioning != nil && len(s.Partitioning.Layout) > 0 {
		return invalid("A partitioning layout applies to %s only: a %s image carries its own partition table", OSBYOLinux, OSBYOI)
	}
	if s.ImageURL == "" {
		return invalid("Missing parameter: imageURL")
	}
	if err := ValidateImageURL(s.ImageURL); err != nil {
		return err
	}
	s.ImageType = strings.ToLower(strings.TrimSpace(s.ImageType))
	if s.ImageType == "" {
		return invalid("Missing parameter: imageType")
	}
	if s.ImageType != "qcow2" && s.ImageType != "raw" {
		return invalid(MsgBadFormatImage)
	}
	if (s.ImageCheckSum == "") != (s.ImageCheckSumType == "") {
		return invalid(MsgChecksumPair)
	}
	if s.ImageCheckSum != "" {
		s.ImageCheckSumType = strings.ToLower(s.ImageCheckSumType)
		n, ok := checksumLen[s.ImageCheckSumType]
		if !ok {
			return invalid("Bad checkSumType %s, expected: md5, sha1, sha256, sha512.", Quote(s.ImageCheckSumType))
		}
		s.ImageCheckSum = strings.ToLower(strings.TrimSpace(s.ImageCheckSum))
		if len(s.ImageCheckSum) != n || !hexRE.MatchString(s.ImageCheckSum) {
			return invalid("Bad checkSum for checkSumType %s: expected %d hexadecimal characters", s.ImageCheckSumType, n)
		}
	}
	if len(s.HTTPHeaders) > maxHeaders {
		return invalid("Too many httpHeaders: at most %d", maxHeaders)
	}
	for k, v := range s.HTTPHeaders {
		if len(k) > 256 || !headerKeyRE.MatchString(k) {
			return invalid("Invalid httpHeaders key %s", Quote(k))
		}
		if len(v) > 8<<10 || strings.ContainsAny(v, "\r\n\x00") {
			return invalid("Invalid httpHeaders value for %s: at most 8192 bytes, no line breaks", Quote(k))
		}
	}
	if s.EFIBootloaderPath != "" {
		if err := ValidateEFIPath(s.EFIBootloaderPath); err != nil {
			return &ValidationError{Msg: err.Error()}
		}
	}
	if s.Hostname != "" && (len(s.Hostname) > 253 || !hostnameRE.MatchString(s.Hostname)) {
		return invalid("Invalid hostname %s", Quote(s.Hostname))
	}
	if s.SSHKey != "" {
		if err := ValidateSSHKey(s.SSHKey); err != nil {
			return err
		}
	}
	if len(s.ConfigDriveUserData) > 64<<10 {
		return invalid("configDriveUserData is too large: at most 65536 bytes")
	}
	if !plainUserData(s.ConfigDriveUserData) {
		if _, err := decodeBase64(s.ConfigDriveUserData); err != nil {
			return invalid("Invalid configDriveUserData: not valid base64, and not a cloud-init document in clear (#cloud-config, #!…, MIME multipart)")
		}
	}
	if err := validateUserData(s.ConfigDriveUserData, s.UserData()); err != nil {
		return err
	}
	return validateMetadata(s.ConfigDriveMetadata)
}

// validateBYOLinux checks what differs for byolinux_64: qcow2 only (an
// omitted imageType means qcow2) and the partitioning.
func (s *InstallSpec) validateBYOLinux() error {
	s.ImageType = strings.ToLower(strings.TrimSpace(s.ImageType))
	switch s.ImageType {
	case "":
		s.ImageType = "qcow2"
	case "qcow2":
	default:
		return invalid("Bad format image, expected: qcow2. (%s images hold one file system in a qcow2; imageType %s is not supported)", OSBYOLinux, s.ImageType)
	}
	if s.Partitioning != nil {
		return s.Partitioning.Validate()
	}
	return nil
}

// ValidateImageURL accepts absolute http and https URLs with a host.
func ValidateImageURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return invalid("Invalid imageURL %s: an http:// or https:// URL is expected", Quote(raw))
	}
	if strings.ContainsAny(raw, " \r\n\t\x00") {
		return invalid("Invalid imageURL %s: spaces and control characters are not allowed", Quote(raw))
	}
	return nil
}
