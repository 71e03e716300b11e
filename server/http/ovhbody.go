package http

import (
	"bytes"
	"encoding/json"
	nethttp "net/http"
	"regexp"
	"sort"
	"strconv"

	"github.com/byoi/byoi/boot"
)

// The three generations of OVH's install request, decoded into one
// boot.InstallSpec. The decoders only translate; InstallSpec.Validate
// checks values afterwards. Unknown fields are ignored, as OVH clients send
// fields byoi has no use for (language, partitioning, …).

// customizations is the current API's "customizations" object.
type customizations struct {
	Hostname            string            `json:"hostname"`
	ImageURL            string            `json:"imageURL"`
	ImageType           string            `json:"imageType"`
	ImageCheckSum       string            `json:"imageCheckSum"`
	ImageCheckSumType   string            `json:"imageCheckSumType"`
	HTTPHeaders         map[string]string `json:"httpHeaders"`
	EFIBootloaderPath   string            `json:"efiBootloaderPath"`
	SSHKey              string            `json:"sshKey"`
	ConfigDriveUserData string            `json:"configDriveUserData"`
	ConfigDriveMetadata map[string]string `json:"configDriveMetadata"`
}

type reinstallBody struct {
	OperatingSystem string          `json:"operatingSystem"`
	Customizations  *customizations `json:"customizations"`
	Storage         []struct {
		DiskGroupID  int                `json:"diskGroupId"`
		Partitioning *boot.Partitioning `json:"partitioning"`
	} `json:"storage"`
}

// decodeReinstall decodes POST /dedicated/server/{serviceName}/reinstall.
func decodeReinstall(body []byte) (boot.InstallSpec, error) {
	var b reinstallBody
	if err := decodeLenient(body, &b); err != nil {
		return boot.InstallSpec{}, err
	}
	if b.OperatingSystem == "" {
		return boot.InstallSpec{}, missing("operatingSystem")
	}
	spec := boot.InstallSpec{OperatingSystem: b.OperatingSystem}
	if c := b.Customizations; c != nil {
		spec.Hostname, spec.ImageURL, spec.ImageType = c.Hostname, c.ImageURL, c.ImageType
		spec.ImageCheckSum, spec.ImageCheckSumType = c.ImageCheckSum, c.ImageCheckSumType
		spec.HTTPHeaders, spec.EFIBootloaderPath, spec.SSHKey = c.HTTPHeaders, c.EFIBootloaderPath, c.SSHKey
		spec.ConfigDriveUserData, spec.ConfigDriveMetadata = c.ConfigDriveUserData, c.ConfigDriveMetadata
	}
	for _, st := range b.Storage {
		if st.DiskGroupID != 0 {
			spec.DiskGroupID = st.DiskGroupID
			break
		}
	}
	// The OS goes on one disk group: the storage entry with a layout (or
	// the only one). An empty layout means the default.
	var parts []*boot.Partitioning
	for _, st := range b.Storage {
		if p := st.Partitioning; p != nil && (len(p.Layout) > 0 || p.Disks != 0 || p.SchemeName != "") {
			parts = append(parts, p)
			spec.DiskGroupID = st.DiskGroupID
		}
	}
	if len(parts) > 1 {
		return boot.InstallSpec{}, invalidf("storage: only one disk group can be partitioned for the operating system, %d are", len(parts))
	}
	if len(parts) == 1 {
		spec.Partitioning = parts[0]
	}
	return spec, nil
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type installStartBody struct {
	TemplateName        string `json:"templateName"`
	PartitionSchemeName string `json:"partitionSchemeName"`
	Details             *struct {
		CustomHostname  string `json:"customHostname"`
		DiskGroupID     int    `json:"diskGroupId"`
		NoRaid          bool   `json:"noRaid"`
		SoftRaidDevices int    `json:"softRaidDevices"`
	} `json:"details"`
	UserMetadata []keyValue `json:"userMetadata"`
}

var headerMetaRE = regexp.MustCompile(`^httpHeaders([0-9]{1,3})(Key|Value)$`)

// decodeInstallStart decodes POST /dedicated/server/{serviceName}/install/start.
func decodeInstallStart(body []byte) (boot.InstallSpec, error) {
	var b installStartBody
	if err := decodeLenient(body, &b); err != nil {
		return boot.InstallSpec{}, err
	}
	if b.TemplateName == "" {
		return boot.InstallSpec{}, missing("templateName")
	}
	spec := boot.InstallSpec{OperatingSystem: b.TemplateName}
	seen := map[string]bool{}
	headers := map[int]*keyValue{}
	for _, kv := range b.UserMetadata {
		if seen[kv.Key] {
			return boot.InstallSpec{}, invalidf("userMetadata key %s is given twice", boot.Quote(kv.Key))
		}
		seen[kv.Key] = true
		if m := headerMetaRE.FindStringSubmatch(kv.Key); m != nil {
			n, _ := strconv.Atoi(m[1])
			if headers[n] == nil {
				headers[n] = &keyValue{}
			}
			if m[2] == "Key" {
				headers[n].Key = kv.Value
			} else {
				headers[n].Value = kv.Value
			}
			continue
		}
		if err := setMetadata(&spec, kv); err != nil {
			return boot.InstallSpec{}, err
		}
	}
	if err := collectHeaders(&spec, headers); err != nil {
		return boot.InstallSpec{}, err
	}
	if d := b.Details; d != nil {
		if d.CustomHostname != "" {
			spec.Hostname = d.CustomHostname
		}
		spec.DiskGroupID = d.DiskGroupID
		// noRaid: the first disk only; softRaidDevices: that many disks.
		disks := d.SoftRaidDevices
		if d.NoRaid {
			disks = 1
		}
		if spec.OperatingSystem == boot.OSBYOLinux && (disks != 0 || b.PartitionSchemeName != "") {
			spec.Partitioning = &boot.Partitioning{Disks: disks, SchemeName: b.PartitionSchemeName}
		}
	}
	return spec, nil
}

// setMetadata applies one userMetadata entry of install/start.
func setMetadata(spec *boot.InstallSpec, kv keyValue) error {
	switch kv.Key {
	case "imageURL":
		spec.ImageURL = kv.Value
	case "imageType":
		spec.ImageType = kv.Value
	case "imageCheckSum":
		spec.ImageCheckSum = kv.Value
	case "imageCheckSumType":
		spec.ImageCheckSumType = kv.Value
	case "configDriveUserData":
		spec.ConfigDriveUserData = kv.Value
	case "configDriveMetadata":
		var md map[string]string
		if err := json.Unmarshal([]byte(kv.Value), &md); err != nil {
			return invalidf("Invalid userMetadata configDriveMetadata: a JSON object of strings is expected")
		}
		spec.ConfigDriveMetadata = md
	case "efiBootloaderPath":
		spec.EFIBootloaderPath = kv.Value
	case "sshKey":
		spec.SSHKey = kv.Value
	case "hostname":
		spec.Hostname = kv.Value
	default:
		return invalidf("Unknown userMetadata key %s", boot.Quote(kv.Key))
	}
	return nil
}

// collectHeaders turns httpHeadersNKey/httpHeadersNValue pairs into a map.
func collectHeaders(spec *boot.InstallSpec, headers map[int]*keyValue) error {
	ns := make([]int, 0, len(headers))
	for n := range headers {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	for _, n := range ns {
		h := headers[n]
		if h.Key == "" || h.Value == "" {
			return invalidf("httpHeaders%dKey and httpHeaders%dValue must be given together", n, n)
		}
		if spec.HTTPHeaders == nil {
			spec.HTTPHeaders = map[string]string{}
		}
		if _, dup := spec.HTTPHeaders[h.Key]; dup {
			return invalidf("HTTP header %s is given twice", boot.Quote(h.Key))
		}
		spec.HTTPHeaders[h.Key] = h.Value
	}
	return nil
}

// keyValues accepts OVH's [{"key":…,"value":…}] list or a plain object.
type keyValues map[string]string

func (kvs *keyValues) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		*kvs = m
		return nil
	}
	var list []keyValue
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	m := make(map[string]string, len(list))
	for _, kv := range list {
		if _, dup := m[kv.Key]; dup {
			return invalidf("key %s is given twice", boot.Quote(kv.Key))
		}
		m[kv.Key] = kv.Value
	}
	*kvs = m
	return nil
}

