package inflate

import (
	"bytes"
	"io"
	"testing"

	kflate "github.com/klauspost/compress/flate"
)

// clusters is 16 MiB of sample data compressed as 64 KiB clusters.
func clusters(b *testing.B) (raw [][]byte, z [][]byte) {
	data := sample(16<<20, 7)
	for i := 0; i < len(data); i += 64 << 10 {
		c := data[i : i+64<<10]
		raw = append(raw, c)
		z = append(z, deflate(b, c, 6))
	}
	return raw, z
}

// BenchmarkClusters: this package against klauspost/compress/flate (the
// decoder it replaces for qcow2 clusters), reset per cluster.
func BenchmarkClusters(b *testing.B) {
	raw, z := clusters(b)
	dst := make([]byte, 64<<10)
	b.Run("inflate", func(b *testing.B) {
		var d Decoder
		b.SetBytes(16 << 20)
		for b.Loop() {
			for i := range z {
				if err := d.Decode(dst, z[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		if !bytes.Equal(dst, raw[len(raw)-1]) {
			b.Fatal("wrong output")
		}
	})
	b.Run("klauspost", func(b *testing.B) {
		var rd bytes.Reader
		fl := kflate.NewReader(&rd)
		b.SetBytes(16 << 20)
		for b.Loop() {
			for i := range z {
				rd.Reset(z[i])
				fl.(kflate.Resetter).Reset(&rd, nil)
				if _, err := io.ReadFull(fl, dst); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
