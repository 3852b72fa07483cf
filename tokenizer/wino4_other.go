//go:build !amd64 || purego

package tokenizer

// Without the amd64 assembly the F(4,3) kernels exist only as their Go
// references (used by the tests); the layers keep F(2,3) Winograd.
const haveAVX512 = false

func w4gemmAsm(c []float32, ldc int, a []float32, lda int, b []float32, k, mt int, bias []float32) {
	panic("tokenizer: no assembly kernels")
}

func w4inAsm(v []float32, vOff, vs, ld int, in, zeros []float32, off *[36]int, step, n, nch int) {
	panic("tokenizer: no assembly kernels")
}

func w4outAsm(out, res, m []float32, mOff, ms, ld int, bias []float32, off *[16]int, step, n, nch int, discard []float32) {
	panic("tokenizer: no assembly kernels")
}

func normSiLUAsm(d, s []float32, rows, c int, mh, ml, sc, beta []float32) {
	panic("tokenizer: no assembly kernels")
}

func colSumAsm(acc []float64, src []float32, rows int) {
	panic("tokenizer: no assembly kernels")
}

func colSqDevAsm(acc []float64, src []float32, rows int, mean []float64) {
	panic("tokenizer: no assembly kernels")
}

func rgbConvAsm(dst []float32, in, zeros []float32, off *[9]int, step int, w, bias []float32, n, cin int) {
	panic("tokenizer: no assembly kernels")
}
