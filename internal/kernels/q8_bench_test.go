package kernels

import (
	"fmt"
	"testing"

	"github.com/lvm-go/lvm/internal/half"
)

// randQ8 returns a random [n, k] Q8 matrix (values as randF16's, ×0.05).
func randQ8(b testing.TB, n, k int, seed uint64) *Q8Matrix {
	w := NewQ8Matrix(n, k)
	row := randF32(k, seed)
	for r := 0; r < n; r++ {
		for i := range row {
			row[i] = row[(i*7+r+1)%k] * 0.05 // cheap variety between rows
		}
		if err := w.SetRow(r, row); err != nil {
			b.Fatal(err)
		}
	}
	return w
}

// BenchmarkQ8Linear is BenchmarkLinear with Q8 weights: GFLOP/s, and for
// m ≤ 4 the rate at which the weight bytes (1.0625 per weight plus row
// padding) are read. These matrices fit in L3: see BenchmarkQ8Stream for
// DRAM.
//
//	go test -run '^$' -bench Q8Linear ./internal/kernels
func BenchmarkQ8Linear(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{
		{1, 1024, 1024}, {1, 2688, 1024}, {1, 1024, 2688}, {1, 8292, 1024},
		{4, 1024, 1024}, {4, 2688, 1024},
		{256, 1024, 1024}, {256, 2688, 1024}, {256, 1024, 2688}, {256, 8292, 1024},
	} {
		a := randF32(s.m*s.k, 3)
		c := make([]float32, s.m*s.n)
		w := randQ8(b, s.n, s.k, 4)
		b.Run(fmt.Sprintf("m=%d,n=%d,k=%d", s.m, s.n, s.k), func(b *testing.B) {
			for _, th := range benchThreads {
				b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
					withThreads(th, func() {
						MatMulNTQ8(c, a, w, s.m)
						b.ResetTimer()
						for i := 0; i < b.N; i++ {
							MatMulNTQ8(c, a, w, s.m)
						}
						sec := b.Elapsed().Seconds() / float64(b.N)
						b.ReportMetric(2*float64(s.m*s.n*s.k)/sec/1e9, "GFLOP/s")
						if s.m <= 4 {
							b.ReportMetric(float64(w.Bytes())/sec/1e9, "GB/s")
						}
					})
				})
			}
		})
	}
}

// BenchmarkQ8Stream runs the weight products of one decode step of the
// 300M LVM (22 layers of q, k, v, o, gate, up, down and the head: 282M
// weights, far more than the caches) with m = 1 and 4 rows, in Q8 and in
// binary16, on 2 threads: the ceiling of decode tokens/s that the weight
// reads alone allow, and the bytes per second read.
//
//	go test -run '^$' -bench Q8Stream -benchtime 20x ./internal/kernels
func BenchmarkQ8Stream(b *testing.B) {
	const d, inter, layers, vocab = 1024, 2688, 22, 8292
	type lin struct{ n, k int }
	var shapes []lin
	for l := 0; l < layers; l++ {
		shapes = append(shapes, lin{d, d}, lin{d, d}, lin{d, d}, lin{d, d}, lin{inter, d}, lin{inter, d}, lin{d, inter})
	}
	shapes = append(shapes, lin{vocab, d})
	a := randF32(4*inter, 3)
	c := make([]float32, 4*vocab)
	for _, m := range []int{1, 4} {
		b.Run(fmt.Sprintf("q8/m=%d", m), func(b *testing.B) {
			// One allocation, as transformer models have (huge pages).
			dims := make([][2]int, len(shapes))
			for i, s := range shapes {
				dims[i] = [2]int{s.n, s.k}
			}
			ws := NewQ8Matrices(dims...)
			bytes := 0
			for i, s := range shapes {
				if i < 7 || i == len(shapes)-1 {
					copy(ws[i].data, randQ8(b, s.n, s.k, uint64(i)).data)
				} else { // the values of layer 0, fresh memory
					copy(ws[i].data, ws[i%7].data)
				}
				bytes += ws[i].Bytes()
			}
			streamThreads(b, m, bytes, func() {
				for _, w := range ws {
					MatMulNTQ8(c, a, w, m)
				}
			})
		})
		b.Run(fmt.Sprintf("f16/m=%d", m), func(b *testing.B) {
			ws := make([][]uint16, len(shapes))
			bytes := 0
			for i, s := range shapes {
				if i < 7 || i == len(shapes)-1 {
					ws[i] = randF16(s.n*s.k, uint64(i), half.F32ToF16)
				} else {
					ws[i] = append([]uint16(nil), ws[i%7]...)
				}
				bytes += 2 * len(ws[i])
			}
			streamThreads(b, m, bytes, func() {
				for j, w := range ws {
					MatMulNTF16(c, a, w, m, shapes[j].n, shapes[j].k)
				}
			})
		})
	}
}

// streamThreads runs step (one token's weight products, bytes read) b.N
// times on 1 and 2 threads and reports tokens/s, GB/s, and tokens per
// CPU-second per thread (tokens/cpuTs: the rate the threads would reach
// with the cores to themselves on a shared machine).
func streamThreads(b *testing.B, m, bytes int, step func()) {
	for _, th := range benchThreads {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			withThreads(th, func() {
				step()
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for i := 0; i < b.N; i++ {
					step()
				}
				cpu := cpuSeconds() - cpu0
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(float64(m)/sec, "tokens/s")
				b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
				b.ReportMetric(float64(m*b.N)/(cpu/float64(th)), "tokens/cpuTs")
			})
		})
	}
}

// BenchmarkQ8QuantizeAct times the activation quantiser on one row.
func BenchmarkQ8QuantizeAct(b *testing.B) {
	for _, k := range []int{1024, 2688} {
		x := randF32(k, 1)
		nb := ceilDiv(k, 32)
		buf := make([]byte, q8ActStride(nb))
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				q8QuantizeAct(buf, x, k, nb)
			}
			b.ReportMetric(float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
		})
	}
}

// BenchmarkQ8SetRow times the weight quantiser (load-time conversion).
func BenchmarkQ8SetRow(b *testing.B) {
	const k = 4096
	w := NewQ8Matrix(64, k)
	row := randF32(k, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.SetRow(i%64, row); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
}
