package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lvm-go/lvm/internal/half"
)

// benchThreads are the thread counts every benchmark is run with.
var benchThreads = []int{1, 2}

func randF32(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func randF16(n int, seed uint64, conv func(float32) uint16) []uint16 {
	x := randF32(n, seed)
	h := make([]uint16, n)
	for i, v := range x {
		h[i] = conv(v * 0.05)
	}
	return h
}

// benchProduct reports GFLOP/s (2·m·n·k per call) and, for m == 1, the
// rate at which B's bytes are streamed in GB/s.
func benchProduct(b *testing.B, m, n, k, bBytes int, f func()) {
	for _, th := range benchThreads {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			withThreads(th, func() {
				f()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					f()
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(2*float64(m)*float64(n)*float64(k)/sec/1e9, "GFLOP/s")
				if m == 1 {
					b.ReportMetric(float64(n*k*bBytes)/sec/1e9, "GB/s")
				}
			})
		})
	}
}

// BenchmarkConv is the VQGAN convolution as im2col GEMM (A = weight
// [Cout, Cin·9], B = patches [H·W, Cin·9]).
func BenchmarkConv(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{
		{128, 65536, 1152}, // 256×256, 128 → 128 channels
		{256, 16384, 2304}, // 128×128, 256 channels
		{768, 256, 6912},   // 16×16, 768 channels
		{3, 65536, 1152},   // decoder conv_out
		{128, 65536, 27},   // encoder conv_in
	} {
		a, bb := randF32(s.m*s.k, 1), randF32(s.n*s.k, 2)
		c := make([]float32, s.m*s.n)
		b.Run(fmt.Sprintf("m=%d,n=%d,k=%d", s.m, s.n, s.k), func(b *testing.B) {
			benchProduct(b, s.m, s.n, s.k, 4, func() { MatMulNT(c, a, bb, s.m, s.n, s.k) })
		})
	}
}

// BenchmarkLinear is a transformer linear layer: A = activations [T, in],
// B = weight [out, in] in float32, binary16 or bfloat16. m = 1 is decode
// (GEMV, bandwidth-bound), m = 256 prefill.
func BenchmarkLinear(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{
		{256, 1024, 1024}, {256, 2688, 1024}, {256, 8292, 1024}, {256, 1024, 2688},
		{1, 1024, 1024}, {1, 8292, 1024}, {1, 11008, 4096}, {1, 4096, 11008},
	} {
		a := randF32(s.m*s.k, 3)
		c := make([]float32, s.m*s.n)
		w32 := randF32(s.n*s.k, 4)
		w16 := randF16(s.n*s.k, 5, half.F32ToF16)
		wb16 := randF16(s.n*s.k, 6, half.F32ToBF16)
		name := fmt.Sprintf("m=%d,n=%d,k=%d", s.m, s.n, s.k)
		b.Run("f16/"+name, func(b *testing.B) {
			benchProduct(b, s.m, s.n, s.k, 2, func() { MatMulNTF16(c, a, w16, s.m, s.n, s.k) })
		})
		b.Run("bf16/"+name, func(b *testing.B) {
			benchProduct(b, s.m, s.n, s.k, 2, func() { MatMulNTBF16(c, a, wb16, s.m, s.n, s.k) })
		})
		b.Run("f32/"+name, func(b *testing.B) {
			benchProduct(b, s.m, s.n, s.k, 4, func() { MatMulNT(c, a, w32, s.m, s.n, s.k) })
		})
	}
}

func BenchmarkDot(b *testing.B) {
	for _, n := range []int{64, 128, 1024} {
		x, y := randF32(n, 7), randF32(n, 8)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var s float32
			for i := 0; i < b.N; i++ {
				s += Dot(x, y)
			}
			b.ReportMetric(2*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			_ = s
		})
	}
}

