package image

import (
	"fmt"
	"strings"

	"github.com/byoi/byoi/boot"
)

// Kind says what went wrong in an installation. The image package only
// classifies; the words shown to users (OVH's, where OVH has some) and
// whether the customer or byoi is at fault are decided by the caller (the
// installer agent maps every Kind in one table).
type Kind int

// The kinds of installation failure. Each names the Error fields it sets.
const (
	// KindInternal is a failure of byoi itself that fits no other kind (Err).
	KindInternal Kind = iota
	// KindBadImageType: Options.Type is neither raw nor qcow2 (Declared).
	KindBadImageType
	// KindChecksumPair: only one of ChecksumType and Checksum was given.
	KindChecksumPair
	// KindBadChecksumType: ChecksumType is not md5, sha1, sha256 or sha512
	// (ChecksumType).
	KindBadChecksumType
	// KindDownload: the file could not be downloaded (Err, whose message
	// carries no URL or header value).
	KindDownload
	// KindFormatMismatch: the file is Found ("raw" or "qcow2") but Declared
	// says otherwise.
	KindFormatMismatch
	// KindNoPartitionTable: a raw image without an MBR or GPT; Contents says
	// what it seems to hold (with ", <Compression> compressed").
	KindNoPartitionTable
	// KindTooLarge: the image needs Size bytes (at least Size when AtLeast:
	// a compressed stream refused at the first byte past the end) but Target
	// has TargetSize.
	KindTooLarge
	// KindChecksumMismatch: the file's ChecksumType digest is Got, not Want.
	KindChecksumMismatch
	// KindBadQcow2: the qcow2 file is invalid or uses a refused feature (Reason).
	KindBadQcow2
	// KindCorruptStream: the Compression stream is invalid (Reason).
	KindCorruptStream
	// KindCompressedQcow2: a qcow2 file inside a Compression stream, which
	// cannot be streamed.
	KindCompressedQcow2
	// KindWrite: the image (of type Declared) could not be written to the
	// target (Err: open, write, zero or sync failure).
	KindWrite
	// KindCancelled: the context ended (Err).
	KindCancelled
	// KindGPT: moving the GPT backup header failed. Not returned by this
	// package: the installer's GPT step uses it so that every failure of an
	// installation is mapped by one table.
	KindGPT
	// KindConfigDrive: adding the config drive failed. Not returned by this
	// package (see KindGPT).
	KindConfigDrive
	// KindBadPartitionTable: the image's GPT or MBR is there but does not
	// validate (Err says why). Pre-flight, with Options.Firmware set.
	KindBadPartitionTable
	// KindNoESP: a UEFI machine and an image without an EFI system
	// partition.
	KindNoESP
	// KindBadESP: the FAT file system of the image's EFI system partition
	// (Partition) cannot be read (Err).
	KindBadESP
	// KindLoaderNotFound: the efiBootloaderPath given (Path) is not on the
	// image's EFI system partition, which holds Loaders.
	KindLoaderNotFound
	// KindNoLoader: no efiBootloaderPath was given and the ESP holds none
	// of the loaders byoi picks (it holds Loaders).
	KindNoLoader
	// KindNotBIOSBootable: a legacy BIOS machine and an image with no boot
	// code in its MBR and no BIOS boot partition.
	KindNotBIOSBootable
	kindCount // keep last
)

var kindNames = [...]string{
	KindInternal: "internal", KindBadImageType: "bad image type", KindChecksumPair: "checksum pair",
	KindBadChecksumType: "bad checksum type", KindDownload: "download", KindFormatMismatch: "format mismatch",
	KindNoPartitionTable: "no partition table", KindTooLarge: "too large", KindChecksumMismatch: "checksum mismatch",
	KindBadQcow2: "bad qcow2", KindCorruptStream: "corrupt stream", KindCompressedQcow2: "compressed qcow2",
	KindWrite: "write", KindCancelled: "cancelled", KindGPT: "gpt", KindConfigDrive: "config drive",
	KindBadPartitionTable: "bad partition table", KindNoESP: "no EFI system partition", KindBadESP: "unreadable EFI system partition",
	KindLoaderNotFound: "loader not found", KindNoLoader: "no loader", KindNotBIOSBootable: "not BIOS bootable",
}

