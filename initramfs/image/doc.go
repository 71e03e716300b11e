// Package image fetches a disk image over HTTP(S), recognises its format by
// content, verifies its checksum and writes it sparsely onto a disk.
//
//	t, err := image.OpenTarget("/dev/vda")
//	res, err := image.Install(ctx, image.Options{URL: u, Type: "qcow2",
//		ChecksumType: "sha256", Checksum: sum}, t)
//	// err is an *image.Error: its Kind and values say what went wrong (the
//	// agent turns them into OVH's words); success means the whole file was
//	// downloaded, matched its checksum and is on the disk (synced).
//
// Formats: raw (must carry an MBR or GPT signature), raw compressed with
// gzip, xz or zstd (streamed), and qcow2 v2/v3 with zlib or zstd compressed
// clusters. qcow2 headers are validated by the qcow2check subpackage before
// anything else reads them; byoi's own L1/L2 walk checks each L2 table as it
// loads it. InstallLocal runs the same pipeline on a local io.ReaderAt (the
// benchmark's like-for-like comparison with qemu-img).
//
// Design (see docs/installer-image.md): the file is read through one
// sequential GET whose bytes are hashed in file order on a goroutine of their
// own (at most 1 MiB behind the download; nothing is hashed when no checksum
// is asked), and that resumes with Range
// + If-Range after a cut or a stall. Everything reads the file through an
// io.ReaderAt backed by that stream and an 8 MiB LRU of 64 KiB blocks:
// blocks ahead of the stream advance it, blocks behind it that were evicted
// are re-fetched with a Range request (or a second sequential GET on servers
// without Range). qemu-img lays out qcow2 files roughly in guest order, so a
// qcow2 install is normally a single pass over the network with nothing
// staged in RAM or on disk. qcow2 clusters contiguous in the file are read
// as one run; data is decoded by two workers (reused flate/zstd decoders) in
// 1 MiB chunks and issued in disk order by one writer (on a block device
// written with O_DIRECT, two writes in flight at once). A raw stream is
// decoded (or received) on a goroutine of its own while the writer writes,
// except an uncompressed one onto a target written through the page cache,
// which one goroutine receives and writes. After writing, the
// rest of the stream is drained through the hash; a mismatch fails Install,
// so the machine never switches to local boot on a bad image. Memory is
// bounded by the block cache, the hash backlog (1 MiB), the read-ahead of
// gzip and zstd streams (1 MiB), the write buffers (3 MiB for raw, 1 MiB
// for uncompressed raw onto the page cache, 4 MiB for qcow2), one L2 table, the workers' scratch
// buffers (1 MiB or two clusters each) and the decompressors' windows (zstd
// ≤ 64 MiB, xz dictionary ≤ 64 MiB); it does
// not depend on the image size.
//
// Writes skip all-zero 4 KiB granules and unallocated/zero qcow2 extents,
// and zero them explicitly with Target.ZeroRange (fallocate PUNCH_HOLE, then
// BLKZEROOUT on block devices; hole punching on files) so a disk full of old
// data ends up equal to the image over its whole virtual size.
package image
