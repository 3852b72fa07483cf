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

// TestVectorNoReadPastEnd puts the operands of the attention and
// elementwise kernels against a guard page, on every path: NN products
// (plain and transposed A, float32 and binary16 B, ragged columns),
// Softmax, SoftmaxColumns, SiLUMul, Rope and the binary16 conversions.
func TestVectorNoReadPastEnd(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for _, isa := range paths() {
		withISA(isa, func() {
			for _, s := range []struct{ m, n, k int }{{1, 16, 3}, {1, 128, 37}, {6, 64, 128}, {7, 100, 9}, {13, 17, 5}, {1, 5, 1}} {
				o := newNN(rng, s.m, s.n, s.k, s.m%2 == 1)
				a := guarded[float32](t, len(o.a))
				copy(a, o.a)
				b := guarded[float32](t, len(o.b))
				copy(b, o.b)
				h := guarded[uint16](t, len(o.bh))
				copy(h, o.bh)
				c := guarded[float32](t, (s.m-1)*o.ldc+s.n)
				MatMulNN(c, o.ldc, a, o.ais, o.aps, b, o.ldb, s.m, s.n, s.k, false)
				MatMulNNF16(c, o.ldc, a, o.ais, o.aps, h, o.ldb, s.m, s.n, s.k, true)
			}
			for _, n := range []int{1, 7, 16, 33} {
				x := guarded[float32](t, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				u := guarded[float32](t, n)
				copy(u, x)
				Softmax(x, 0.5)
				SiLUMul(u, x)
				Rope(x[:n/2], x[n/2:], u[:n/2], u[n/2:])
				SoftmaxColumns(u, 1, n, n, 1)
				hh := guarded[uint16](t, n)
				F32sToF16s(hh, x)
				F16sToF32s(x, hh)
			}
			m := guarded[float32](t, 5*24)
			for i := range m {
				m[i] = float32(rng.NormFloat64())
			}
			SoftmaxColumns(m, 5, 24, 24, 0.3)
		})
	}
}
