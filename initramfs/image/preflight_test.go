package image

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/preflight"
)

var (
	debianESP = []string{"/EFI/debian/shimx64.efi", "/EFI/debian/grubx64.efi", "/EFI/debian/mmx64.efi", "/EFI/BOOT/BOOTX64.EFI"}
	// cloudLayout is a cloud image's: BIOS boot partition, ESP, root.
	cloudLayout = []bootPart{{typ: "ef02", mib: 1}, {typ: "ef00", mib: 8, files: debianESP}, {typ: "8300", mib: 3, noise: true}}
)

// preflightDisk is the targets' size: the largest test image (in
// TestPreflightXZHistory) is 34 MiB; each target is filled with random
// bytes and hashed twice, so a larger one only costs time.
const preflightDisk = 40 * mib

// TestPreflightRefusesBeforeWriting: every pre-flight failure, in every
// format, leaves the target byte for byte as it was (random bytes, sha256
// before and after).
func TestPreflightRefusesBeforeWriting(t *testing.T) {
	noESP := bootImage(t, true, bootPart{typ: "ef02", mib: 1}, bootPart{typ: "8300", mib: 3, noise: true})
	noBoot := bootImage(t, false, bootPart{typ: "ef00", mib: 8, files: debianESP}, bootPart{typ: "8300", mib: 3, noise: true})
	unknown := bootImage(t, false, bootPart{typ: "ef00", mib: 8, files: []string{"/EFI/tools/shell.efi"}}, bootPart{typ: "8300", mib: 4, noise: true})
	cloud := bootImage(t, true, cloudLayout...)
	debianLoaders := []string{`\EFI\debian\shimx64.efi`, `\EFI\debian\grubx64.efi`, `\EFI\BOOT\BOOTX64.EFI`, `\EFI\debian\mmx64.efi`}
	pre := boot.StepPreflight
	for _, tc := range []struct {
		name string
		img  string
		o    Options
		want Error
	}{
		{"loader missing", cloud, Options{Firmware: preflight.UEFI, EFIBootloaderPath: `\efi\debian\grubaa64.efi`},
			Error{Kind: KindLoaderNotFound, Step: pre, Path: `\efi\debian\grubaa64.efi`, Loaders: debianLoaders}},
		{"UEFI without ESP", noESP, Options{Firmware: preflight.UEFI}, Error{Kind: KindNoESP, Step: pre}},
		{"UEFI without known loader", unknown, Options{Firmware: preflight.UEFI},
			Error{Kind: KindNoLoader, Step: pre, Loaders: []string{`\EFI\tools\shell.efi`}}},
		{"BIOS without boot code", noBoot, Options{Firmware: preflight.BIOS}, Error{Kind: KindNotBIOSBootable, Step: pre}},
	} {
		variants := bootVariants(t, tc.img)
		for _, v := range []string{"raw", "qcow2", "qcow2-zlib", "gzip", "xz", "zstd"} {
			t.Run(tc.name+"/"+v, func(t *testing.T) {
				srv := fileServer(t, variants[v], nil)
				path := filepath.Join(t.TempDir(), "disk")
				tg := randomTarget(t, path, preflightDisk, 5)
				before := fileSHA256(t, path)
				o := tc.o
				o.URL, o.Type = srv.URL, imageType(v)
				var steps []boot.StepID
				o.Progress = func(s boot.StepID, done, total int64) {
					if s == boot.StepWrite && done > 0 {
						steps = append(steps, s)
					}
				}
				_, err := Install(testCtx(t), fast(o), tg)
				if diff := cmp.Diff(&tc.want, failure(t, err), noCause); diff != "" {
					t.Errorf("Install(%s) error mismatch (-want +got):\n%s", v, diff)
				}
				if after := fileSHA256(t, path); after != before {
					t.Errorf("target sha256 after a failed pre-flight = %s, want %s (unchanged)", after, before)
				}
				if len(steps) > 0 {
					t.Errorf("write progress reported after a failed pre-flight: %v", steps)
				}
			})
		}
	}
}