func BenchmarkAxpy(b *testing.B) {
	for _, n := range []int{64, 128, 1024} {
		x, y := randF32(n, 7), randF32(n, 8)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Axpy(1e-3, x, y)
			}
			b.ReportMetric(2*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkStream is decoding's matrix-vector products over the weights
// of the 300M model (one pass over 582 MB of binary16 from memory, in the
// order of a decode step), reporting the rate at which weights stream in.
func BenchmarkStream(b *testing.B) {
	type mat struct {
		n, k int
		w    []uint16
	}
	var mats []mat
	for l := 0; l < 22; l++ {
		for _, s := range [][2]int{{1024, 1024}, {1024, 1024}, {1024, 1024}, {1024, 1024}, {2688, 1024}, {2688, 1024}, {1024, 2688}} {
			mats = append(mats, mat{s[0], s[1], randF16(s[0]*s[1], uint64(l), half.F32ToF16)})
		}
	}
	x := randF32(2688, 9)
	y := make([]float32, 2688)
	bytes := 0
	for _, m := range mats {
		bytes += 2 * m.n * m.k
	}
	for _, th := range benchThreads {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			withThreads(th, func() {
				for i := 0; i < b.N; i++ {
					for _, m := range mats {
						MatMulNTF16(y[:m.n], x[:m.k], m.w, 1, m.n, m.k)
					}
				}
				b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		})
	}
}

// BenchmarkAttention is one head of prefill attention over a block of 64
// queries against 1024 keys (hd 128): the two NN products and the column
// softmax, in GFLOP/s of the products.
func BenchmarkAttention(b *testing.B) {
	const s, q, hd = 1024, 64, 128
	k, v := randF32(s*hd, 1), randF32(s*hd, 2)
	qt := randF32(hd*q, 3)
	sc := make([]float32, s*q)
	o := make([]float32, q*hd)
	for i := 0; i < b.N; i++ {
		MatMulNN(sc, q, k, hd, 1, qt, q, s, q, hd, false)
		SoftmaxColumns(sc, s, q, q, 0.088)
		MatMulNN(o, hd, sc, 1, q, v, hd, q, hd, s, false)
	}
	b.ReportMetric(4*s*q*hd*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkDecodeAttention is one head of decode attention at 4096
// positions: scores (a matrix-vector product with the keys), softmax and
// the weighted sum of values, in GB/s of cache read.
func BenchmarkDecodeAttention(b *testing.B) {
	const s, hd = 4096, 128
	k, v := randF32(s*hd, 1), randF32(s*hd, 2)
	q := randF32(hd, 3)
	sc := make([]float32, s)
	o := make([]float32, hd)
	for i := 0; i < b.N; i++ {
		MatMulNTSerial(sc, q, k, 1, s, hd)
		Softmax(sc, 0.088)
		MatMulNN(o, hd, sc, 0, 1, v, hd, 1, hd, s, false)
	}
	b.ReportMetric(8*s*hd*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkSiLUMul and BenchmarkSoftmax time the elementwise kernels
// (ns per element).
func BenchmarkSiLUMul(b *testing.B) {
	g, u := randF32(2688*64, 1), randF32(2688*64, 2)
	for i := 0; i < b.N; i++ {
		SiLUMul(g, u)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*len(g)), "ns/elem")
}

func BenchmarkSoftmax(b *testing.B) {
	x := randF32(4096, 1)
	for i := 0; i < b.N; i++ {
		Softmax(x, 0.01)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*len(x)), "ns/elem")
}

// BenchmarkGGMLShape times the products of ggml's own CPU benchmark
// (test-backend-ops perf -o MUL_MAT: weights of 4096 rows × 14336, times
// n = 1 or 512 activation rows) with this package's kernels, so that the
// two run side by side on one machine at one moment (BENCHMARKS.md has the
// commands and figures). It reports microseconds per product, as ggml
// does, and the weight stream (GB/s) or arithmetic (GFLOP/s) rate.
//
//	go test -run '^$' -bench GGMLShape -benchtime 20x -cpu 2 ./internal/kernels
func BenchmarkGGMLShape(b *testing.B) {
	const n, k = 4096, 14336
	w16 := randF16(n*k, 1, half.F32ToF16)
	w32 := randF32(n*k, 2)
	q := NewQ8Matrix(n, k)
	for r := 0; r < n; r++ {
		if err := q.SetRow(r, w32[r*k:(r+1)*k]); err != nil {
			b.Fatal(err)
		}
	}
	const mMax = 512
	a := randF32(mMax*k, 3)
	c := make([]float32, mMax*n)
	for _, m := range []int{1, mMax} {
		for _, w := range []struct {
			dtype string
			bytes float64
			mul   func()
		}{
			{"f32", 4 * n * k, func() { MatMulNT(c, a, w32, m, n, k) }},
			{"f16", 2 * n * k, func() { MatMulNTF16(c, a, w16, m, n, k) }},
			{"q8", 34.0 / 32 * n * k, func() { MatMulNTQ8(c, a, q, m) }},
		} {
			b.Run(fmt.Sprintf("%s/n=%d", w.dtype, m), func(b *testing.B) {
				w.mul()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					w.mul()
				}
				per := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(per*1e6, "us/op")
				if m == 1 {
					b.ReportMetric(w.bytes/per/1e9, "GB/s")
				} else {
					b.ReportMetric(2*float64(m)*n*k/per/1e9, "GFLOP/s")
				}
			})
		}
	}
}
