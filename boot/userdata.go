package boot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
)

// Limits on configDriveMetadata, OpenStack's (nova's) for instance
// metadata, which is what lands under "meta" in meta_data.json.
const (
	maxMetadataItems = 128
	maxMetadataLen   = 255
)

// maxMIMEParts bounds the parts of a multipart user data checked.
const maxMIMEParts = 100

// Formats of user data cloud-init reads, by their first line. Anything
// else (after base64 decoding) is refused: cloud-init would skip it
// silently and the machine would come up unconfigured.
var userDataHeaders = []string{
	"#cloud-config", "#!", "#include", "#cloud-boothook", "#part-handler", "#cloud-config-archive",
	"#cloud-config-jsonp", "## template: jinja",
}

// validateUserData checks the user data cloud-init will read: a
// #cloud-config document must parse as a YAML mapping, MIME multipart must
// parse (its cloud-config parts too), scripts and the other cloud-init
// formats are taken as they are, gzip is taken as it is (cloud-init
// inflates it).
func validateUserData(raw string, data []byte) error {
	if raw == "" {
		return nil
	}
	// The pitfall: user data typed or pasted with the two characters
	// backslash and n where line breaks were meant (a JSON body written by
	// hand, a shell that did not interpret the escape). cloud-init then
	// sees one comment line and does nothing.
	if plainUserData(raw) && !strings.ContainsAny(raw, "\n\r") && strings.Contains(raw, `\n`) {
		return invalid(`Invalid configDriveUserData: it contains the two characters \n but no line break; send real line breaks (written \n inside a JSON string), or base64`)
	}
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		return nil
	}
	if isMIME(data) {
		return validateMIME(data)
	}
	return validateDocument(data, "configDriveUserData")
}

// validateDocument checks one user-data document (the whole user data or
// one MIME part) by its first line.
func validateDocument(data []byte, what string) error {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	first = bytes.TrimRight(first, " \t\r")
	switch {
	case string(first) == "#cloud-config":
		return validateCloudConfig(data, what)
	case bytes.HasPrefix(first, []byte("#!")):
		return nil
	}
	for _, h := range userDataHeaders {
		if bytes.HasPrefix(first, []byte(h)) {
			return nil
		}
	}
	return invalid("Invalid %s: cloud-init does not recognise %q as a first line; expected #cloud-config, a #! script, #include, #cloud-boothook, ## template: jinja or MIME multipart", what, shorten(string(first)))
}

// validateCloudConfig parses a #cloud-config document: one YAML document
// whose top level is a mapping (or empty).
func validateCloudConfig(data []byte, what string) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // only the header line and comments
			return nil
		}
		return invalid("Invalid %s: #cloud-config is not valid YAML: %s", what, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return invalid("Invalid %s: #cloud-config must be a single YAML document (found a --- separator)", what)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return nil
	}
	if top.Kind != yaml.MappingNode {
		return invalid("Invalid %s: #cloud-config must be a YAML mapping (key: value lines), not a %s", what, nodeKind(top))
	}
	return nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// isMIME reports whether data starts with MIME headers, as cloud-init's
// multipart user data does.
func isMIME(data []byte) bool {
	l := strings.ToLower(string(data[:min(len(data), 32)]))
	return strings.HasPrefix(l, "content-type:") || strings.HasPrefix(l, "mime-version:")
}

// validateMIME parses a MIME message: a multipart/* body must have
// well-formed parts; text/cloud-config parts (and a non-multipart
// message's body) are checked as documents.
func validateMIME(data []byte) error {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return invalid("Invalid configDriveUserData: MIME headers do not parse: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return invalid("Invalid configDriveUserData: MIME Content-Type does not parse: %v", err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := io.ReadAll(msg.Body)
		if err != nil {
			return invalid("Invalid configDriveUserData: %v", err)
		}
		return validatePart(mt, body, "configDriveUserData")
	}
	if params["boundary"] == "" {
		return invalid("Invalid configDriveUserData: MIME %s without a boundary", mt)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	n := 0
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return invalid("Invalid configDriveUserData: MIME part %d does not parse: %v", n+1, err)
		}
		if n++; n > maxMIMEParts {
			return invalid("Invalid configDriveUserData: more than %d MIME parts", maxMIMEParts)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			return invalid("Invalid configDriveUserData: MIME part %d does not parse: %v", n, err)
		}
		pt, _, err := mime.ParseMediaType(partType(p.Header))
		if err != nil {
			return invalid("Invalid configDriveUserData: MIME part %d Content-Type does not parse: %v", n, err)
		}
		if err := validatePart(pt, body, fmt.Sprintf("configDriveUserData MIME part %d", n)); err != nil {
			return err
		}
	}
	if n == 0 {
		return invalid("Invalid configDriveUserData: MIME multipart message without parts")
	}
	return nil
}

func partType(h textproto.MIMEHeader) string {
	if ct := h.Get("Content-Type"); ct != "" {
		return ct
	}
	return "text/plain"
}

// validatePart checks what cloud-init would parse in a part: cloud-config
// parts must be YAML mappings (multipart.Reader has already decoded a
// quoted-printable part; base64 parts are left to cloud-init).
func validatePart(mediaType string, body []byte, what string) error {
	if mediaType != "text/cloud-config" {
		return nil
	}
	if !bytes.HasPrefix(body, []byte("#cloud-config")) {
		body = append([]byte("#cloud-config\n"), body...)
	}
	return validateCloudConfig(body, what)
}

// validateSSHKey checks that key is one authorized_keys line.
func validateSSHKey(key string) error {
	if strings.ContainsAny(key, "\r\n\x00") {
		return invalid("Invalid sshKey: a single public key line is expected")
	}
	if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(key)); err != nil {
		return invalid("Invalid sshKey: not an SSH public key line (type, base64 key, optional comment: ssh-ed25519 AAAA… user@host)")
	} else if len(rest) > 0 {
		return invalid("Invalid sshKey: a single public key line is expected")
	}
	return nil
}

// validateMetadata checks configDriveMetadata against OpenStack's limits:
// at most 128 items, keys of 1-255 and values of at most 255 characters of
// UTF-8 text without control characters.
func validateMetadata(md map[string]string) error {
	if len(md) > maxMetadataItems {
		return invalid("configDriveMetadata has %d items: at most %d", len(md), maxMetadataItems)
	}
	for k, v := range md {
		if k == "" || utf8.RuneCountInString(k) > maxMetadataLen || !cleanText(k) {
			return invalid("Invalid configDriveMetadata key %q", shorten(k))
		}
		if utf8.RuneCountInString(v) > maxMetadataLen || !cleanText(v) {
			return invalid("Invalid configDriveMetadata value for %q: at most %d characters of text without control characters", k, maxMetadataLen)
		}
	}
	return nil
}

func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// shorten cuts s for an error message.
func shorten(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}
