package agent

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/image"
)

// TestWordings: every kind of installation failure is reported with OVH's
// exact words ("Common customer errors") where OVH has some, byoi's
// otherwise, and the class that decides customerError or ovhError.
func TestWordings(t *testing.T) {
	const (
		cust = agentapi.ClassCustomer
		intl = agentapi.ClassInternal
	)
	check, write := boot.StepCheck, boot.StepWrite
	for _, tc := range []struct {
		err  *image.Error
		want agentapi.Failure
	}{
		{&image.Error{Kind: image.KindBadImageType, Step: check, Declared: "ova"},
			agentapi.Failure{Step: check, Class: cust, Message: "Bad format image, expected: qcow2, raw."}},
		{&image.Error{Kind: image.KindChecksumPair, Step: check},
			agentapi.Failure{Step: check, Class: cust, Message: "Please provide checkSum AND checkSumType or none of them"}},
		{&image.Error{Kind: image.KindBadChecksumType, Step: check, ChecksumType: "crc32"},
			agentapi.Failure{Step: check, Class: cust, Message: "Bad checkSumType, expected: md5, sha1, sha256, sha512."}},
		{&image.Error{Kind: image.KindDownload, Step: boot.StepDownload, Err: errors.New("404 Not Found")},
			agentapi.Failure{Step: boot.StepDownload, Class: cust, Message: "Could not download image: 404 Not Found"}},
		{&image.Error{Kind: image.KindFormatMismatch, Step: check, Found: "raw", Declared: "qcow2"},
			agentapi.Failure{Step: check, Class: cust, Message: "image provided format is raw which does not match expected qcow2 format"}},
		{&image.Error{Kind: image.KindFormatMismatch, Step: check, Found: "qcow2", Declared: "raw"},
			agentapi.Failure{Step: check, Class: cust, Message: "image provided format is qcow2 which does not match expected raw format"}},
		{&image.Error{Kind: image.KindNoPartitionTable, Step: check, Contents: "ISO 9660 CD-ROM filesystem"},
			agentapi.Failure{Step: check, Class: cust, Message: "image provided format is not of type raw because no partition table was found. It seems to contain: ISO 9660 CD-ROM filesystem"}},
		{&image.Error{Kind: image.KindTooLarge, Step: check, Size: 2147483648, Target: "/dev/vda", TargetSize: 1073741824},
			agentapi.Failure{Step: check, Class: cust, Message: "image provided has a size of 2147483648 bytes which is larger than /dev/vda of 1073741824 bytes"}},
		{&image.Error{Kind: image.KindTooLarge, Step: check, Size: 1073741825, AtLeast: true, Target: "/dev/sda", TargetSize: 1073741824},
			agentapi.Failure{Step: check, Class: cust, Message: "image provided has a size of at least 1073741825 bytes which is larger than /dev/sda of 1073741824 bytes"}},
		{&image.Error{Kind: image.KindChecksumMismatch, Step: check, ChecksumType: "sha512", Got: "00ff", Want: "11ee"},
			agentapi.Failure{Step: check, Class: cust, Message: "Bad sha512 for downloaded file, got: 00ff while expecting 11ee."}},
		{&image.Error{Kind: image.KindBadQcow2, Step: check, Reason: "backing files are not supported"},
			agentapi.Failure{Step: check, Class: cust, Message: "image provided is not a valid qcow2 image: backing files are not supported"}},
		{&image.Error{Kind: image.KindCorruptStream, Step: check, Compression: "gzip", Reason: "gzip: invalid header"},
			agentapi.Failure{Step: check, Class: cust, Message: "image provided is not a valid gzip stream: gzip: invalid header"}},
		{&image.Error{Kind: image.KindCompressedQcow2, Step: check, Compression: "xz"},
			agentapi.Failure{Step: check, Class: cust, Message: "image provided is a xz compressed qcow2 image, which cannot be streamed: serve the qcow2 file uncompressed"}},
		{&image.Error{Kind: image.KindWrite, Step: write, Declared: "qcow2", Err: errors.New("EIO")},
			agentapi.Failure{Step: write, Class: intl, Message: "Can't write qcow2 on disk"}},
		{&image.Error{Kind: image.KindGPT, Step: boot.StepGPT, Err: errors.New("EIO")},
			agentapi.Failure{Step: boot.StepGPT, Class: intl, Message: "Can not move backup GPT data structures to the end of disk."}},
		{&image.Error{Kind: image.KindConfigDrive, Step: boot.StepConfigDrive, Err: errors.New("no room")},
			agentapi.Failure{Step: boot.StepConfigDrive, Class: intl, Message: "Could not create configdrive on disk."}},
		{&image.Error{Kind: image.KindCancelled, Step: boot.StepDownload, Err: errors.New("context canceled")},
			agentapi.Failure{Step: boot.StepDownload, Class: intl, Message: "installation cancelled"}},
		{&image.Error{Kind: image.KindInternal, Step: write, Err: errors.New("boom")},
			agentapi.Failure{Step: write, Class: intl, Message: "installation failed: boom"}},
	} {
		// Wrapped, as callers may pass it on.
		err := fmt.Errorf("install: %w", tc.err)
		if diff := cmp.Diff(tc.want, failure(boot.StepReboot, err)); diff != "" {
			t.Errorf("failure(%v) mismatch (-want +got):\n%s", tc.err.Kind, diff)
		}
	}
}

// TestWordingsCoverEveryKind: no kind falls through to the default.
func TestWordingsCoverEveryKind(t *testing.T) {
	for _, k := range image.Kinds() {
		if _, ok := wordings[k]; !ok {
			t.Errorf("wordings[%v] missing", k)
		}
	}
	if got, want := len(wordings), len(image.Kinds()); got != want {
		t.Errorf("len(wordings) = %d, want %d (one per kind)", got, want)
	}
}

// TestFailureOtherErrors: errors that are not the image's keep their own
// message, as internal errors at the current step; the GPT and config
// drive steps' errors get OVH's words.
func TestFailureOtherErrors(t *testing.T) {
	for _, tc := range []struct {
		step boot.StepID
		err  error
		want agentapi.Failure
	}{
		{boot.StepDownload, errors.New("no target disk after 1m0s"),
			agentapi.Failure{Step: boot.StepDownload, Class: agentapi.ClassInternal, Message: "no target disk after 1m0s"}},
		{boot.StepGPT, stepError(boot.StepGPT, fmt.Errorf("fix GPT on /dev/vda: %w", io.ErrUnexpectedEOF)),
			agentapi.Failure{Step: boot.StepGPT, Class: agentapi.ClassInternal, Message: "Can not move backup GPT data structures to the end of disk."}},
		{boot.StepConfigDrive, stepError(boot.StepConfigDrive, errors.New("add config drive partition: no room")),
			agentapi.Failure{Step: boot.StepConfigDrive, Class: agentapi.ClassInternal, Message: "Could not create configdrive on disk."}},
		{boot.StepBootSetup, stepError(boot.StepBootSetup, errors.New("x")),
			agentapi.Failure{Step: boot.StepBootSetup, Class: agentapi.ClassInternal, Message: "x"}},
	} {
		if diff := cmp.Diff(tc.want, failure(tc.step, tc.err)); diff != "" {
			t.Errorf("failure(%s, %v) mismatch (-want +got):\n%s", tc.step, tc.err, diff)
		}
	}
}
