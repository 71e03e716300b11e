package image

import (
	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/image/qcow2check"
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
	in.checked(virtual)
	w := newSparseWriter(in.t, in.o.Type, func(done int64) {
		in.prog.report(boot.StepWrite, done, virtual)
	})
	if err := in.convert(h, w); err != nil {
		return w, err
	}
	if err := w.finish(); err != nil {
		return w, err
	}
	in.prog.report(boot.StepWrite, virtual, virtual)
	return w, nil
}

// qcow2Error tells a network failure from a broken image.
func (in *installer) qcow2Error(err error) *Error {
	if in.src.failure() != nil {
		return downloadError(in.src.failure())
	}
	return qcow2Invalid(err.Error(), err)
}
