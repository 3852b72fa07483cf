//go:build !amd64 || purego

package kernels

// q8Path: without assembly only the pure-Go Q8 kernel exists.
func q8Path() q8Kind { return q8Generic }

// q8Tile computes mr rows times nt weight tiles with the pure-Go kernel.
func q8Tile(path q8Kind, mr int, a *[2][]byte, w []byte, nt, nb int, c []float32, ldc int) {
	q8TileGeneric(mr, a, w, nt, nb, c, ldc)
}

// q8QuantizeActAsm: no assembly here.
func q8QuantizeActAsm(dst []byte, x []float32, k, nb int) bool { return false }

// q8SetRowAsm: no assembly here.
func q8SetRowAsm(w *Q8Matrix, r int, src []float32) bool { return false }
