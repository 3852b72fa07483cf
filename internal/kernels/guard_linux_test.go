//go:build linux

package kernels

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns a slice of n elements of T that ends exactly at an
// inaccessible page, so that a kernel reading one element too far faults.
func guarded[T float32 | uint16](t *testing.T, n int) []T {
	t.Helper()
	page := syscall.Getpagesize()
	var zero T
	size := int(unsafe.Sizeof(zero))
	bytes := (n*size + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, bytes+page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[bytes:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	end := unsafe.Pointer(&mem[bytes-1])
	start := unsafe.Add(end, 1-n*size)
	return unsafe.Slice((*T)(start), n)
}

// TestNoReadPastEnd puts every operand against a guard page: the masked
// and scalar tails must not touch a single element past the last one.
func TestNoReadPastEnd(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, isa := range paths() {
		withISA(isa, func() {
			for _, s := range []struct{ m, n, k int }{
				{1, 1, 1}, {1, 9, 7}, {1, 8, 17}, {3, 7, 13}, {5, 7, 31}, {4, 6, 16}, {9, 13, 1027}, {20, 30, 5},
			} {
				t.Run(fmt.Sprintf("%v/%dx%dx%d", isa, s.m, s.n, s.k), func(t *testing.T) {
					o := newOperands(rng, s.m, s.n, s.k)
					a := guarded[float32](t, len(o.a))
					copy(a, o.a)
					b := guarded[float32](t, len(o.bF32))
					copy(b, o.bF32)
					h := guarded[uint16](t, len(o.bF16))
					copy(h, o.bF16)
					c := guarded[float32](t, s.m*s.n)
					MatMulNT(c, a, b, s.m, s.n, s.k)
					if e := maxRelErr(c, o.a, o.bF32, s.m, s.n, s.k); e > relTol {
						t.Fatalf("f32: relative error %.3g", e)
					}
					MatMulNTF16(c, a, h, s.m, s.n, s.k)
					if e := maxRelErr(c, o.a, o.bF16f, s.m, s.n, s.k); e > relTol {
						t.Fatalf("f16: relative error %.3g", e)
					}
					copy(h, o.bBF16)
					MatMulNTBF16(c, a, h, s.m, s.n, s.k)
					if e := maxRelErr(c, o.a, o.bBF16f, s.m, s.n, s.k); e > relTol {
						t.Fatalf("bf16: relative error %.3g", e)
					}
					_ = Dot(a, b[len(b)-len(a):])
					n := min(len(a), len(c))
					Axpy(0.5, a[len(a)-n:], c[len(c)-n:])
					dst := guarded[float32](t, len(h))
					convertRow(bF16, dst, h)
					convertRow(bBF16, dst, h)
				})
			}
		})
	}
}
