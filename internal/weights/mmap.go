//go:build unix

package weights

import (
	"fmt"
	"math"
	"os"
	"syscall"
)

// mapFile returns the whole content of the file at path, memory-mapped
// read-only (PROT_READ, MAP_SHARED). mapped reports whether b is a mapping
// that unmapFile must release; an empty file, or a file system that refuses
// mmap, falls back to an ordinary read (mapped false).
func mapFile(path string) (b []byte, mapped bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("weights: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("weights: %s: not a regular file", path)
	}
	size := fi.Size()
	if size == 0 {
		return []byte{}, false, nil
	}
	if size < 0 || uint64(size) > math.MaxInt {
		return nil, false, fmt.Errorf("weights: %s: file of %d bytes is too large to map", path, size)
	}
	b, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Some file systems (e.g. certain FUSE or network mounts) cannot
		// be mapped: read the file instead.
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, false, fmt.Errorf("weights: %s: mmap failed (%v) and so did reading: %w", path, err, rerr)
		}
		return b, false, nil
	}
	return b, true, nil
}

// unmapFile releases a mapping made by mapFile.
func unmapFile(b []byte) error {
	return syscall.Munmap(b)
}
