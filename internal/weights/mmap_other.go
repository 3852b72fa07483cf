//go:build !unix

package weights

import (
	"fmt"
	"os"
)

// mapFile reads the whole file at path; this platform has no syscall.Mmap,
// so the result is never a mapping (mapped is always false).
func mapFile(path string) (b []byte, mapped bool, err error) {
	b, err = os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("weights: %w", err)
	}
	return b, false, nil
}

// unmapFile is never called on this platform: nothing is mapped.
func unmapFile(b []byte) error { return nil }
