package preflight

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies a failed check. The agent maps each kind to the words a
// user sees; this package keeps no API wording.
type Kind int

// Kinds of Error.
const (
	// NoPartitionTable: the image has neither a GPT nor an MBR.
	NoPartitionTable Kind = iota + 1
	// BadPartitionTable: a table is there but does not validate.
	BadPartitionTable
	// NoESP: a UEFI machine and an image without an EFI system partition
	// (nor a FAT partition holding \EFI).
	NoESP
	// BadESP: the EFI system partition's FAT file system cannot be read.
	BadESP
	// LoaderNotFound: the efiBootloaderPath given is not on the ESP.
	LoaderNotFound
	// NoLoader: no efiBootloaderPath was given and the ESP holds none of
	// the loaders byoi knows to pick.
	NoLoader
	// NotBIOSBootable: a legacy machine and an image with no boot code in
	// its MBR and no BIOS boot partition.
	NotBIOSBootable
	// NeedsMore: the check had to read beyond the buffered head of a
	// stream (see Head); the image itself may be fine.
	NeedsMore
	// ReadFailed: reading the image failed (a download or decode error).
	ReadFailed
)

var kindNames = map[Kind]string{
	NoPartitionTable: "no partition table", BadPartitionTable: "bad partition table", NoESP: "no EFI system partition",
	BadESP: "unreadable EFI system partition", LoaderNotFound: "loader not found", NoLoader: "no loader",
	NotBIOSBootable: "not BIOS bootable", NeedsMore: "needs more than the buffered head", ReadFailed: "read failed",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a failed pre-flight check.
type Error struct {
	Kind Kind
	// Path is the efiBootloaderPath asked for (LoaderNotFound).
	Path string
	// Loaders are the .efi files the ESP holds, as stored (LoaderNotFound,
	// NoLoader), at most maxListed of them.
	Loaders []string
	// Partition is the number of the partition concerned (BadESP).
	Partition int
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	switch e.Kind {
	case LoaderNotFound:
		return fmt.Sprintf("%s not found on the image's EFI system partition; %s", e.Path, hasList(e.Loaders))
	case NoLoader:
		return "no boot loader found on the image's EFI system partition (looked for shim, GRUB, systemd-boot and the removable path); " + hasList(e.Loaders)
	case NoESP:
		return "the image has no EFI system partition: a UEFI machine cannot boot it"
	case NotBIOSBootable:
		return "the image has no boot code in its MBR and no BIOS boot partition: a legacy BIOS machine cannot boot it"
	case NoPartitionTable:
		return "the image has no partition table (neither GPT nor MBR)"
	case BadESP:
		return fmt.Sprintf("the image's EFI system partition (partition %d) cannot be read: %v", e.Partition, e.Err)
	}
	if e.Err != nil {
		return e.Kind.String() + ": " + e.Err.Error()
	}
	return e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

func hasList(loaders []string) string {
	if len(loaders) == 0 {
		return "it holds no .efi file under \\EFI"
	}
	return "it has " + strings.Join(loaders, ", ")
}

// KindOf returns the Kind of a pre-flight error, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
