package image

import (
	"errors"
	"io"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/bytesize"
	"github.com/byoi/byoi/initramfs/preflight"
)

// Pre-flight runs once the format is known and before the first write to
// the target: the format, partition table and size checks, then, with
// Options.Firmware set, the boot checks of package preflight on the image's
// virtual disk. A failure returns before anything is written.

// preflight runs the boot checks on r, the virtual disk (size bytes, 0 when
// not known yet). classify turns a read failure into the *Error of its
// cause (a download failure, broken qcow2 data, a corrupt stream); head is
// the image's first bytes, to describe an image without partition table.
func (in *installer) preflight(r io.ReaderAt, size int64, head []byte, classify func(error) error) error {
	in.prog.report(boot.StepPreflight, 0, 1)
	if in.o.Firmware == preflight.FirmwareUnknown {
		in.res.PreflightNote = "firmware unknown: only the format, the partition table signature and the size were checked"
		in.prog.report(boot.StepPreflight, 1, 1)
		return nil
	}
	res, err := preflight.Check(r, preflight.Config{Firmware: in.o.Firmware, EFIBootloaderPath: in.o.EFIBootloaderPath, Size: size})
	var pe *preflight.Error
	if err != nil && !errors.As(err, &pe) {
		pe = &preflight.Error{Kind: preflight.ReadFailed, Err: err}
	}
	if pe != nil {
		switch pe.Kind {
		case preflight.NeedsMore:
			in.res.PreflightNote = "the image's boot files lie beyond the first " + bytesize.Format(int64(in.o.PreflightHead)) +
				" of the stream: the EFI system partition was not checked"
			in.o.Logger.Warn("pre-flight incomplete", "reason", pe.Error())
			in.prog.report(boot.StepPreflight, 1, 1)
			return nil
		case preflight.ReadFailed:
			var ie *Error
			if errors.As(pe.Err, &ie) {
				return ie
			}
			return classify(pe.Err)
		}
		return preflightError(pe, head, in.res.Compression)
	}
	in.res.Loader, in.res.LoaderPicked, in.res.ESP = res.Loader, res.Picked, res.ESP
	in.o.Logger.Info("pre-flight passed", "table", res.Table.Kind, "partitions", len(res.Table.Partitions),
		"loader", res.Loader, "picked", res.Picked, "esp", res.ESP, "biosBootable", res.BIOSBootable)
	in.prog.report(boot.StepPreflight, 1, 1)
	return nil
}

// preflightError turns a failed boot check into an *Error.
func preflightError(pe *preflight.Error, head []byte, compression string) *Error {
	e := &Error{Step: boot.StepPreflight, Path: pe.Path, Loaders: pe.Loaders, Partition: pe.Partition, Err: pe.Err}
	switch pe.Kind {
	case preflight.NoPartitionTable:
		return noPartitionError(describe(head, compression))
	case preflight.BadPartitionTable:
		e.Kind = KindBadPartitionTable
	case preflight.NoESP:
		e.Kind = KindNoESP
	case preflight.BadESP:
		e.Kind = KindBadESP
	case preflight.LoaderNotFound:
		e.Kind = KindLoaderNotFound
	case preflight.NoLoader:
		e.Kind = KindNoLoader
	case preflight.NotBIOSBootable:
		e.Kind = KindNotBIOSBootable
	default:
		e.Kind, e.Err = KindInternal, pe
	}
	return e
}
