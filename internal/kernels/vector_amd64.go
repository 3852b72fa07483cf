//go:build amd64 && !purego

package kernels

// Declarations of the vector kernels of vector.go and nn.go written by
// asmgen.go (see kernels_amd64.s), and their dispatch.

//go:noescape
func toF16AVX512(dst *uint16, src *float32, n int)

//go:noescape
func toF16AVX2(dst *uint16, src *float32, n int)

//go:noescape
func ropeAVX512(x1, x2, cos, sin *float32, n int)

//go:noescape
func ropeAVX2(x1, x2, cos, sin *float32, n int)

//go:noescape
func siluMulAVX512(gp, up *float32, n int)

//go:noescape
func siluMulAVX2(gp, up *float32, n int)

//go:noescape
func scaleMaxAVX512(x *float32, n int, scale float32) float32

//go:noescape
func scaleMaxAVX2(x *float32, n int, scale float32) float32

//go:noescape
func expSubSumAVX512(x *float32, n int, mx float32) float64

//go:noescape
func expSubSumAVX2(x *float32, n int, mx float32) float64

//go:noescape
func scaleAVX512(x *float32, n int, s float32)

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

//go:noescape
func softmaxColsAVX512(x *float32, rows, ld int, scale float32)

//go:noescape
func softmaxColsAVX2(x *float32, rows, ld int, scale float32)