// TestPreflightLoader: with no efiBootloaderPath the loader is picked
// (shim first), a given one is found case-insensitively, BIOS passes on a
// BIOS boot partition; the image is then written whole, every byte
// downloaded once.
func TestPreflightLoader(t *testing.T) {
	cloud := bootImage(t, false, cloudLayout...)
	variants := bootVariants(t, cloud)
	want, err := os.ReadFile(cloud)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		o          Options
		loader     string
		picked     bool
		noteWanted bool
	}{
		{"UEFI picked", Options{Firmware: preflight.UEFI}, `\EFI\debian\shimx64.efi`, true, false},
		{"UEFI given", Options{Firmware: preflight.UEFI, EFIBootloaderPath: `\efi\DEBIAN\GRUBX64.efi`}, `\EFI\debian\grubx64.efi`, false, false},
		{"BIOS boot partition", Options{Firmware: preflight.BIOS}, "", false, false},
		{"firmware unknown", Options{}, "", false, true},
	} {
		for _, v := range []string{"raw", "qcow2", "qcow2-zlib", "gzip", "xz", "zstd"} {
			t.Run(tc.name+"/"+v, func(t *testing.T) {
				srv := fileServer(t, variants[v], nil)
				path := filepath.Join(t.TempDir(), "disk")
				tg := randomTarget(t, path, preflightDisk, 6)
				o := tc.o
				o.URL, o.Type = srv.URL, imageType(v)
				res, err := Install(testCtx(t), fast(o), tg)
				if err != nil {
					t.Fatalf("Install(%s) = %v", v, err)
				}
				if res.Loader != tc.loader || res.LoaderPicked != tc.picked || (res.PreflightNote != "") != tc.noteWanted {
					t.Errorf("Install(%s) loader, picked, note = %q, %v, %q; want %q, %v, note %v", v, res.Loader, res.LoaderPicked, res.PreflightNote, tc.loader, tc.picked, tc.noteWanted)
				}
				st, _ := os.Stat(variants[v])
				if res.Downloaded != st.Size() || res.Refetched != 0 {
					t.Errorf("Install(%s) downloaded %d bytes (%d blocks again), want the file's %d once", v, res.Downloaded, res.Refetched, st.Size())
				}
				got := make([]byte, len(want))
				if _, err := tg.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("Install(%s): disk differs from the image", v)
				}
			})
		}
	}
}

// TestPreflightFarAhead: an ESP beyond the head buffer is read with Range
// requests on a raw file (the stream is not moved), and is reported as not
// checked for a compressed stream or a server without Range.
func TestPreflightFarAhead(t *testing.T) {
	img := bootImage(t, false, bootPart{typ: "8300", mib: 6, noise: true}, bootPart{typ: "ef00", mib: 8, files: debianESP})
	gz := filepath.Join(filepath.Dir(img), "far.gz")
	compressFile(t, img, gz, "gzip")
	st, _ := os.Stat(img)
	for _, tc := range []struct {
		name, file string
		noRange    bool
		loader     string
		ranged     bool
	}{
		{"raw, Range", img, false, `\EFI\debian\shimx64.efi`, true},
		{"raw, no Range", img, true, "", false},
		{"gzip", gz, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mw func(h http.Handler) http.Handler
			if tc.noRange {
				mw = func(http.Handler) http.Handler { return noRange(tc.file) }
			}
			srv := fileServer(t, tc.file, mw)
			path := filepath.Join(t.TempDir(), "disk")
			tg := randomTarget(t, path, preflightDisk, 7)
			res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "raw", Firmware: preflight.UEFI, PreflightHead: mib}), tg)
			if err != nil {
				t.Fatalf("Install = %v", err)
			}
			if res.Loader != tc.loader || (res.PreflightNote == "") != (tc.loader != "") {
				t.Errorf("Install loader, note = %q, %q; want %q and a note only without it", res.Loader, res.PreflightNote, tc.loader)
			}
			t.Logf("%s: %d requests, %d bytes downloaded for a %d-byte image", tc.name, res.Requests, res.Downloaded, st.Size())
			if tc.ranged && (res.Requests < 2 || res.Downloaded > st.Size()+128<<10) {
				t.Errorf("Install sent %d requests for %d bytes, want ranged reads of at most 128 KiB (metadata) over the file's %d", res.Requests, res.Downloaded, st.Size())
			}
			sameContent(t, img, path, st.Size())
		})
	}
}

// TestPreflightXZHistory: an xz stream with a large dictionary whose
// matches reach further back than the decoder keeps in memory (xzWindow)
// while pre-flight still holds those bytes in its head, not yet on the
// disk: the read-back history serves them from the head.
func TestPreflightXZHistory(t *testing.T) {
	xzTool := needTool(t, "xz")
	img := bootImage(t, false, bootPart{typ: "8300", mib: 6, noise: true}, bootPart{typ: "8300", mib: 12, noise: true},
		bootPart{typ: "8300", mib: 6}, bootPart{typ: "ef00", mib: 8, files: debianESP})
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 6*mib)
	if _, err := f.ReadAt(first, mib); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(first, 19*mib); err != nil { // 18 MiB after the original: beyond xzWindow
		t.Fatal(err)
	}
	f.Close()
	run(t, xzTool, "-k", "-9", "-T1", img)
	srv := fileServer(t, img+".xz", nil)
	path := filepath.Join(t.TempDir(), "disk")
	tg := randomTarget(t, path, preflightDisk, 8)
	res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "raw", Firmware: preflight.UEFI}), tg)
	if err != nil {
		t.Fatalf("Install = %v", err)
	}
	if res.Loader != `\EFI\debian\shimx64.efi` {
		t.Errorf("Install loader = %q (note %q), want shim picked", res.Loader, res.PreflightNote)
	}
	st, _ := os.Stat(img)
	sameContent(t, img, path, st.Size())
}
