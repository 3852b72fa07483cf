package kernels

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/lvm-go/lvm/internal/half"
)

// BenchmarkF16MatrixStream runs the weight products of one decode step of
// the 300M LVM (24 layers of q, k, v, o, gate, up and down, and the head:
// 311M binary16 weights, 622 MB, far more than the caches) with m rows,
// row-major (MatMulNTF16; in huge pages, as NewRandom's weights) and tiled
// (MatMulNTF16Matrix), alternating the two pass by pass so that both see
// the same machine, and reports the median rate of each in GB/s of
// weights, and their ratio. Threads follow GOMAXPROCS (-cpu).
//
//	go test -run '^$' -bench F16MatrixStream -benchtime 20x -cpu 1 ./internal/kernels
func BenchmarkF16MatrixStream(b *testing.B) {
	const d, inter, layers, vocab = 1024, 2816, 24, 8194
	var shapes [][2]int
	for l := 0; l < layers; l++ {
		shapes = append(shapes, [2]int{d, d}, [2]int{d, d}, [2]int{d, d}, [2]int{d, d},
			[2]int{inter, d}, [2]int{inter, d}, [2]int{d, inter})
	}
	shapes = append(shapes, [2]int{vocab, d})
	tiled := NewF16Matrices(shapes...)
	// The row-major weights in one huge-page allocation too: the padded
	// tiles have room for them.
	rowMajor := NewF16Matrices(shapes...)
	rm := make([][]uint16, len(shapes))
	bytes := 0
	for i, s := range shapes {
		n, k := s[0], s[1]
		rm[i] = rowMajor[i].data[:n*k]
		if i < 7 || i == len(shapes)-1 {
			copy(rm[i], randF16(n*k, uint64(i), half.F32ToF16))
		} else {
			copy(rm[i], rm[i%7])
		}
		tiled[i].SetRows(0, rm[i])
		bytes += 2 * n * k
	}
	a := randF32(8*inter, 3)
	c := make([]float32, 8*vocab)
	for _, m := range []int{1, 2, 3, 4, 5, 8} {
		b.Run(fmt.Sprintf("m=%d", m), func(b *testing.B) {
			old := func() {
				for i, s := range shapes {
					MatMulNTF16(c, a, rm[i], m, s[0], s[1])
				}
			}
			tile := func() {
				for _, w := range tiled {
					MatMulNTF16Matrix(c, a, w, m)
				}
			}
			old()
			tile()
			var to, tn []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				old()
				t1 := time.Now()
				tile()
				to = append(to, t1.Sub(t0).Seconds())
				tn = append(tn, time.Since(t1).Seconds())
			}
			slices.Sort(to)
			slices.Sort(tn)
			mo, mn := to[len(to)/2], tn[len(tn)/2]
			b.ReportMetric(float64(bytes)/mo/1e9, "rowmajor-GB/s")
			b.ReportMetric(float64(bytes)/mn/1e9, "tiled-GB/s")
			b.ReportMetric(mo/mn, "speedup")
		})
	}
	runtime.KeepAlive(rowMajor)
	runtime.KeepAlive(tiled)
}

// BenchmarkF16MatrixPrefill compares MatMulNTF16Matrix with MatMulNTF16 on
// prefill-sized products
// (compute-bound), alternating them as BenchmarkF16MatrixStream does.
//
//	go test -run '^$' -bench F16MatrixPrefill -benchtime 5x -cpu 1 ./internal/kernels
func BenchmarkF16MatrixPrefill(b *testing.B) {
	for _, s := range [][3]int{{256, 2816, 1024}, {256, 1024, 2816}, {64, 1024, 1024}} {
		m, n, k := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("m=%d,n=%d,k=%d", m, n, k), func(b *testing.B) {
			bh := randF16(n*k, 1, half.F32ToF16)
			w := newF16Matrix(bh, n, k)
			a := randF32(m*k, 2)
			c := make([]float32, m*n)
			var to, tn []float64
			MatMulNTF16(c, a, bh, m, n, k)
			MatMulNTF16Matrix(c, a, w, m)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				MatMulNTF16(c, a, bh, m, n, k)
				t1 := time.Now()
				MatMulNTF16Matrix(c, a, w, m)
				to = append(to, t1.Sub(t0).Seconds())
				tn = append(tn, time.Since(t1).Seconds())
			}
			slices.Sort(to)
			slices.Sort(tn)
			mo, mn := to[len(to)/2], tn[len(tn)/2]
			fl := 2 * float64(m*n*k)
			b.ReportMetric(fl/mo/1e9, "rowmajor-GFLOP/s")
			b.ReportMetric(fl/mn/1e9, "tiled-GFLOP/s")
			b.ReportMetric(mo/mn, "speedup")
		})
	}
}
