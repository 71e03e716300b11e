package image

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/preflight"
)

// Defaults used when the matching Options field is zero.
const (
	DefaultRetries      = 5
	DefaultRetryWait    = time.Second // doubled after each failure, capped at 30 s
	DefaultStallTimeout = 60 * time.Second
	DefaultMinRate      = 1024 // bytes a second, averaged over StallTimeout
	DefaultProgressGap  = 250 * time.Millisecond
)

// Options says what to install. Its zero value is not useful (URL and Type
// are required) but every other field has a working default.
type Options struct {
	URL     string
	Headers map[string]string
	// Type is the declared imageType: "raw" or "qcow2".
	Type string
	// ChecksumType is "" or md5|sha1|sha256|sha512; Checksum is lower-case hex.
	ChecksumType, Checksum string
	// Client is used for every request; nil means a client with connect,
	// TLS and response-header timeouts but no overall timeout.
	Client *http.Client
	// Retries is how many times a failed or stalled request is retried
	// (resuming with Range where possible). 0 means DefaultRetries.
	Retries int
	// RetryWait is the first wait between retries; 0 means DefaultRetryWait.
	RetryWait time.Duration
	// StallTimeout aborts and retries a request that delivered no byte for
	// that long; 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// MinRate aborts and retries (resuming) a request that delivered fewer
	// than MinRate bytes a second over the last StallTimeout; a server that
	// stays that slow fails the download after Retries such aborts with
	// "download too slow". 0 means DefaultMinRate; negative turns it off.
	MinRate int64
	// PausedReads says the caller may leave a response unread for long
	// stretches (Virtual: the kernel asks for blocks when it needs them):
	// StallTimeout and MinRate then count only the time spent waiting for
	// data inside a read, not the time between reads.
	PausedReads bool
	// Progress, if set, receives bytes done/total per step, at most every
	// ProgressGap (0: DefaultProgressGap) per step, plus a final call.
	Progress    func(step boot.StepID, done, total int64)
	ProgressGap time.Duration
	// Logger receives debug and info records; nil discards.
	Logger *slog.Logger
	// Firmware is how the target machine boots. With preflight.UEFI or
	// preflight.BIOS, pre-flight checks before the first write that the
	// image can boot there (see initramfs/preflight); the zero value
	// (preflight.FirmwareUnknown) checks only the format, the partition
	// table's signature and the size.
	Firmware preflight.Firmware
	// EFIBootloaderPath is the loader the machine will start on UEFI
	// (`\efi\debian\grubx64.efi`), checked case-insensitively on the
	// image's EFI system partition; empty: pre-flight picks one (shim, the
	// distribution's loader, the removable path) and returns it in Result.
	EFIBootloaderPath string
	// PreflightHead bounds the decoded bytes of a compressed stream (or of a
	// raw file's head) kept in memory for pre-flight, then written first;
	// 0 means preflight.MaxHead.
	PreflightHead int
	// DecodeThreads is how many xz blocks are decoded at once (when their
	// headers give their sizes, as xz -T writes them); 0 means
	// DefaultDecodeThreads.
	DecodeThreads int
}

// DefaultDecodeThreads returns the default Options.DecodeThreads: 2, or 1
// when Go may use only one CPU.
func DefaultDecodeThreads() int { return min(2, runtime.GOMAXPROCS(0)) }

// withDefaults returns a copy of o with zero fields replaced by defaults.
func (o Options) withDefaults() Options {
	if o.Client == nil {
		o.Client = DefaultClient()
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.RetryWait == 0 {
		o.RetryWait = DefaultRetryWait
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.MinRate == 0 {
		o.MinRate = DefaultMinRate
	}
	if o.ProgressGap == 0 {
		o.ProgressGap = DefaultProgressGap
	}
	if o.PreflightHead <= 0 {
		o.PreflightHead = preflight.MaxHead
	}
	if o.DecodeThreads <= 0 {
		o.DecodeThreads = DefaultDecodeThreads()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.ChecksumType = strings.ToLower(o.ChecksumType)
	o.Checksum = strings.ToLower(o.Checksum)
	return o
}

// validate checks the declared fields.
func (o Options) validate() error {
	if o.Type != "raw" && o.Type != "qcow2" {
		return &Error{Kind: KindBadImageType, Step: boot.StepCheck, Declared: o.Type}
	}
	if (o.ChecksumType == "") != (o.Checksum == "") {
		return &Error{Kind: KindChecksumPair, Step: boot.StepCheck}
	}
	if o.ChecksumType != "" && newHash(o.ChecksumType) == nil {
		return &Error{Kind: KindBadChecksumType, Step: boot.StepCheck, ChecksumType: o.ChecksumType}
	}
	return nil
}

// newHash returns the hash for a checksum type, nil for "" (no checksum asked:
// nothing is hashed) and for an unknown type.
func newHash(typ string) hash.Hash {
	switch typ {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// DefaultClient returns a new client as Install uses when Options.Client
// is nil: connect, TLS and response-header timeouts, no overall timeout.
// On Linux its plain-HTTP connections read a fast download in pieces of up
// to 512 KiB rather than a wake-up per segment (see lowatConn).
func DefaultClient() *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return withLowat(c), nil
		},
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}}
}

// Result describes a finished installation.
type Result struct {
	Format      string // "raw" or "qcow2"
	Compression string // "", "gzip", "xz" or "zstd" (raw only)
	VirtualSize int64  // bytes of disk the image describes
	Downloaded  int64  // bytes received over the network, re-fetches included (0 from a local file)
	Requests    int64  // HTTP requests sent (0 from a local file)
	Refetched   int64  // blocks of the file read again because the stream had passed them
	Written     int64  // bytes written with data
	Zeroed      int64  // bytes zeroed with Target.ZeroRange instead of written
	// Loader is the UEFI loader the machine will start, as stored on the
	// image's EFI system partition: the EFIBootloaderPath given, or the one
	// picked when LoaderPicked. "" when not checked (not UEFI, or see
	// PreflightNote).
	Loader       string
	LoaderPicked bool
	// ESP is the number of the partition holding Loader.
	ESP int
	// PreflightNote says what pre-flight could not check, "" when every rule
	// for Firmware ran.
	PreflightNote string
	// Digest is the hex ChecksumType digest of the image file, equal to
	// Checksum; "" when no checksum was asked (the file is then not hashed).
	Digest string
}
