package store

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockHolder returns the PID of the process holding a lock on the file at
// path, read from /proc/locks (device major:minor and inode identify the
// file), or 0 when none is found.
func lockHolder(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	return findLockHolder(bufio.NewScanner(f), uint64(st.Dev), st.Ino)
}

// findLockHolder scans /proc/locks lines such as
//
//	1: FLOCK  ADVISORY  WRITE 1234 fe:01:5678 0 EOF
//
// for a lock on the file (dev, ino) and returns its PID.
func findLockHolder(sc *bufio.Scanner, dev, ino uint64) int {
	want := fmt.Sprintf("%02x:%02x:%d", major(dev), minor(dev), ino)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 6 && f[1] == "->" { // a waiter: "2: -> FLOCK …"
			continue
		}
		if len(f) < 6 || f[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
}

func major(dev uint64) uint64 { return ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xfffff000) }
func minor(dev uint64) uint64 { return (dev & 0xff) | ((dev >> 12) & 0xffffff00) }
