//go:build amd64 && !purego

package kernels

//go:generate go run f16asmgen.go

//go:noescape
func f16t1x4AVX512(a *float32, lda int, w *uint16, nt, k, kc int, c *float32, ldc int)

//go:noescape
func f16t2x4AVX512(a *float32, lda int, w *uint16, nt, k, kc int, c *float32, ldc int)

//go:noescape
func f16t3x4AVX512(a *float32, lda int, w *uint16, nt, k, kc int, c *float32, ldc int)

//go:noescape
func f16t4x4AVX512(a *float32, lda int, w *uint16, nt, k, kc int, c *float32, ldc int)

// runF16Tiles runs the AVX-512 tile kernel of f16asmgen.go for mr (1…4)
// rows of A (a, rows lda apart) times the nt tiles of an F16Matrix from
// w, in k blocks of kc, into c (rows ldc apart, 4 outputs per tile).
func runF16Tiles(mr int, a *float32, lda int, w *uint16, nt, k, kc int, c *float32, ldc int) {
	switch mr {
	case 1:
		f16t1x4AVX512(a, lda, w, nt, k, kc, c, ldc)
	case 2:
		f16t2x4AVX512(a, lda, w, nt, k, kc, c, ldc)
	case 3:
		f16t3x4AVX512(a, lda, w, nt, k, kc, c, ldc)
	default:
		f16t4x4AVX512(a, lda, w, nt, k, kc, c, ldc)
	}
}
