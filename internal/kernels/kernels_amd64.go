//go:build amd64 && !purego

package kernels

import (
	"unsafe"

	"github.com/lvm-go/lvm/internal/half"
)

//go:generate go run asmgen.go

// cpuid executes CPUID with the given leaf and sub-leaf.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv returns XCR0, the register-state components the OS saves.
func xgetbv() (eax, edx uint32)

// detectISA picks the widest path the CPU and the OS support: AVX-512
// needs AVX512F and AVX512VL and the OS saving opmask and ZMM state (XCR0
// bits 5-7); AVX2 needs AVX2, FMA, F16C and the OS saving YMM state (XCR0
// bits 1-2).
func detectISA() isaKind {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return isaGeneric
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
		f16c    = 1 << 29
	)
	if ecx1&(fma|osxsave|avx|f16c) != fma|osxsave|avx|f16c {
		return isaGeneric
	}
	xcr0, _ := xgetbv()
	if xcr0&6 != 6 {
		return isaGeneric
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const (
		avx2     = 1 << 5
		avx512f  = 1 << 16
		avx512vl = 1 << 31
	)
	if ebx7&avx2 == 0 {
		return isaGeneric
	}
	if ebx7&(avx512f|avx512vl) == avx512f|avx512vl && xcr0&0xe0 == 0xe0 {
		return isaAVX512
	}
	return isaAVX2
}

//go:noescape
func gemm4x6LoopAVX512F32(a *float32, lda int, b *float32, ldb, k int, c *float32, ldc, acc, ntiles int, pf uintptr)

//go:noescape
func gemm4x6LoopAVX512F16(a *float32, lda int, b *uint16, ldb, k int, c *float32, ldc, acc, ntiles int, pf uintptr)

//go:noescape
func gemm4x6LoopAVX512BF16(a *float32, lda int, b *uint16, ldb, k int, c *float32, ldc, acc, ntiles int, pf uintptr)

//go:noescape
func gemm1x8LoopAVX512F32(a *float32, lda int, b *float32, ldb, k int, c *float32, ldc, acc, ntiles int, pf uintptr)

//go:noescape
func gemm1x8LoopAVX512F16(a *float32, lda int, b *uint16, ldb, k int, c *float32, ldc, acc, ntiles int, pf uintptr)

//go:noescape
func gemm1x8LoopAVX512BF16(a *float32, lda int, b *uint16, ldb, k int, c *float32, ldc, acc, ntiles int, pf uintptr)

// runTileLoop runs the register tile of isa (mr rows of A: 1 or the
// ISA's tile) over ntiles consecutive tiles of B and C (see gemmLoopKernel
// in asmgen.go) when the instruction set has such a kernel, returning
// false otherwise. a is the first row of A
// (rows lda apart), b (bf or bh) the first row of B (rows ldb apart).
func runTileLoop(isa isaKind, kind bKind, mr int, a *float32, lda int, bf *float32, bh *uint16, ldb, k int, c *float32, ldc int, acc bool, ntiles int, pf uintptr) bool {
	if isa != isaAVX512 {
		return false
	}
	ac := 0
	if acc {
		ac = 1
	}
	if mr == 1 {
		switch kind {
		case bF32:
			gemm1x8LoopAVX512F32(a, lda, bf, ldb, k, c, ldc, ac, ntiles, pf)
		case bF16:
			gemm1x8LoopAVX512F16(a, lda, bh, ldb, k, c, ldc, ac, ntiles, pf)
		default:
			gemm1x8LoopAVX512BF16(a, lda, bh, ldb, k, c, ldc, ac, ntiles, pf)
		}
		return true
	}
	switch kind {
	case bF32:
		gemm4x6LoopAVX512F32(a, lda, bf, ldb, k, c, ldc, ac, ntiles, pf)
	case bF16:
		gemm4x6LoopAVX512F16(a, lda, bh, ldb, k, c, ldc, ac, ntiles, pf)
	default:
		gemm4x6LoopAVX512BF16(a, lda, bh, ldb, k, c, ldc, ac, ntiles, pf)
	}
	return true
}

