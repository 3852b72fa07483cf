//go:build !amd64 || purego

package kernels

// detectISA: without assembly only the pure-Go path exists.
func detectISA() isaKind { return isaGeneric }

// runTile runs the pure-Go micro-kernel (B is always float32 here).
func runTile(isa isaKind, kind bKind, mr, nr int, r *tileRows, k int, c *float32, ldc int, acc bool) {
	genericTile(mr, r, k, c, ldc, acc)
}

// convertRow converts len(src) 16-bit values of the given kind into dst.
func convertRow(kind bKind, dst []float32, src []uint16) { convertRowGeneric(kind, dst, src) }

// dot and axpy take non-empty slices of equal length.
func dot(a, b []float32) float32         { return dotGeneric(a, b) }
func axpy(alpha float32, x, y []float32) { axpyGeneric(alpha, x, y) }
