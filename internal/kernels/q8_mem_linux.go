//go:build linux

package kernels

import (
	"runtime"
	"syscall"
	"unsafe"
)

// q8HugeMin is the smallest allocation put in transparent huge pages.
const q8HugeMin = 4 << 20

// q8HugePage is the size of an x86-64 and arm64 (4 KiB granule) huge page.
const q8HugePage = 2 << 20

// q8Mem owns an allocation shared by Q8 matrices; memory mapped outside
// the Go heap is unmapped once no matrix refers to its q8Mem.
type q8Mem struct {
	mapped []byte // the whole mapping, nil for heap memory
}

// q8Alloc returns n zero bytes, 64-byte aligned. Allocations of at least
// 4 MiB are mapped on their own, 2 MiB aligned and advised as huge pages
// (MADV_HUGEPAGE): a matrix-vector product streams its matrix once per
// call, and 2 MiB pages spare it the TLB misses and the prefetch restarts
// at every 4 KiB page (a plain read measured 16.5 → 24 GB/s per core on
// the project's Zen 4 machine). Where that fails, or is not wanted, the
// Go heap is used.
func q8Alloc(n int) ([]byte, *q8Mem) {
	if n < q8HugeMin {
		return q8HeapAlloc(n)
	}
	size := roundUp(n, q8HugePage)
	m, err := syscall.Mmap(-1, 0, size+q8HugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return q8HeapAlloc(n)
	}
	off := int(-uintptr(unsafe.Pointer(&m[0])) & (q8HugePage - 1))
	_ = syscall.Madvise(m[off:off+size], syscall.MADV_HUGEPAGE) // advice only
	mem := &q8Mem{mapped: m}
	runtime.AddCleanup(mem, func(m []byte) { syscall.Munmap(m) }, m)
	return m[off : off+n : off+n], mem
}
