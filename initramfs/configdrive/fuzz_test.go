package configdrive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat12"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
	"github.com/google/go-cmp/cmp"
)

// memDisk lets go-diskfs read an image held in memory.
type memDisk struct{ *bytes.Reader }

func (memDisk) Close() error                            { return nil }
func (memDisk) Stat() (fs.FileInfo, error)              { return nil, errors.New("in-memory image") }
func (memDisk) Sys() (*os.File, error)                  { return nil, errors.New("in-memory image") }
func (memDisk) Writable() (backend.WritableFile, error) { return nil, backend.ErrIncorrectOpenMode }
func (memDisk) Path() string                            { return "" }

// readBack lists every regular file of a filesystem with its content, read
// by go-diskfs, a parser independent of this package's writers.
func readBack(fsys filesystem.FileSystem) (map[string][]byte, error) {
	out := map[string][]byte{}
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := fsys.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := path.Join(dir, e.Name())
			if e.Name() == "." || e.Name() == ".." {
				continue
			}
			if e.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			data, err := readWhole(fsys, p, info.Size())
			if err != nil {
				return err
			}
			out[strings.TrimPrefix(p, "/")] = data
		}
		return nil
	}
	return out, walk(".")
}

// readWhole reads a file in one Read from its start, with room for one
// byte more than its directory entry says, and checks that the next Read
// ends the file. go-diskfs v1.9.4's fat12 File.Read returns bytes past the
// end of a file when a read starts inside a cluster (it reads to the end of
// the cluster), so io.ReadAll's growing buffer made a 513-byte file on
// 4096-byte clusters read back as 768 bytes; one read from offset 0 keeps
// that path out of the oracle.
func readWhole(fsys filesystem.FileSystem, name string, size int64) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, size+1)
	n, err := f.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if int64(n) != size {
		return nil, fmt.Errorf("%s: read %d bytes, its directory entry says %d", name, n, size)
	}
	if m, err := f.Read(buf); m != 0 || !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %d more bytes (%v) after its %d bytes", name, m, err, size)
	}
	return buf[:n], nil
}

func readISO(img []byte) (map[string][]byte, string, error) {
	fsys, err := iso9660.Read(memDisk{bytes.NewReader(img)}, int64(len(img)), 0, 2048)
	if err != nil {
		return nil, "", err
	}
	files, err := readBack(fsys)
	return files, fsys.Label(), err
}

func readFAT(img []byte) (map[string][]byte, string, error) {
	fsys, err := fat12.Read(memDisk{bytes.NewReader(img)}, int64(len(img)), 0, 0)
	if err != nil {
		return nil, "", err
	}
	files, err := readBack(fsys)
	return files, fsys.Label(), err
}

// fuzzConfig builds a Config from fuzzed fields; networkData is used only
// when given is true (nil and empty differ for Files).
func fuzzConfig(uuid, host, key, metaKey, metaVal, mac string, userData, networkData []byte, given bool) Config {
	c := Config{UUID: uuid, Hostname: host, UserData: userData}
	if key != "" {
		c.PublicKeys = []string{key, "ssh-ed25519 AAAA second"}
	}
	if metaKey != "" {
		c.Meta = map[string]string{metaKey: metaVal, "dsmode": "local"}
	}
	if mac != "" {
		c.MACs = []string{mac}
	}
	if given {
		c.NetworkData = append([]byte{}, networkData...)
	}
	return c
}

func addSeeds(f *testing.F) {
	f.Add("6f1c9a52-4b1e-4f43-9a57-0d2c1a7f3e10", "", "", "", "", "", []byte(nil), []byte(nil), false)
	f.Add("0b7e2a3c", "web1.example.net", "ssh-rsa AAAAB3NzaC1yc2E bob", "role", "web", "52:54:00:12:34:56",
		[]byte("#cloud-config\npackages: [nginx]\n"), []byte(nil), false)
	f.Add("c0ffee00", "db1", "", "", "", "52:54:00:00:00:99", []byte("#!/bin/sh\necho hi\n"),
		[]byte(`{"links":[],"networks":[],"services":[]}`), true)
	f.Add("", "h", "k", "m", "v", "x", []byte{0}, []byte("{"), true)
	// meta_data.json of 600 bytes: past one 512-byte read, inside one
	// 4096-byte cluster (go-diskfs's ReadFile returned 768 bytes for it).
	f.Add("u", "h", "", "m", strings.Repeat("a", 475), "", []byte(nil), []byte(nil), false)
	f.Add("\xff\"\n</", "a\x00b\u2028", "\xc3", "\\", "\x7f", "\"}", bytes.Repeat([]byte{0xff}, 5000), []byte("null"), true)
}

