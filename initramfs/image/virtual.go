package image

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/image/qcow2check"
)

// Virtual is the virtual disk of a qcow2 image read in place, at random
// offsets, through the same download as Install: one hashing stream plus
// the block cache and Range requests for blocks behind it. Nothing is
// staged: memory is the block cache, one L2 table and a few decoded
// clusters (at most virtualCacheBytes), whatever the image size. BYOLinux
// serves it to the kernel over NBD and mounts the file system inside.
//
//	v, err := image.OpenVirtual(ctx, image.Options{URL: u, Type: "qcow2", ChecksumType: "sha256", Checksum: sum})
//	defer v.Close()
//	n, err := v.ReadAt(buf, off)   // any offset below v.Size()
//	res, err := v.Verify()         // reads the rest through the hash; *Error on a mismatch
//
// ReadAt is safe for concurrent use; reads are served one at a time.
type Virtual struct {
	o    Options
	f    *fetcher
	src  *remote
	size int64

	mu  sync.Mutex
	d   *qcow2Disk
	err error // the first read failure, sticky
}

// OpenVirtual starts the download of o.URL and checks that it is a valid
// qcow2 image (o.Type must be "qcow2"). Errors are *Error of the usual
// kinds: download failures, another format, a broken header.
func OpenVirtual(ctx context.Context, o Options) (*Virtual, error) {
	o = o.withDefaults()
	o.PausedReads = true // the kernel reads when it needs to
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Type != "qcow2" {
		return nil, &Error{Kind: KindBadImageType, Step: boot.StepCheck, Declared: o.Type}
	}
	f := &fetcher{o: o}
	src, err := openRemote(ctx, f, newHash(o.ChecksumType), func(done, total int64) {
		if o.Progress != nil {
			o.Progress(boot.StepDownload, done, total)
		}
	})
	if err != nil {
		return nil, downloadError(err)
	}
	v := &Virtual{o: o, f: f, src: src}
	if err := v.open(); err != nil {
		src.Close()
		return nil, err
	}
	return v, nil
}

func (v *Virtual) open() error {
	head := make([]byte, 512)
	n, err := v.src.ReadAt(head, 0)
	if n < 4 && err != nil && v.src.failure() != nil {
		return downloadError(v.src.failure())
	}
	if !isQcow2(head[:n]) {
		got := "raw"
		if c := compression(head[:n]); c != "" {
			got = c
		}
		return mismatchError(got, "qcow2")
	}
	h, err := qcow2check.Check(v.src, v.src.Size())
	if err != nil {
		if v.src.failure() != nil {
			return downloadError(v.src.failure())
		}
		return qcow2Invalid(err.Error(), err)
	}
	if h.Size == 0 {
		return qcow2Invalid("virtual size is 0", nil)
	}
	d, err := newQcow2Disk(v.src, h)
	if err != nil {
		return v.readError(err)
	}
	v.d, v.size = d, int64(h.Size)
	return nil
}

// Size returns the virtual disk size in bytes.
func (v *Virtual) Size() int64 { return v.size }

// ReadAt reads the virtual disk. Reads past the end return io.EOF; a
// download failure or broken image data returns an *Error, and every later
// read returns it too.
func (v *Virtual) ReadAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return 0, v.err
	}
	if off < 0 {
		return 0, fmt.Errorf("read virtual disk at %d: negative offset", off)
	}
	n, err := v.d.ReadAt(p, off)
	if err != nil && err != io.EOF {
		v.err = v.readError(err)
		return n, v.err
	}
	return n, err
}

// readError tells a download failure from broken image data.
func (v *Virtual) readError(err error) *Error {
	if f := v.src.failure(); f != nil {
		return downloadError(f)
	}
	return qcow2Invalid(err.Error(), err)
}

// Verify reads the rest of the file through the hash and compares it with
// the checksum asked, if any. Result has Format, VirtualSize, Downloaded
// and Digest set.
func (v *Virtual) Verify() (Result, error) {
	digest, n, err := v.src.finish()
	res := Result{Format: "qcow2", VirtualSize: v.size, Downloaded: v.f.downloaded.Load(), Digest: digest}
	if err != nil {
		return res, downloadError(err)
	}
	if v.o.Progress != nil {
		v.o.Progress(boot.StepDownload, n, n)
	}
	if v.o.Checksum != "" && digest != v.o.Checksum {
		return res, checksumError(v.o.ChecksumType, digest, v.o.Checksum)
	}
	return res, nil
}

// Downloaded returns the bytes received so far, re-fetches included.
func (v *Virtual) Downloaded() int64 { return v.f.downloaded.Load() }

// Refetched returns how many cache blocks were fetched again with a Range
// request because the reads went back behind the stream.
func (v *Virtual) Refetched() int64 {
	v.src.mu.Lock()
	defer v.src.mu.Unlock()
	return v.src.backFetches
}

// Close ends the download and releases the decoder.
func (v *Virtual) Close() error {
	if v.d != nil {
		v.d.Close()
	}
	return v.src.Close()
}
