//go:build !linux

package kernels

// q8Mem owns an allocation shared by Q8 matrices (here always Go heap
// memory).
type q8Mem struct{}

// q8Alloc returns n zero bytes, 64-byte aligned, from the Go heap.
func q8Alloc(n int) ([]byte, *q8Mem) { return q8HeapAlloc(n) }