// FuzzFiles: Files fails only without a UUID or with network data that is
// not JSON; otherwise meta_data.json parses back to the fields given (with
// invalid UTF-8 replaced, as JSON must), user data and given network data
// are copied as they are, and "latest" and the dated version are the same.
func FuzzFiles(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, uuid, host, key, metaKey, metaVal, mac string, userData, networkData []byte, given bool) {
		c := fuzzConfig(uuid, host, key, metaKey, metaVal, mac, userData, networkData, given)
		files, err := Files(c)
		wantErr := uuid == "" || (given && !json.Valid(networkData))
		if (err != nil) != wantErr {
			t.Fatalf("Files(%+v) error = %v, want error: %v", c, err, wantErr)
		}
		if err != nil {
			return
		}
		for _, name := range []string{"meta_data.json", "vendor_data.json", "user_data", "network_data.json"} {
			a, b := files["openstack/latest/"+name], files["openstack/"+Version+"/"+name]
			if !bytes.Equal(a, b) {
				t.Fatalf("%s differs between latest and %s", name, Version)
			}
		}
		var md metaData
		if err := json.Unmarshal(files["openstack/latest/meta_data.json"], &md); err != nil {
			t.Fatalf("meta_data.json does not parse: %v", err)
		}
		j := func(s string) string { return string([]rune(s)) } // JSON's view of s
		want := metaData{UUID: j(uuid), Name: j(host), Hostname: j(host)}
		if host == "" {
			want.Name = j(uuid)
		}
		if key != "" {
			want.PublicKeys = map[string]string{"0": j(key), "1": c.PublicKeys[1]}
		}
		if metaKey != "" {
			want.Meta = map[string]string{}
			for k, v := range c.Meta {
				want.Meta[j(k)] = j(v)
			}
		}
		if diff := cmp.Diff(want, md); diff != "" {
			t.Fatalf("meta_data.json (-want +got):\n%s", diff)
		}
		if ud, ok := files["openstack/latest/user_data"]; ok != (len(userData) > 0) || !bytes.Equal(ud, userData) {
			t.Fatalf("user_data = %q (present %v), want %q", ud, ok, userData)
		}
		nd, ok := files["openstack/latest/network_data.json"]
		switch {
		case given && !bytes.Equal(nd, networkData):
			t.Fatalf("network_data.json = %q, want the given %q", nd, networkData)
		case !given && mac == "" && ok:
			t.Fatalf("network_data.json written without MACs: %q", nd)
		case !given && mac != "":
			var got struct{ Links []link }
			if err := json.Unmarshal(nd, &got); err != nil || len(got.Links) != 1 || got.Links[0].MAC != j(mac) {
				t.Fatalf("generated network_data.json %q (%v), want one link with MAC %q", nd, err, mac)
			}
		}
	})
}

// FuzzImage: for every supported sector size the drive renders without
// panicking, deterministically, and go-diskfs reads back label config-2
// and exactly the files of Files; unsupported sizes are errors.
func FuzzImage(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, uuid, host, key, metaKey, metaVal, mac string, userData, networkData []byte, given bool) {
		if len(userData)+len(networkData) > 256<<10 {
			t.Skip("keep each run fast; large user data is covered by TestISO and TestVFAT")
		}
		c := fuzzConfig(uuid, host, key, metaKey, metaVal, mac, userData, networkData, given)
		want, ferr := Files(c)
		for _, ss := range []int{512, 2048, 4096} {
			img, typ, err := Image(c, ss)
			if (err != nil) != (ferr != nil) {
				t.Fatalf("Image(%d) error = %v, Files error = %v", ss, err, ferr)
			}
			if err != nil {
				continue
			}
			if again, _, _ := Image(c, ss); !bytes.Equal(img, again) {
				t.Fatalf("Image(%d) is not deterministic", ss)
			}
			read := readISO
			if typ == TypeVFAT {
				read = readFAT
			}
			got, label, err := read(img)
			if err != nil {
				t.Fatalf("Image(%d) %s does not read back: %v", ss, typ, err)
			}
			if strings.TrimSpace(label) != Label {
				t.Errorf("Image(%d) %s label = %q, want %q", ss, typ, label, Label)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("Image(%d) %s files (-want +got):\n%s", ss, typ, diff)
			}
		}
		// vfat with 512-byte sectors is not what Image picks, but the
		// writer supports it and TestVFAT checks it with fsck.fat.
		if ferr == nil {
			img, err := vfat(c, 512)
			if err != nil {
				t.Fatalf("vfat(512) = %v", err)
			}
			if got, _, err := readFAT(img); err != nil || !cmp.Equal(want, got) {
				t.Fatalf("vfat(512) reads back %d files (%v), want %d", len(got), err, len(want))
			}
		}
		if _, _, err := Image(c, 1000); err == nil {
			t.Fatalf("Image(1000) = nil error, want unsupported sector size")
		}
	})
}
