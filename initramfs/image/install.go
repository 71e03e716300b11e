package image

import (
	"context"
	"errors"
	"io"

	"github.com/byoi/byoi/boot"
)

// installer holds the state of one Install call.
type installer struct {
	ctx  context.Context
	o    Options
	t    Target
	src  source
	prog *progress
	res  Result
}

// Install downloads the image described by o and writes it to t: format
// detection by content, qcow2 header validation, decompression, sparse
// writing with explicit zeroing, checksum verification and a final Sync.
// It returns success only when the whole file was downloaded, its checksum
// (if one is asked) matches and the target holds the image over its whole
// virtual size. Every failure is an *Error saying what went wrong.
func Install(ctx context.Context, o Options, t Target) (Result, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return Result{}, err
	}
	in := &installer{ctx: ctx, o: o, t: t, prog: newProgress(o)}
	f := &fetcher{o: o}
	src, err := openRemote(ctx, f, newHash(o.ChecksumType), func(done, total int64) {
		in.prog.report(boot.StepDownload, done, total)
	})
	if err != nil {
		return Result{}, in.fail(downloadError(err))
	}
	defer src.Close()
	in.src = src
	err = in.run()
	in.res.Downloaded, in.res.Requests, in.res.Refetched = f.downloaded.Load(), f.requests.Load(), src.refetched()
	if err != nil {
		return in.res, in.fail(err)
	}
	o.Logger.Info("image installed", "format", in.res.Format, "compression", in.res.Compression,
		"virtualSize", in.res.VirtualSize, "downloaded", in.res.Downloaded, "requests", f.requests.Load(),
		"refetchedBlocks", in.res.Refetched, "written", in.res.Written, "zeroed", in.res.Zeroed)
	return in.res, nil
}

// InstallLocal is Install reading the image file from r, of size bytes,
// instead of downloading o.URL (o's URL, Headers, Client and retry fields
// are ignored). It is byoi's writer alone, without the network: the
// benchmark compares it with qemu-img on the same local file. The agent
// never uses it: image URLs from the API are http(s) only. When a checksum
// is asked, r is read a second time, front to back, by a hashing goroutine.
func InstallLocal(ctx context.Context, o Options, r io.ReaderAt, size int64, t Target) (Result, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return Result{}, err
	}
	in := &installer{ctx: ctx, o: o, t: t, prog: newProgress(o)}
	src := newLocalSource(ctx, r, size, newHash(o.ChecksumType))
	defer src.Close()
	in.src = src
	if err := in.run(); err != nil {
		return in.res, in.fail(err)
	}
	o.Logger.Info("image installed", "format", in.res.Format, "compression", in.res.Compression,
		"virtualSize", in.res.VirtualSize, "source", "local", "written", in.res.Written, "zeroed", in.res.Zeroed)
	return in.res, nil
}

func (in *installer) run() error {
	head := make([]byte, sniffSize)
	n, err := in.src.ReadAt(head, 0)
	if n < len(head) && err != nil && !isEOF(err) {
		return downloadError(err)
	}
	head = head[:n]
	var w *sparseWriter
	if isQcow2(head) {
		in.res.Format = "qcow2"
		if in.o.Type != "qcow2" {
			return mismatchError("qcow2", in.o.Type)
		}
		w, err = in.qcow2()
	} else {
		in.res.Format = "raw"
		in.res.Compression = compression(head)
		w, err = in.raw(head)
	}
	if w != nil {
		in.res.Written, in.res.Zeroed = w.written, w.zeroed
	}
	if err != nil {
		return err
	}
	return in.verify()
}

// verify reads the rest of the file through the hash, if any, and compares it.
func (in *installer) verify() error {
	digest, n, err := in.src.finish()
	if err != nil {
		return downloadError(err)
	}
	in.prog.report(boot.StepDownload, n, n)
	in.res.Digest = digest
	if in.o.Checksum != "" && digest != in.o.Checksum {
		return checksumError(in.o.ChecksumType, digest, in.o.Checksum)
	}
	in.prog.report(boot.StepCheck, in.res.VirtualSize, in.res.VirtualSize)
	return nil
}

// fail logs an error and makes sure it is an *Error.
func (in *installer) fail(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		if in.ctx.Err() != nil {
			e = &Error{Kind: KindCancelled, Step: boot.StepDownload, Err: err}
		} else {
			e = writeError(in.o.Type, err)
		}
	}
	in.o.Logger.Error("image install failed", "step", e.Step, "kind", e.Kind, "err", e)
	return e
}

// checked reports the end of the format checks and the start of the write.
func (in *installer) checked(virtual int64) {
	in.res.VirtualSize = virtual
	in.prog.report(boot.StepCheck, 0, virtual)
}

func isEOF(err error) bool { return errors.Is(err, errEOF) }
