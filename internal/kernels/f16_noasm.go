//go:build !amd64 || purego

package kernels

// runF16Tiles: without assembly the tiled matrix is always copied to
// row-major panels (the AVX-512 path is never selected).
func runF16Tiles(mr int, a *float32, lda int, w *uint16, nt, k, kc int, c *float32, ldc int) {
	panic("unreachable")
}
