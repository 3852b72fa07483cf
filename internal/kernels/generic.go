package kernels

import (
	"unsafe"

	"github.com/lvm-go/lvm/internal/half"
)

// genericTile is the pure-Go micro-kernel: the mr×nr tile (1×4 or 2×4) of
// float32 dot products over k, written to c with row stride ldc (added to
// c when acc). B is always float32 here: the driver converts 16-bit B
// first on this path.
func genericTile(mr int, r *tileRows, k int, c *float32, ldc int, acc bool) {
	a0 := unsafe.Slice(r.a[0], k)
	b0 := unsafe.Slice(r.bf[0], k)
	b1 := unsafe.Slice(r.bf[1], k)
	b2 := unsafe.Slice(r.bf[2], k)
	b3 := unsafe.Slice(r.bf[3], k)
	var s [8]float32
	if mr == 1 {
		var s0, s1, s2, s3 float32
		for p, x := range a0 {
			s0 += x * b0[p]
			s1 += x * b1[p]
			s2 += x * b2[p]
			s3 += x * b3[p]
		}
		s[0], s[1], s[2], s[3] = s0, s1, s2, s3
	} else {
		a1 := unsafe.Slice(r.a[1], k)
		var s0, s1, s2, s3, t0, t1, t2, t3 float32
		for p, x := range a0 {
			y := a1[p]
			v0, v1, v2, v3 := b0[p], b1[p], b2[p], b3[p]
			s0 += x * v0
			s1 += x * v1
			s2 += x * v2
			s3 += x * v3
			t0 += y * v0
			t1 += y * v1
			t2 += y * v2
			t3 += y * v3
		}
		s = [8]float32{s0, s1, s2, s3, t0, t1, t2, t3}
	}
	out := unsafe.Slice(c, (mr-1)*ldc+4)
	for i := 0; i < mr; i++ {
		row := out[i*ldc : i*ldc+4]
		if acc {
			for j := range row {
				row[j] += s[i*4+j]
			}
		} else {
			copy(row, s[i*4:i*4+4])
		}
	}
}

// convertRowGeneric converts 16-bit values of the given kind to float32.
func convertRowGeneric(kind bKind, dst []float32, src []uint16) {
	if kind == bF16 {
		half.F16sToF32s(dst, src)
	} else {
		half.BF16sToF32s(dst, src)
	}
}

// dotGeneric is Dot in pure Go: four float32 partial sums.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyGeneric is Axpy in pure Go.
func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
