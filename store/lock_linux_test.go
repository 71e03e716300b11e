package store_test

import (
	"bufio"
	"strings"
	"testing"

	"github.com/byoi/byoi/store"
	"github.com/google/go-cmp/cmp"
)

func TestFindLockHolder(t *testing.T) {
	const locks = `1: POSIX  ADVISORY  WRITE 900 fe:01:77 0 EOF
2: FLOCK  ADVISORY  WRITE 1234 fe:01:5678 0 EOF
2: -> FLOCK  ADVISORY  WRITE 4321 fe:01:5678 0 EOF
3: FLOCK  ADVISORY  WRITE 55 08:02:5678 0 EOF
`
	for _, tc := range []struct {
		name     string
		dev, ino uint64
		want     int
	}{
		{"holder", 0xfe01, 5678, 1234},
		{"other device", 0x0802, 5678, 55},
		{"posix lock", 0xfe01, 77, 900},
		{"none", 0xfe01, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := store.FindLockHolder(bufio.NewScanner(strings.NewReader(locks)), tc.dev, tc.ino)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findLockHolder(%x, %d) = %d, want %d", tc.dev, tc.ino, got, tc.want)
			}
		})
	}
}
