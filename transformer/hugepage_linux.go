//go:build linux

package transformer

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of an x86-64 (and arm64 4 KiB granule) huge page.
const hugePage = 2 << 20

// adviseHugePages asks the kernel to back the whole 2 MiB pages inside b
// with transparent huge pages (MADV_HUGEPAGE; advice only, errors are
// ignored). Call it before b is first written. Decoding streams every
// weight once per token: on the project's Zen 4 machine huge pages raised
// the rate at which the 300M model's binary16 weights stream from memory
// from 19 to 24 GB/s on one thread and from 31 to 34.5 GB/s on two (fewer
// TLB misses, and the hardware prefetchers are not stopped every 4 KiB).
func adviseHugePages(b []byte) {
	if len(b) < hugePage {
		return
	}
	lo := int(-uintptr(unsafe.Pointer(&b[0])) & (hugePage - 1))
	n := (len(b) - lo) &^ (hugePage - 1)
	if n > 0 {
		_ = syscall.Madvise(b[lo:lo+n], syscall.MADV_HUGEPAGE)
	}
}
