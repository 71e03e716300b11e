package build

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
)

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeArchive writes entries as a newc cpio through the compressor to a
// temporary file renamed onto output once complete. It returns the
// uncompressed and the written sizes.
func writeArchive(output, compression string, entries []entry) (raw, written int64, err error) {
	dir := filepath.Dir(output)
	tmp, err := os.CreateTemp(dir, ".initramfs-*")
	if err != nil {
		return 0, 0, fmt.Errorf("build initramfs: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	out := &countWriter{w: tmp}
	var comp io.WriteCloser
	switch compression {
	case Gzip:
		// Header without name or time: reproducible.
		comp, err = gzip.NewWriterLevel(out, gzip.DefaultCompression)
	case Zstd:
		// The kernel allocates the frame's window when it unpacks the
		// initramfs; a small window keeps that cheap in a small VM.
		comp, err = zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithWindowSize(1<<21), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	default:
		comp = nopCloser{out}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("build initramfs: %s writer: %w", compression, err)
	}
	rawW := &countWriter{w: comp}
	rw := cpio.Newc.Writer(rawW)
	for i, e := range entries {
		rec, err := record(e, uint64(i+1))
		if err != nil {
			return 0, 0, err
		}
		if err := rw.WriteRecord(rec); err != nil {
			return 0, 0, fmt.Errorf("build initramfs: write %s: %w", e.name, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return 0, 0, fmt.Errorf("build initramfs: %w", err)
	}
	if err := comp.Close(); err != nil {
		return 0, 0, fmt.Errorf("build initramfs: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return 0, 0, fmt.Errorf("build initramfs: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, 0, fmt.Errorf("build initramfs: %w", err)
	}
	if err := os.Rename(tmp.Name(), output); err != nil {
		return 0, 0, fmt.Errorf("build initramfs: %w", err)
	}
	return rawW.n, out.n, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// record turns an entry into a cpio record with fixed owner and time.
func record(e entry, ino uint64) (cpio.Record, error) {
	info := cpio.Info{Ino: ino, Mode: e.mode, NLink: 1, Name: e.name, Rmajor: e.rmajor, Rminor: e.rmin}
	if e.mode&modeType == modeDir {
		info.NLink = 2
	}
	switch {
	case e.src != "":
		f, err := os.Open(e.src)
		if err != nil {
			return cpio.Record{}, fmt.Errorf("build initramfs: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return cpio.Record{}, fmt.Errorf("build initramfs: %w", err)
		}
		info.FileSize = uint64(fi.Size())
		// The cpio writer closes the file after copying it.
		return cpio.Record{ReaderAt: f, Info: info}, nil
	case e.mode&modeType == modeFile || e.mode&modeType == modeLink:
		return cpio.StaticRecord(e.data, info), nil
	}
	return cpio.Record{Info: info}, nil
}