//go:noescape
func gemm4x6AVX512F32(a0, a1, a2, a3 *float32, b0, b1, b2, b3, b4, b5 *float32, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm1x8AVX512F32(a0 *float32, b0, b1, b2, b3, b4, b5, b6, b7 *float32, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm3x4AVX2F32(a0, a1, a2 *float32, b0, b1, b2, b3 *float32, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm1x8AVX2F32(a0 *float32, b0, b1, b2, b3, b4, b5, b6, b7 *float32, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm4x6AVX512F16(a0, a1, a2, a3 *float32, b0, b1, b2, b3, b4, b5 *uint16, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm1x8AVX512F16(a0 *float32, b0, b1, b2, b3, b4, b5, b6, b7 *uint16, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm3x4AVX2F16(a0, a1, a2 *float32, b0, b1, b2, b3 *uint16, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm1x8AVX2F16(a0 *float32, b0, b1, b2, b3, b4, b5, b6, b7 *uint16, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm4x6AVX512BF16(a0, a1, a2, a3 *float32, b0, b1, b2, b3, b4, b5 *uint16, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm1x8AVX512BF16(a0 *float32, b0, b1, b2, b3, b4, b5, b6, b7 *uint16, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm3x4AVX2BF16(a0, a1, a2 *float32, b0, b1, b2, b3 *uint16, k int, c *float32, ldc int, acc int, pf uintptr)

//go:noescape
func gemm1x8AVX2BF16(a0 *float32, b0, b1, b2, b3, b4, b5, b6, b7 *uint16, k int, c *float32, ldc int, acc int, pf uintptr)

// runTile runs the micro-kernel of isa for an mr×nr tile (the ISA's
// tileShape) on rows r over k elements, writing C with row stride ldc
// (adding when acc). kind is the element type of the B rows. The kernels
// prefetch from pf on (the rows of B they will read next; an address that
// is only a hint: prefetches never fault).
func runTile(isa isaKind, kind bKind, mr, nr int, r *tileRows, k int, c *float32, ldc int, acc bool, pf uintptr) {
	ac := 0
	if acc {
		ac = 1
	}
	switch isa {
	case isaAVX512:
		if mr == 1 {
			switch kind {
			case bF32:
				gemm1x8AVX512F32(r.a[0], r.bf[0], r.bf[1], r.bf[2], r.bf[3], r.bf[4], r.bf[5], r.bf[6], r.bf[7], k, c, ldc, ac, pf)
			case bF16:
				gemm1x8AVX512F16(r.a[0], r.bh[0], r.bh[1], r.bh[2], r.bh[3], r.bh[4], r.bh[5], r.bh[6], r.bh[7], k, c, ldc, ac, pf)
			default:
				gemm1x8AVX512BF16(r.a[0], r.bh[0], r.bh[1], r.bh[2], r.bh[3], r.bh[4], r.bh[5], r.bh[6], r.bh[7], k, c, ldc, ac, pf)
			}
			return
		}
		switch kind {
		case bF32:
			gemm4x6AVX512F32(r.a[0], r.a[1], r.a[2], r.a[3], r.bf[0], r.bf[1], r.bf[2], r.bf[3], r.bf[4], r.bf[5], k, c, ldc, ac, pf)
		case bF16:
			gemm4x6AVX512F16(r.a[0], r.a[1], r.a[2], r.a[3], r.bh[0], r.bh[1], r.bh[2], r.bh[3], r.bh[4], r.bh[5], k, c, ldc, ac, pf)
		default:
			gemm4x6AVX512BF16(r.a[0], r.a[1], r.a[2], r.a[3], r.bh[0], r.bh[1], r.bh[2], r.bh[3], r.bh[4], r.bh[5], k, c, ldc, ac, pf)
		}
	case isaAVX2:
		if k%8 == 0 {
			kernelAVX2(kind, mr, r, k, c, ldc, ac, pf)
			return
		}
		// The kernel leaves the last k%8 products to tailAVX2; both go to a
		// local tile first so that every output is summed in the same order
		// (kernel, tail, then C) whether its tile is whole or an edge.
		var t [32]float32
		kernelAVX2(kind, mr, r, k, &t[0], nr, 0, pf)
		tailAVX2(kind, mr, nr, r, k&^7, k, &t[0], nr)
		out := unsafe.Slice(c, (mr-1)*ldc+nr)
		for i := 0; i < mr; i++ {
			row, src := out[i*ldc:i*ldc+nr], t[i*nr:i*nr+nr]
			if acc {
				for j := range row {
					row[j] += src[j]
				}
			} else {
				copy(row, src)
			}
		}
	default:
		genericTile(mr, r, k, c, ldc, acc)
	}
}

// kernelAVX2 runs the AVX2 micro-kernel (1×8 or 3×4) over k&^7 elements.
func kernelAVX2(kind bKind, mr int, r *tileRows, k int, c *float32, ldc, ac int, pf uintptr) {
	if mr == 1 {
		switch kind {
		case bF32:
			gemm1x8AVX2F32(r.a[0], r.bf[0], r.bf[1], r.bf[2], r.bf[3], r.bf[4], r.bf[5], r.bf[6], r.bf[7], k, c, ldc, ac, pf)
		case bF16:
			gemm1x8AVX2F16(r.a[0], r.bh[0], r.bh[1], r.bh[2], r.bh[3], r.bh[4], r.bh[5], r.bh[6], r.bh[7], k, c, ldc, ac, pf)
		default:
			gemm1x8AVX2BF16(r.a[0], r.bh[0], r.bh[1], r.bh[2], r.bh[3], r.bh[4], r.bh[5], r.bh[6], r.bh[7], k, c, ldc, ac, pf)
		}
	} else {
		switch kind {
		case bF32:
			gemm3x4AVX2F32(r.a[0], r.a[1], r.a[2], r.bf[0], r.bf[1], r.bf[2], r.bf[3], k, c, ldc, ac, pf)
		case bF16:
			gemm3x4AVX2F16(r.a[0], r.a[1], r.a[2], r.bh[0], r.bh[1], r.bh[2], r.bh[3], k, c, ldc, ac, pf)
		default:
			gemm3x4AVX2BF16(r.a[0], r.a[1], r.a[2], r.bh[0], r.bh[1], r.bh[2], r.bh[3], k, c, ldc, ac, pf)
		}
	}
}

// tailAVX2 adds to the tile the products over [k0, k) that the AVX2
// kernels, which work in whole vectors of 8, leave out.
func tailAVX2(kind bKind, mr, nr int, r *tileRows, k0, k int, c *float32, ldc int) {
	out := unsafe.Slice(c, (mr-1)*ldc+nr)
	for i := 0; i < mr; i++ {
		a := unsafe.Slice(r.a[i], k)[k0:]
		for j := 0; j < nr; j++ {
			var s float32
			switch kind {
			case bF32:
				b := unsafe.Slice(r.bf[j], k)[k0:]
				for p, x := range a {
					s += x * b[p]
				}
			case bF16:
				b := unsafe.Slice(r.bh[j], k)[k0:]
				for p, x := range a {
					s += x * half.F16ToF32(b[p])
				}
			default:
				b := unsafe.Slice(r.bh[j], k)[k0:]
				for p, x := range a {
					s += x * half.BF16ToF32(b[p])
				}
			}
			out[i*ldc+j] += s
		}
	}
}

//go:noescape
func dotAVX512(a, b *float32, n int) float32

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX512(alpha float32, x, y *float32, n int)

//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

//go:noescape
func cvtAVX512F16(dst *float32, src *uint16, n int)

//go:noescape
func cvtAVX512BF16(dst *float32, src *uint16, n int)

//go:noescape
func cvtAVX2F16(dst *float32, src *uint16, n int)

//go:noescape
func cvtAVX2BF16(dst *float32, src *uint16, n int)

// convertRow converts len(src) 16-bit values of the given kind into dst
// (len(dst) ≥ len(src)).
func convertRow(kind bKind, dst []float32, src []uint16) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1]
	switch {
	case activeISA == isaAVX512 && kind == bF16:
		cvtAVX512F16(&dst[0], &src[0], len(src))
	case activeISA == isaAVX512:
		cvtAVX512BF16(&dst[0], &src[0], len(src))
	case activeISA == isaAVX2 && kind == bF16:
		cvtAVX2F16(&dst[0], &src[0], len(src))
	case activeISA == isaAVX2:
		cvtAVX2BF16(&dst[0], &src[0], len(src))
	default:
		convertRowGeneric(kind, dst, src)
	}
}

// dot and axpy take non-empty slices of equal length.
func dot(a, b []float32) float32 {
	switch activeISA {
	case isaAVX512:
		return dotAVX512(&a[0], &b[0], len(a))
	case isaAVX2:
		return dotAVX2(&a[0], &b[0], len(a))
	}
	return dotGeneric(a, b)
}

func axpy(alpha float32, x, y []float32) {
	switch activeISA {
	case isaAVX512:
		axpyAVX512(alpha, &x[0], &y[0], len(x))
	case isaAVX2:
		axpyAVX2(alpha, &x[0], &y[0], len(x))
	default:
		axpyGeneric(alpha, x, y)
	}
}