func (k Kind) String() string {
	if k >= 0 && k < kindCount {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Kinds lists every Kind, for tables that must cover them all.
func Kinds() []Kind {
	ks := make([]Kind, 0, kindCount)
	for k := range kindCount {
		ks = append(ks, k)
	}
	return ks
}

// Error is how Install fails: the kind of failure, the step it happened in
// and the values that describe it. Which fields are set depends on Kind.
// Error() is a description for logs, not for users: it carries no header
// value or URL, but it is not OVH's wording either.
type Error struct {
	Kind Kind
	Step boot.StepID

	Declared    string // the image type asked for
	Found       string // the format found in the file
	Compression string // "gzip", "xz" or "zstd" where it matters
	Contents    string // what a raw image without partition table holds
	Reason      string // why a qcow2 file or a compressed stream is invalid

	Size       int64 // bytes the image needs on disk
	AtLeast    bool  // Size is a lower bound
	Target     string
	TargetSize int64

	ChecksumType, Got, Want string

	Path      string   // the efiBootloaderPath asked for
	Loaders   []string // the .efi files the image's ESP holds, as stored
	Partition int      // the partition concerned (1-based)

	Err error // the cause, for logs
}

// Error describes the failure for logs.
func (e *Error) Error() string {
	s := e.describe()
	if e.Err != nil && e.Kind != KindBadQcow2 && e.Kind != KindCorruptStream {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) describe() string {
	switch e.Kind {
	case KindBadImageType:
		return fmt.Sprintf("unknown image type %q", e.Declared)
	case KindChecksumPair:
		return "checksum and checksum type must be given together"
	case KindBadChecksumType:
		return fmt.Sprintf("unknown checksum type %q", e.ChecksumType)
	case KindDownload:
		return "download failed"
	case KindFormatMismatch:
		return fmt.Sprintf("image is %s, declared %s", e.Found, e.Declared)
	case KindNoPartitionTable:
		return "raw image without partition table, contains " + e.Contents
	case KindTooLarge:
		least := ""
		if e.AtLeast {
			least = "at least "
		}
		return fmt.Sprintf("image needs %s%d bytes, %s has %d", least, e.Size, e.Target, e.TargetSize)
	case KindChecksumMismatch:
		return fmt.Sprintf("%s mismatch: got %s, want %s", e.ChecksumType, e.Got, e.Want)
	case KindBadQcow2:
		return "invalid qcow2 image: " + e.Reason
	case KindCorruptStream:
		return "invalid " + e.Compression + " stream: " + e.Reason
	case KindCompressedQcow2:
		return e.Compression + " compressed qcow2 image cannot be streamed"
	case KindWrite:
		return fmt.Sprintf("write %s image to disk failed", e.Declared)
	case KindCancelled:
		return "installation cancelled"
	case KindBadPartitionTable:
		return "invalid partition table"
	case KindNoESP:
		return "no EFI system partition on a UEFI machine"
	case KindBadESP:
		return fmt.Sprintf("EFI system partition %d unreadable", e.Partition)
	case KindLoaderNotFound:
		return fmt.Sprintf("%s not on the EFI system partition (it has %s)", e.Path, strings.Join(e.Loaders, ", "))
	case KindNoLoader:
		return fmt.Sprintf("no known loader on the EFI system partition (it has %s)", strings.Join(e.Loaders, ", "))
	case KindNotBIOSBootable:
		return "no MBR boot code and no BIOS boot partition on a BIOS machine"
	}
	return e.Kind.String() + " failed"
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

func downloadError(err error) *Error {
	return &Error{Kind: KindDownload, Step: boot.StepDownload, Err: err}
}

func mismatchError(found, declared string) *Error {
	return &Error{Kind: KindFormatMismatch, Step: boot.StepPreflight, Found: found, Declared: declared}
}

// sizeError: an image larger than the target. Known before the first write
// (pre-flight) unless atLeast: a stream refused at the first byte past the
// end of the target, while it was being written.
func sizeError(size int64, atLeast bool, t Target) *Error {
	step := boot.StepPreflight
	if atLeast {
		step = boot.StepCheck
	}
	return &Error{Kind: KindTooLarge, Step: step, Size: size, AtLeast: atLeast, Target: t.Name(), TargetSize: t.Size()}
}

func noPartitionError(what string) *Error {
	return &Error{Kind: KindNoPartitionTable, Step: boot.StepPreflight, Contents: what}
}

func checksumError(typ, got, want string) *Error {
	return &Error{Kind: KindChecksumMismatch, Step: boot.StepCheck, ChecksumType: typ, Got: got, Want: want}
}

func qcow2Invalid(reason string, err error) *Error {
	return &Error{Kind: KindBadQcow2, Step: boot.StepCheck, Reason: reason, Err: err}
}

func corruptError(kind string, err error) *Error {
	return &Error{Kind: KindCorruptStream, Step: boot.StepCheck, Compression: kind, Reason: err.Error(), Err: err}
}

// WriteError is a failure to write an image of imageType ("raw" or
// "qcow2") to the disk: a disk that cannot be opened for writing, is read
// only, full or failing. err is the cause, for logs.
func WriteError(imageType string, err error) *Error {
	return &Error{Kind: KindWrite, Step: boot.StepWrite, Declared: imageType, Err: err}
}

func writeError(imageType string, err error) *Error { return WriteError(imageType, err) }
