package image

import (
	"errors"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/image/qcow2check"
	"github.com/byoi/byoi/initramfs/preflight"
)

// qcow2 validates the header, then converts the image run by run: zero and
// unallocated clusters become ZeroRange calls, data (uncompressed runs and
// compressed clusters) is decoded into chunks and written sparsely.
func (in *installer) qcow2() (*sparseWriter, error) {
	h, err := qcow2check.Check(in.src, in.src.Size())
	if err != nil {
		if in.src.failure() != nil {
			return nil, downloadError(in.src.failure())
		}
		return nil, qcow2Invalid(err.Error(), err)
	}
	virtual := int64(h.Size)
	if virtual > in.t.Size() {
		return nil, sizeError(virtual, false, in.t)
	}
	if virtual == 0 {
		return nil, qcow2Invalid("virtual size is 0", nil)
	}
	if err := in.qcow2Preflight(h); err != nil {
		return nil, err
	}
	in.checked(virtual)
	w := newSparseWriter(in.t, in.o.Type, func(done int64) {
		in.prog.report(boot.StepWrite, done, virtual)
	})
	w.overlap()
	if err := in.convert(h, w); err != nil {
		return w, w.settle(err)
	}
	if err := w.finish(); err != nil {
		return w, err
	}
	in.prog.report(boot.StepWrite, virtual, virtual)
	return w, nil
}

// qcow2Preflight runs the boot checks on the virtual disk, read through
// the L1/L2 map with the source's pre-flight reads.
func (in *installer) qcow2Preflight(h *qcow2check.Header) error {
	if in.o.Firmware == preflight.FirmwareUnknown {
		return in.preflight(nil, 0, nil, nil)
	}
	d, err := newQcow2Disk(readerAtFunc(in.src.preflightAt), h)
	if err != nil {
		return in.qcow2Error(err)
	}
	defer d.Close()
	head := make([]byte, sniffSize)
	n, _ := d.ReadAt(head, 0)
	err = in.preflight(d, int64(h.Size), head[:n], func(err error) error { return in.qcow2Error(err) })
	var e *Error
	if errors.As(err, &e) && e.Kind == KindNoPartitionTable {
		e.Found = "qcow2"
	}
	return err
}

// readerAtFunc is an io.ReaderAt made of a function.
type readerAtFunc func(p []byte, off int64) (int, error)

func (f readerAtFunc) ReadAt(p []byte, off int64) (int, error) { return f(p, off) }

// qcow2Error tells a network failure from a broken image.
func (in *installer) qcow2Error(err error) *Error {
	if in.src.failure() != nil {
		return downloadError(in.src.failure())
	}
	return qcow2Invalid(err.Error(), err)
}
