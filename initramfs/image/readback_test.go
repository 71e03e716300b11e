package image

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestReadBack: history reads return what the writer put on the disk, zeros
// for the zero run it has not applied yet, wait until the writer got that
// far, and fail once the stream is over.
func TestReadBack(t *testing.T) {
	tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), 4*mib)
	rb := newReadBack(tg)
	w := newSparseWriter(tg, "raw", nil)
	w.rb = rb
	data := bytes.Repeat([]byte("byoi"), 64<<10) // 256 KiB
	if err := w.writeAt(data, 0, nil); err != nil {
		t.Fatal(err)
	}
	// 128 KiB of zeros: pending, not on the disk (which holds garbage).
	if err := w.writeAt(make([]byte, 128<<10), 256<<10, nil); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8192)
	if err := rb.ReadHistory(got, 256<<10-4096); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(data[len(data)-4096:]), make([]byte, 4096)...)
	if !bytes.Equal(got, want) {
		t.Errorf("ReadHistory across the data and the pending zero run: wrong bytes")
	}
	// Beyond what the writer handled: waits for it.
	done := make(chan error, 1)
	go func() { done <- rb.ReadHistory(make([]byte, 4096), 400<<10) }()
	select {
	case err := <-done:
		t.Fatalf("ReadHistory beyond the writer returned early: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := w.writeAt(data, 384<<10, nil); err != nil { // flushes the zero run
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("ReadHistory after the writer got there = %v", err)
	}
	got = make([]byte, 128<<10)
	if err := rb.ReadHistory(got, 256<<10); err != nil || !bytes.Equal(got, make([]byte, 128<<10)) {
		t.Errorf("ReadHistory of the applied zero run = %v, or not zeros", err)
	}
	go func() { done <- rb.ReadHistory(make([]byte, 10), 3*mib) }()
	rb.close()
	if err := <-done; !errors.Is(err, errReadBackClosed) {
		t.Errorf("ReadHistory waiting when the stream ends = %v, want %v", err, errReadBackClosed)
	}
}
