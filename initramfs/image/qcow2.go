package image

import (
	"io"
	"sync"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/image/qcow2check"
	"github.com/klauspost/compress/zstd"
	lib "github.com/lima-vm/go-qcow2reader/image/qcow2"
)

// registerZstd installs a pooled zstd decoder for qcow2 zstd clusters.
// go-qcow2reader keeps decompressors in a package-level map, so this is
// done once per process.
var registerZstd = sync.OnceFunc(func() {
	pool := &sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(4<<20))
		if err != nil {
			panic(err) // only invalid options fail, and these are constants
		}
		return d
	}}
	lib.SetDecompressor(lib.CompressionTypeZstd, func(r io.Reader) (io.ReadCloser, error) {
		d := pool.Get().(*zstd.Decoder)
		if err := d.Reset(r); err != nil {
			pool.Put(d)
			return nil, err
		}
		return &pooledZstd{d: d, pool: pool}, nil
	})
})

type pooledZstd struct {
	d    *zstd.Decoder
	pool *sync.Pool
}

func (p *pooledZstd) Read(b []byte) (int, error) { return p.d.Read(b) }

func (p *pooledZstd) Close() error {
	if p.d != nil {
		_ = p.d.Reset(nil)
		p.pool.Put(p.d)
		p.d = nil
	}
	return nil
}

// l2Guard validates each L2 table as go-qcow2reader loads it.
type l2Guard struct {
	ra io.ReaderAt
	h  *qcow2check.Header
}

func (g *l2Guard) ReadAt(p []byte, off int64) (int, error) {
	n, err := g.ra.ReadAt(p, off)
	if n == len(p) && g.h.IsL2(off, len(p)) {
		if cerr := g.h.CheckL2(p); cerr != nil {
			return 0, cerr
		}
	}
	return n, err
}

// qcow2 validates the header, then converts the image cluster range by
// cluster range: zero/unallocated extents become ZeroRange calls, data is
// read through go-qcow2reader in chunks and written sparsely.
func (in *installer) qcow2() (*sparseWriter, error) {
	registerZstd()
	h, err := qcow2check.Check(in.src, in.src.Size())
	if err != nil {
		if in.src.failed != nil {
			return nil, downloadError(in.src.failed)
		}
		return nil, customer(boot.StepCheck, "image provided is not a valid qcow2 image: "+err.Error(), err)
	}
	virtual := int64(h.Size)
	if virtual > in.t.Size() {
		return nil, sizeError(virtual, in.t)
	}
	if virtual == 0 {
		return nil, customer(boot.StepCheck, "image provided is not a valid qcow2 image: virtual size is 0", nil)
	}
	img, err := lib.Open(&l2Guard{ra: in.src, h: h}, nil)
	if err == nil {
		err = img.Readable()
	}
	if err != nil {
		return nil, in.qcow2Error(err)
	}
	in.checked(virtual)
	w := newSparseWriter(in.t, in.o.Type, func(done int64) {
		in.prog.report(boot.StepWrite, done, virtual)
	})
	if err := in.convert(img, w, virtual); err != nil {
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
	if in.src.failed != nil {
		return downloadError(in.src.failed)
	}
	return customer(boot.StepCheck, "image provided is not a valid qcow2 image: "+err.Error(), err)
}
