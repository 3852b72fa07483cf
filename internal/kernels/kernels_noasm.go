//go:build !amd64 || purego

package kernels

// detectISA: without assembly only the pure-Go path exists.
func detectISA() isaKind { return isaGeneric }

// runTile runs the pure-Go micro-kernel (B is always float32 here).
func runTile(isa isaKind, kind bKind, mr, nr int, r *tileRows, k int, c *float32, ldc int, acc bool, pf uintptr) {
	genericTile(mr, r, k, c, ldc, acc)
}

// convertRow converts len(src) 16-bit values of the given kind into dst.
func convertRow(kind bKind, dst []float32, src []uint16) { convertRowGeneric(kind, dst, src) }

// dot and axpy take non-empty slices of equal length.
func dot(a, b []float32) float32         { return dotGeneric(a, b) }
func axpy(alpha float32, x, y []float32) { axpyGeneric(alpha, x, y) }

// Without assembly there are no vector kernels: vecWidth and nnTile
// report none, so the functions below are never called.
func vecWidth() int { return 0 }

func toF16Vec(dst []uint16, src []float32)                { panic("unreachable") }
func ropeVec(x1, x2, cos, sin []float32)                  { panic("unreachable") }
func siluMulVec(g, u []float32)                           { panic("unreachable") }
func scaleMaxVec(x []float32, s float32) float32          { panic("unreachable") }
func expSubSumVec(x []float32, mx float32) float64        { panic("unreachable") }
func scaleVec(x []float32, s float32)                     { panic("unreachable") }
func softmaxColsVec(x []float32, rows, ld int, s float32) { panic("unreachable") }

func nnTile(h bool, m int) (mr, nv, w int) { return 0, 0, 0 }

func nnRun(mr, nv int, a *float32, ais, aps int, bf *float32, bh *uint16, ldb, k int, c *float32, ldc, acc int) {
	panic("unreachable")
}

// runTileLoop: the pure-Go path has no multi-tile kernel.
func runTileLoop(isa isaKind, kind bKind, mr int, a *float32, lda int, bf *float32, bh *uint16, ldb, k int, c *float32, ldc int, acc bool, ntiles int, pf uintptr) bool {
	return false
}
