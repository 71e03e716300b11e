package main

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"math/rand/v2"
	"time"
)

// hashCost reports each checksum type's speed on this CPU and, for sha256,
// the share of a dense raw install it accounts for (byoi hashes in the
// download path, so this is the time hashing adds to an install).
func hashCost(rep *report, installSeconds float64, size int64) {
	buf := make([]byte, 64*mib)
	rng := rand.New(rand.NewChaCha8([32]byte{'h'}))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for _, h := range []struct {
		name string
		fn   func() hash.Hash
	}{{"md5", md5.New}, {"sha1", sha1.New}, {"sha256", sha256.New}, {"sha512", sha512.New}} {
		hh := h.fn()
		t0 := time.Now()
		for range 4 {
			hh.Write(buf)
		}
		mibps := float64(4*len(buf)) / mib / time.Since(t0).Seconds()
		row := Row{Part: "P2", Case: "hash " + h.name + " speed", Metric: "MiB/s", Byoi: mibps}
		if h.name == "sha256" && installSeconds > 0 {
			share := float64(size) / mib / mibps / installSeconds
			row.Extra = map[string]float64{"shareOfDenseInstall": share}
			row.Note = fmt.Sprintf("hashing %s is %.0f%% of the dense raw install time (%.2f s)", sizeName(size), 100*share, installSeconds)
		}
		rep.add(row)
	}
}
