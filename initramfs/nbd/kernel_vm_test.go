package nbd

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/initramfs/internal/testfs"
)

// TestKernelClientVM: the kernel's NBD client reads byoi's server through
// /dev/nbdN: every byte matches, writes are refused, and a file system
// served this way mounts read-only (no journal replay) and reads back.
func TestKernelClientVM(t *testing.T) {
	testfs.NeedVM(t)
	data := testData(8<<20 + 4096)
	dev, err := FreeDevice()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Attach(context.Background(), dev, Export{Data: bytes.NewReader(data), Size: int64(len(data))})
	if err != nil {
		t.Fatalf("Attach(%s) = %v", dev, err)
	}
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading %s: %d bytes, %v; want the export's %d bytes", dev, len(got), err, len(data))
	}
	if w, err := os.OpenFile(dev, os.O_WRONLY, 0); err == nil {
		_, werr := w.Write(make([]byte, 4096))
		serr := w.Sync()
		w.Close()
		if werr == nil && serr == nil {
			t.Errorf("writing to the read-only %s succeeded", dev)
		}
	}
	st := d.Server.Stats()
	if err := d.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if st.ReadBytes < int64(len(data)) {
		t.Errorf("server Stats() = %+v, want at least %d bytes read", st, len(data))
	}
	if _, err := os.Stat("/sys/block/" + filepath.Base(dev) + "/pid"); err == nil {
		t.Errorf("%s still connected after Close", dev)
	}

	// A file system through NBD.
	img := filepath.Join(testfs.TempDir(t), "fs.img")
	f2, _ := os.Create(img)
	f2.Truncate(64 << 20)
	f2.Close()
	testfs.Mkfs(t, "ext4", img)
	mnt := testfs.Mount(t, testfs.LoopFile(t, img), "ext4", "")
	os.WriteFile(filepath.Join(mnt, "hello"), []byte("through nbd"), 0o644)
	unix.Unmount(mnt, 0)
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	d, err = Attach(context.Background(), dev, Export{Data: src, Size: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := unix.Mount(dev, dir, "ext4", unix.MS_RDONLY, "noload"); err != nil {
		d.Close()
		t.Fatalf("mount %s: %v", dev, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hello"))
	unix.Unmount(dir, 0)
	if err := d.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if string(b) != "through nbd" {
		t.Errorf("file read through NBD = %q, %v", b, err)
	}
}