//go:noescape
func nn1x1AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x2AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x3AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x4AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn2x1AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn2x2AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn2x3AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn2x4AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn3x1AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn3x2AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn3x3AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn3x4AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn4x1AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn4x2AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn4x3AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn4x4AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn5x1AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn5x2AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn5x3AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn5x4AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn6x1AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn6x2AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn6x3AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn6x4AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x1AVX512F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x2AVX512F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x3AVX512F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x4AVX512F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x1AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x2AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn2x1AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn2x2AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn3x1AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn3x2AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn4x1AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn4x2AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x1AVX2F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x2AVX2F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x5AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x6AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x7AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x8AVX512F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x5AVX512F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x6AVX512F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x7AVX512F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x8AVX512F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x3AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x4AVX2F32(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x3AVX2F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

//go:noescape
func nn1x4AVX2F16(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

// nnFunc is the signature of the NN register tiles.
type nnFunc func(a *float32, ais, aps int, b *float32, ldb, k int, c *float32, ldc, acc int)

// nnFuncH is nnFunc with a binary16 B.
type nnFuncH func(a *float32, ais, aps int, b *uint16, ldb, k int, c *float32, ldc, acc int)

// The NN tiles indexed [mr−1][nv−1] (one-row tiles [nv−1]: a row of A
// against up to 8 vectors, a whole head of values when decoding).
var (
	nnAVX512F32 = [6][4]nnFunc{
		{nn1x1AVX512F32, nn1x2AVX512F32, nn1x3AVX512F32, nn1x4AVX512F32},
		{nn2x1AVX512F32, nn2x2AVX512F32, nn2x3AVX512F32, nn2x4AVX512F32},
		{nn3x1AVX512F32, nn3x2AVX512F32, nn3x3AVX512F32, nn3x4AVX512F32},
		{nn4x1AVX512F32, nn4x2AVX512F32, nn4x3AVX512F32, nn4x4AVX512F32},
		{nn5x1AVX512F32, nn5x2AVX512F32, nn5x3AVX512F32, nn5x4AVX512F32},
		{nn6x1AVX512F32, nn6x2AVX512F32, nn6x3AVX512F32, nn6x4AVX512F32},
	}
	nn1AVX512F32 = [8]nnFunc{nn1x1AVX512F32, nn1x2AVX512F32, nn1x3AVX512F32, nn1x4AVX512F32, nn1x5AVX512F32, nn1x6AVX512F32, nn1x7AVX512F32, nn1x8AVX512F32}
	nn1AVX512F16 = [8]nnFuncH{nn1x1AVX512F16, nn1x2AVX512F16, nn1x3AVX512F16, nn1x4AVX512F16, nn1x5AVX512F16, nn1x6AVX512F16, nn1x7AVX512F16, nn1x8AVX512F16}
	nnAVX2F32    = [4][2]nnFunc{
		{nn1x1AVX2F32, nn1x2AVX2F32},
		{nn2x1AVX2F32, nn2x2AVX2F32},
		{nn3x1AVX2F32, nn3x2AVX2F32},
		{nn4x1AVX2F32, nn4x2AVX2F32},
	}
	nn1AVX2F32 = [4]nnFunc{nn1x1AVX2F32, nn1x2AVX2F32, nn1x3AVX2F32, nn1x4AVX2F32}
	nn1AVX2F16 = [4]nnFuncH{nn1x1AVX2F16, nn1x2AVX2F16, nn1x3AVX2F16, nn1x4AVX2F16}
)

// vecWidth is the float32 lanes of the active vector kernels (0: pure Go).
func vecWidth() int {
	switch activeISA {
	case isaAVX512:
		return 16
	case isaAVX2:
		return 8
	}
	return 0
}

// The vector kernels below take lengths that are positive multiples of
// vecWidth(), and are called only when it is not 0.

func toF16Vec(dst []uint16, src []float32) {
	if activeISA == isaAVX512 {
		toF16AVX512(&dst[0], &src[0], len(src))
	} else {
		toF16AVX2(&dst[0], &src[0], len(src))
	}
}

func ropeVec(x1, x2, cos, sin []float32) {
	if activeISA == isaAVX512 {
		ropeAVX512(&x1[0], &x2[0], &cos[0], &sin[0], len(x1))
	} else {
		ropeAVX2(&x1[0], &x2[0], &cos[0], &sin[0], len(x1))
	}
}

func siluMulVec(g, u []float32) {
	if activeISA == isaAVX512 {
		siluMulAVX512(&g[0], &u[0], len(g))
	} else {
		siluMulAVX2(&g[0], &u[0], len(g))
	}
}

func scaleMaxVec(x []float32, s float32) float32 {
	if activeISA == isaAVX512 {
		return scaleMaxAVX512(&x[0], len(x), s)
	}
	return scaleMaxAVX2(&x[0], len(x), s)
}

func expSubSumVec(x []float32, mx float32) float64 {
	if activeISA == isaAVX512 {
		return expSubSumAVX512(&x[0], len(x), mx)
	}
	return expSubSumAVX2(&x[0], len(x), mx)
}

func scaleVec(x []float32, s float32) {
	if activeISA == isaAVX512 {
		scaleAVX512(&x[0], len(x), s)
	} else {
		scaleAVX2(&x[0], len(x), s)
	}
}

// softmaxColsVec runs the column softmax on the vecWidth() columns at
// x[0] of a [rows × ld] matrix (rows ≥ 1).
func softmaxColsVec(x []float32, rows, ld int, s float32) {
	if activeISA == isaAVX512 {
		softmaxColsAVX512(&x[0], rows, ld, s)
	} else {
		softmaxColsAVX2(&x[0], rows, ld, s)
	}
}

// nnTile returns the tile shape (rows, vectors) and width of the active
// NN kernels for a product of m rows with a float32 (h false) or binary16
// B: one row is read against twice as many vectors, and a binary16 B has
// one-row tiles only.
func nnTile(h bool, m int) (mr, nv, w int) {
	switch {
	case activeISA == isaAVX512 && (h || m == 1):
		return 1, 8, 16
	case activeISA == isaAVX512:
		return 6, 4, 16
	case activeISA == isaAVX2 && (h || m == 1):
		return 1, 4, 8
	case activeISA == isaAVX2:
		return 4, 2, 8
	}
	return 0, 0, 0
}

// nnRun runs the NN tile of mr rows and nv vectors (within nnTile's
// bounds); exactly one of bf and bh is non-nil.
func nnRun(mr, nv int, a *float32, ais, aps int, bf *float32, bh *uint16, ldb, k int, c *float32, ldc, acc int) {
	switch {
	case activeISA == isaAVX512 && bh != nil:
		nn1AVX512F16[nv-1](a, ais, aps, bh, ldb, k, c, ldc, acc)
	case activeISA == isaAVX512 && mr == 1:
		nn1AVX512F32[nv-1](a, ais, aps, bf, ldb, k, c, ldc, acc)
	case activeISA == isaAVX512:
		nnAVX512F32[mr-1][nv-1](a, ais, aps, bf, ldb, k, c, ldc, acc)
	case bh != nil:
		nn1AVX2F16[nv-1](a, ais, aps, bh, ldb, k, c, ldc, acc)
	case mr == 1:
		nn1AVX2F32[nv-1](a, ais, aps, bf, ldb, k, c, ldc, acc)
	default:
		nnAVX2F32[mr-1][nv-1](a, ais, aps, bf, ldb, k, c, ldc, acc)
	}
}
