//go:build amd64 && !purego

package kernels

import "math"

//go:generate go run q8asmgen.go

// hasVNNI reports AVX512_VNNI (CPUID leaf 7, ECX bit 11), needed with the
// AVX-512 path (which has already checked the OS's ZMM state) for the Q8
// kernels' VPDPBUSD.
var hasVNNI = func() bool {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return false
	}
	_, _, ecx7, _ := cpuid(7, 0)
	return ecx7&(1<<11) != 0
}()

//go:noescape
func q8VNNI1x4(a0, w *byte, nt, nb int, c *float32, ldc int)

//go:noescape
func q8VNNI2x4(a0, a1, w *byte, nt, nb int, c *float32, ldc int)

//go:noescape
func q8AVX21x4(a0, w *byte, nt, nb int, c *float32, ldc int)

//go:noescape
func q8QuantActVNNI(dst *byte, x *float32, nb int, tmp *byte)

// q8QuantizeActAsm runs q8QuantizeAct in assembly where it can (the VNNI
// path, rows of whole blocks) and reports whether it did.
func q8QuantizeActAsm(dst []byte, x []float32, k, nb int) bool {
	if k == 0 || k != Q8Block*nb || q8Path() != q8VNNI {
		return false
	}
	_ = dst[q8ActStride(nb)-1]
	_ = x[k-1]
	var tmp [Q8Block * q8Group]byte
	q8QuantActVNNI(&dst[0], &x[0], nb, &tmp[0])
	return true
}

//go:noescape
func q8QuantWVNNI(tile *byte, rr int, x *float32, nb int, tmp *byte) uint32

// q8SetRowAsm runs SetRow's quantisation in assembly where it can (the
// VNNI path, rows of whole blocks) and reports whether it did and whether
// the row fits the format (every |w| ≤ 65504·127, none NaN); when it does
// not, the caller redoes the row in Go for the error.
func q8SetRowAsm(w *Q8Matrix, r int, src []float32) (done bool) {
	if w.cols == 0 || w.cols != Q8Block*w.nb || q8Path() != q8VNNI {
		return false
	}
	tile := w.data[r/4*w.tileBytes : (r/4+1)*w.tileBytes]
	_ = src[w.cols-1]
	var tmp [Q8Block * q8Group]byte
	amax := math.Float32frombits(q8QuantWVNNI(&tile[0], r%4, &src[0], w.nb, &tmp[0]))
	return amax <= q8MaxScale*127
}

// q8Path returns the Q8 kernel path of the active instruction set.
func q8Path() q8Kind {
	switch {
	case activeISA == isaAVX512 && hasVNNI:
		return q8VNNI
	case activeISA >= isaAVX2:
		return q8AVX2
	}
	return q8Generic
}

// q8Tile computes c[i·ldc+j] = Σ a_i·w_j for the mr quantised activation
// rows a and the 4·nt weight rows of the nt consecutive tiles at the start
// of w (nb blocks each).
func q8Tile(path q8Kind, mr int, a *[2][]byte, w []byte, nt, nb int, c []float32, ldc int) {
	_ = c[(mr-1)*ldc+4*nt-1]
	_ = w[nt*q8TileBytes(nb)-1]
	switch {
	case path == q8VNNI && mr == 2:
		q8VNNI2x4(&a[0][0], &a[1][0], &w[0], nt, nb, &c[0], ldc)
	case path == q8VNNI:
		q8VNNI1x4(&a[0][0], &w[0], nt, nb, &c[0], ldc)
	case path == q8AVX2:
		for i := 0; i < mr; i++ {
			q8AVX21x4(&a[i][0], &w[0], nt, nb, &c[i*ldc], ldc)
		}
	default:
		q8TileGeneric(mr, a, w, nt, nb, c, ldc)
	}
}
