package agent

import (
	"errors"
	"fmt"
	"strings"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/image"
)

// wording is what the server is told for one kind of failure: the class
// (customer: the task ends customerError; internal: ovhError) and the
// message, in OVH's words where OVH has some ("Common customer errors" of
// its BYOI documentation; existing runbooks match them) and in byoi's
// where it has none.
type wording struct {
	class string
	msg   func(e *image.Error) string
}

func fixed(s string) func(*image.Error) string { return func(*image.Error) string { return s } }

// wordings is the one table from installation failures to what users read.
// TestWordings checks that every image.Kind has an entry.
var wordings = map[image.Kind]wording{
	image.KindBadImageType:    {agentapi.ClassCustomer, fixed("Bad format image, expected: qcow2, raw.")},
	image.KindChecksumPair:    {agentapi.ClassCustomer, fixed("Please provide checkSum AND checkSumType or none of them")},
	image.KindBadChecksumType: {agentapi.ClassCustomer, fixed("Bad checkSumType, expected: md5, sha1, sha256, sha512.")},
	image.KindDownload: {agentapi.ClassCustomer, func(e *image.Error) string {
		return "Could not download image: " + cause(e)
	}},
	image.KindFormatMismatch: {agentapi.ClassCustomer, func(e *image.Error) string {
		return fmt.Sprintf("image provided format is %s which does not match expected %s format", e.Found, e.Declared)
	}},
	image.KindNoPartitionTable: {agentapi.ClassCustomer, func(e *image.Error) string {
		if e.Found == "qcow2" {
			return "image provided has no partition table (neither GPT nor MBR) in its qcow2 virtual disk"
		}
		return "image provided format is not of type raw because no partition table was found. It seems to contain: " + e.Contents
	}},
	image.KindTooLarge: {agentapi.ClassCustomer, func(e *image.Error) string {
		least := ""
		if e.AtLeast { // a compressed stream, stopped at the first byte past the end
			least = "at least "
		}
		return fmt.Sprintf("image provided has a size of %s%d bytes which is larger than %s of %d bytes", least, e.Size, e.Target, e.TargetSize)
	}},
	image.KindChecksumMismatch: {agentapi.ClassCustomer, func(e *image.Error) string {
		return fmt.Sprintf("Bad %s for downloaded file, got: %s while expecting %s.", e.ChecksumType, e.Got, e.Want)
	}},
	// OVH has no words for these; byoi's follow OVH's "image provided …".
	image.KindBadQcow2: {agentapi.ClassCustomer, func(e *image.Error) string {
		return "image provided is not a valid qcow2 image: " + e.Reason
	}},
	image.KindCorruptStream: {agentapi.ClassCustomer, func(e *image.Error) string {
		return "image provided is not a valid " + e.Compression + " stream: " + e.Reason
	}},
	image.KindCompressedQcow2: {agentapi.ClassCustomer, func(e *image.Error) string {
		return "image provided is a " + e.Compression + " compressed qcow2 image, which cannot be streamed: serve the qcow2 file uncompressed"
	}},
	// Pre-flight: the image cannot boot on this machine; nothing was written.
	image.KindBadPartitionTable: {agentapi.ClassCustomer, func(e *image.Error) string {
		return "image provided has an invalid partition table: " + cause(e)
	}},
	image.KindNoESP: {agentapi.ClassCustomer, fixed("image provided has no EFI system partition: this server boots in UEFI mode and could not start it")},
	image.KindBadESP: {agentapi.ClassCustomer, func(e *image.Error) string {
		return fmt.Sprintf("image provided has an EFI system partition (partition %d) whose FAT file system cannot be read: %s", e.Partition, cause(e))
	}},
	image.KindLoaderNotFound: {agentapi.ClassCustomer, func(e *image.Error) string {
		return fmt.Sprintf("%s not found on the image's EFI system partition; %s", e.Path, holds(e.Loaders))
	}},
	image.KindNoLoader: {agentapi.ClassCustomer, func(e *image.Error) string {
		return `no boot loader found on the image's EFI system partition (looked for shim, GRUB, systemd-boot, Windows Boot Manager and \EFI\BOOT\BOOTX64.EFI); ` +
			holds(e.Loaders) + ": set efiBootloaderPath"
	}},
	image.KindNotBIOSBootable: {agentapi.ClassCustomer, fixed("image provided has no boot code in its MBR and no BIOS boot partition: this server boots in legacy BIOS mode and could not start it")},
	// The machine's or byoi's fault, not the customer's.
	image.KindWrite: {agentapi.ClassInternal, func(e *image.Error) string {
		return fmt.Sprintf("Can't write %s on disk", e.Declared)
	}},
	image.KindGPT:         {agentapi.ClassInternal, fixed("Can not move backup GPT data structures to the end of disk.")},
	image.KindConfigDrive: {agentapi.ClassInternal, fixed("Could not create configdrive on disk.")},
	image.KindCancelled:   {agentapi.ClassInternal, fixed("installation cancelled")},
	image.KindInternal: {agentapi.ClassInternal, func(e *image.Error) string {
		return "installation failed: " + cause(e)
	}},
}

// holds lists the loaders an ESP holds.
func holds(loaders []string) string {
	if len(loaders) == 0 {
		return `it holds no .efi file under \EFI`
	}
	return "it has " + strings.Join(loaders, ", ")
}

// cause is the message of e's cause (never carrying a URL or header value).
func cause(e *image.Error) string {
	if e.Err == nil {
		return e.Kind.String()
	}
	return e.Err.Error()
}

// failure turns err into what the server is told: an *image.Error anywhere
// in its chain through the table, anything else as an internal error with
// its own message, at step.
func failure(step boot.StepID, err error) agentapi.Failure {
	var sf *stepFailure // BYOLinux: worded where it happened
	if errors.As(err, &sf) {
		return sf.f
	}
	var ie *image.Error
	if !errors.As(err, &ie) {
		return agentapi.Failure{Step: step, Class: agentapi.ClassInternal, Message: err.Error()}
	}
	w, ok := wordings[ie.Kind]
	if !ok {
		w = wordings[image.KindInternal]
	}
	if ie.Step != "" {
		step = ie.Step
	}
	return agentapi.Failure{Step: step, Class: w.class, Message: w.msg(ie)}
}

// stepError marks err as a failure of the installer's own step id (GPT or
// config drive), for the table.
func stepError(id boot.StepID, err error) error {
	var ie *image.Error
	if errors.As(err, &ie) {
		return err
	}
	switch id {
	case boot.StepGPT:
		return &image.Error{Kind: image.KindGPT, Step: id, Err: err}
	case boot.StepConfigDrive:
		return &image.Error{Kind: image.KindConfigDrive, Step: id, Err: err}
	}
	return err
}
