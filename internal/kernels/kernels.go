// Package kernels holds the float32 compute kernels shared by the tokenizer
// and the transformer: matrix products (with float32, binary16 and bfloat16
// right-hand sides), dot products, and the goroutine fan-out they run on.
//
// Every fast kernel has a simple reference implementation beside it (the
// Ref* functions) and a test comparing the two.
//
// Layout convention: all matrices are row-major and dense. The one product
// shape used everywhere is "NT": C[m×n] = A[m×k] · B[n×k]ᵀ, so both operands
// are read along k (a linear layer's weight [out,in] is B as stored; a
// convolution's weight [Cout, Cin·kh·kw] is A against im2col patches as B).
package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lvm-go/lvm/internal/half"
)

var threads atomic.Int32

// SetThreads sets how many goroutines the kernels split work across;
// n <= 0 restores the default, runtime.GOMAXPROCS(0).
func SetThreads(n int) {
	if n < 0 {
		n = 0
	}
	threads.Store(int32(n))
}

// Threads reports the number of goroutines the kernels use.
func Threads() int {
	if n := int(threads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// ParallelFor splits [0,n) into at most Threads() contiguous chunks and runs
// fn on each concurrently, returning when all are done.
func ParallelFor(n int, fn func(lo, hi int)) {
	t := Threads()
	if t > n {
		t = n
	}
	if t <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(t - 1)
	for i := 1; i < t; i++ {
		lo, hi := i*n/t, (i+1)*n/t
		go func() { fn(lo, hi); wg.Done() }()
	}
	fn(0, n/t)
	wg.Wait()
}

// MatMulNT sets c[m×n] = a[m×k] · b[n×k]ᵀ.
func MatMulNT(c, a, b []float32, m, n, k int) { RefMatMulNT(c, a, b, m, n, k) }

// MatMulNTF16 is MatMulNT with b stored as binary16.
func MatMulNTF16(c, a []float32, b []uint16, m, n, k int) {
	RefMatMulNTHalf(c, a, b, m, n, k, half.F16ToF32)
}

// MatMulNTBF16 is MatMulNT with b stored as bfloat16.
func MatMulNTBF16(c, a []float32, b []uint16, m, n, k int) {
	RefMatMulNTHalf(c, a, b, m, n, k, half.BF16ToF32)
}

// RefMatMulNT is the reference for MatMulNT: a plain triple loop with
// float64 accumulation.
func RefMatMulNT(c, a, b []float32, m, n, k int) {
	for i := 0; i < m; i++ {
		ai := a[i*k : i*k+k]
		for j := 0; j < n; j++ {
			bj := b[j*k : j*k+k]
			var s float64
			for p := range ai {
				s += float64(ai[p]) * float64(bj[p])
			}
			c[i*n+j] = float32(s)
		}
	}
}

// RefMatMulNTHalf is the reference for the 16-bit variants.
func RefMatMulNTHalf(c, a []float32, b []uint16, m, n, k int, conv func(uint16) float32) {
	for i := 0; i < m; i++ {
		ai := a[i*k : i*k+k]
		for j := 0; j < n; j++ {
			bj := b[j*k : j*k+k]
			var s float64
			for p := range ai {
				s += float64(ai[p]) * float64(conv(bj[p]))
			}
			c[i*n+j] = float32(s)
		}
	}
}
