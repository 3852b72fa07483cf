package kernels

import (
	"fmt"

	"github.com/lvm-go/lvm/internal/half"
)

// MatMulNN sets, for i < m and j < n,
//
//	c[i·ldc + j] = Σ_{p<k} a[i·ais + p·aps] · b[p·ldb + j]
//
// adding to c instead when acc is set. B is row-major along j with row
// stride ldb (a key-value cache, a packed block of queries); A has
// arbitrary strides, so it may be read transposed (ais = 1, aps = its row
// length). It is the product of the attention kernels and runs on the
// calling goroutine, with outer-product register tiles (6 rows × 64
// columns with AVX-512, 4 × 16 with AVX2; one row × 128 or 32 columns
// when m is 1) in which every output is a float32 sum over p in order, one
// fused multiply-add per term, so an output does not depend on m; columns
// past the last whole vector are summed in Go.
//
// It panics if a slice is too short for the shapes and strides.
func MatMulNN(c []float32, ldc int, a []float32, ais, aps int, b []float32, ldb int, m, n, k int, acc bool) {
	checkNN("MatMulNN", len(c), ldc, len(a), ais, aps, len(b), ldb, m, n, k)
	matmulNN(c, ldc, a, ais, aps, b, nil, ldb, m, n, k, acc)
}

// MatMulNNF16 is MatMulNN with b stored as IEEE binary16 bits (a
// half-precision cache), converted exactly as it is read.
func MatMulNNF16(c []float32, ldc int, a []float32, ais, aps int, b []uint16, ldb int, m, n, k int, acc bool) {
	checkNN("MatMulNNF16", len(c), ldc, len(a), ais, aps, len(b), ldb, m, n, k)
	matmulNN(c, ldc, a, ais, aps, nil, b, ldb, m, n, k, acc)
}

func checkNN(fn string, lc, ldc, la, ais, aps, lb, ldb, m, n, k int) {
	if m < 0 || n < 0 || k < 0 || ais < 0 || aps < 0 || ldb < 0 || ldc < 0 {
		panic(fmt.Sprintf("kernels.%s: negative shape or stride m=%d n=%d k=%d ais=%d aps=%d ldb=%d ldc=%d", fn, m, n, k, ais, aps, ldb, ldc))
	}
	if m == 0 || n == 0 {
		return
	}
	if n > ldc || lc < (m-1)*ldc+n {
		panic(fmt.Sprintf("kernels.%s: len(c) = %d too short for %d×%d with stride %d", fn, lc, m, n, ldc))
	}
	if k == 0 {
		return
	}
	if la <= (m-1)*ais+(k-1)*aps {
		panic(fmt.Sprintf("kernels.%s: len(a) = %d too short for %d×%d with strides %d, %d", fn, la, m, k, ais, aps))
	}
	if n > ldb && k > 1 || lb < (k-1)*ldb+n {
		panic(fmt.Sprintf("kernels.%s: len(b) = %d too short for %d×%d with stride %d", fn, lb, k, n, ldb))
	}
}

// matmulNN is MatMulNN's driver; exactly one of bf and bh is non-nil.
func matmulNN(c []float32, ldc int, a []float32, ais, aps int, bf []float32, bh []uint16, ldb int, m, n, k int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !acc {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	j := 0
	if mr, nv, w := nnTile(bh != nil, m); w > 0 {
		ac := 0
		if acc {
			ac = 1
		}
		for ; j+w <= n; j += nv * w {
			v := min(nv, (n-j)/w)
			for i := 0; i < m; i += mr {
				r := min(mr, m-i)
				if bh != nil {
					nnRun(r, v, &a[i*ais], ais, aps, nil, &bh[j], ldb, k, &c[i*ldc+j], ldc, ac)
				} else {
					nnRun(r, v, &a[i*ais], ais, aps, &bf[j], nil, ldb, k, &c[i*ldc+j], ldc, ac)
				}
			}
			if v < nv {
				j += v * w
				break
			}
		}
	}
	if j < n {
		refNN(c[j:], ldc, a, ais, aps, bf, bh, ldb, m, n-j, k, acc, j)
	}
}

// refNN computes columns off…off+n−1 of the product into c (whose column
// 0 is column off) as float32 sums in order.
func refNN(c []float32, ldc int, a []float32, ais, aps int, bf []float32, bh []uint16, ldb int, m, n, k int, acc bool, off int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var bv float32
				if bh != nil {
					bv = half.F16ToF32(bh[p*ldb+off+j])
				} else {
					bv = bf[p*ldb+off+j]
				}
				s += a[i*ais+p*aps] * bv
			}
			if acc {
				c[i*ldc+j] += s
			} else {
				c[i*ldc+j] = s
			}
		}
	}
}

// RefMatMulNN is the reference for MatMulNN: float64 sums.
func RefMatMulNN(c []float32, ldc int, a []float32, ais, aps int, b []float32, ldb int, m, n, k int, acc bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a[i*ais+p*aps]) * float64(b[p*ldb+j])
			}
			if acc {
				c[i*ldc+j] = float32(float64(c[i*ldc+j]) + s)
			} else {
				c[i*ldc+j] = float32(s)
			}
		}
	}
}

// MatMulNTSerial is MatMulNT computed on the calling goroutine only (for
// callers that split work themselves); results are identical to
// MatMulNT's.
func MatMulNTSerial(c, a, b []float32, m, n, k int) {
	checkShapes("MatMulNTSerial", len(c), len(a), len(b), m, n, k)
	matmulSerial(c, a, b, nil, bF32, m, n, k)
}

// MatMulNTF16Serial is MatMulNTF16 computed on the calling goroutine.
func MatMulNTF16Serial(c, a []float32, b []uint16, m, n, k int) {
	checkShapes("MatMulNTF16Serial", len(c), len(a), len(b), m, n, k)
	matmulSerial(c, a, nil, b, bF16, m, n, k)
}

// matmulSerial runs matmul's plan for one participant, on the caller.
func matmulSerial(c, a, bf []float32, bh []uint16, kind bKind, m, n, k int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c[:m*n])
		return
	}
	g := jobPool.Get().(*gemmJob)
	g.c, g.a, g.bf, g.bh, g.kind = c, a, bf, bh, kind
	g.m, g.n, g.k = m, n, k
	g.isa = activeISA
	g.plan(1)
	g.next.Store(0)
	g.run(0)
	g.c, g.a, g.bf, g.bh = nil, nil, nil, nil
	jobPool.Put(g)
}