type byoiConfigDrive struct {
	Enable        bool      `json:"enable"`
	Hostname      string    `json:"hostname"`
	SSHKey        string    `json:"sshKey"`
	UserData      string    `json:"userData"`
	UserMetadatas keyValues `json:"userMetadatas"`
}

type byoiBody struct {
	URL          string           `json:"URL"`
	CheckSum     string           `json:"checkSum"`
	CheckSumType string           `json:"checkSumType"`
	Type         string           `json:"type"`
	Description  string           `json:"description"`
	DiskGroupID  int              `json:"diskGroupId"`
	HTTPHeader   keyValues        `json:"httpHeader"`
	ConfigDrive  *byoiConfigDrive `json:"configdrive"`
	// The API schema also lists the config drive fields at the top level.
	Hostname      string    `json:"hostname"`
	SSHKey        string    `json:"sshKey"`
	UserData      string    `json:"userData"`
	UserMetadatas keyValues `json:"userMetadatas"`
}

// decodeBYOI decodes POST /dedicated/server/{serviceName}/bringYourOwnImage.
func decodeBYOI(body []byte) (boot.InstallSpec, error) {
	var b byoiBody
	if err := decodeLenient(body, &b); err != nil {
		return boot.InstallSpec{}, err
	}
	if b.URL == "" {
		return boot.InstallSpec{}, missing("URL")
	}
	if b.Type == "" {
		return boot.InstallSpec{}, missing("type")
	}
	spec := boot.InstallSpec{
		OperatingSystem: boot.OSBYOI, ImageURL: b.URL, ImageType: b.Type,
		ImageCheckSum: b.CheckSum, ImageCheckSumType: b.CheckSumType, DiskGroupID: b.DiskGroupID,
		Hostname: b.Hostname, SSHKey: b.SSHKey, ConfigDriveUserData: b.UserData,
	}
	if len(b.HTTPHeader) > 0 {
		spec.HTTPHeaders = b.HTTPHeader
	}
	if len(b.UserMetadatas) > 0 {
		spec.ConfigDriveMetadata = b.UserMetadatas
	}
	if cd := b.ConfigDrive; cd != nil && cd.Enable {
		spec.Hostname, spec.SSHKey, spec.ConfigDriveUserData = cd.Hostname, cd.SSHKey, cd.UserData
		if len(cd.UserMetadatas) > 0 {
			spec.ConfigDriveMetadata = cd.UserMetadatas
		}
	}
	return spec, nil
}

func missing(field string) error {
	return &boot.ValidationError{Msg: "Missing parameter: " + field}
}

func invalidf(format string, a ...any) error {
	return errorf(nethttp.StatusBadRequest, format, a...)
}
