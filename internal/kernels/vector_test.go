package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lvm-go/lvm/internal/half"
)

// sameBits reports whether a and b are the same float32, NaNs of any
// payload counting as equal.
func sameBits(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// expInputs are arguments of the exponential: the range edges, signed
// zeros, infinities, NaN, subnormals, a dense sweep of [−90, 90] and
// random values.
func expInputs(rng *rand.Rand) []float32 {
	x := []float32{0, float32(math.Copysign(0, -1)), 1, -1, -87.3, -87.29999, -87.30001, 88.72, 88.71999, 88.72001,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-45, -1e-45, 1e-38, -1e-38, 0.5, -0.5,
		float32(math.Ln2 / 2), float32(-math.Ln2 / 2), 100, -100, math.MaxFloat32, -math.MaxFloat32}
	for v := float32(-90); v <= 90; v += 0.0137 {
		x = append(x, v)
	}
	for i := 0; i < 20000; i++ {
		x = append(x, float32(rng.NormFloat64()*20))
	}
	return x
}

// TestExpfAccuracy checks Expf against math.Exp: within 1 ulp over the
// whole range it does not flush.
func TestExpfAccuracy(t *testing.T) {
	worst := 0.0
	for x := float32(-87.3); x < 88.7; x += 0.00097 {
		got := float64(Expf(x))
		want := math.Exp(float64(x))
		ulp := float64(math.Nextafter32(float32(want), float32(math.Inf(1)))) - float64(float32(want))
		worst = max(worst, math.Abs(got-want)/ulp)
	}
	if worst > 1 {
		t.Errorf("Expf: %.2f ulp", worst)
	}
	t.Logf("Expf: max error %.2f ulp", worst)
}

// TestVectorExp checks that the vector exponential (through expSubSum
// with mx = 0) equals Expf bit for bit, on every path.
func TestVectorExp(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	in := expInputs(rng)
	for _, isa := range paths() {
		withISA(isa, func() {
			w := vecWidth()
			if w == 0 {
				return
			}
			n := len(in) &^ (w - 1)
			x := append([]float32(nil), in[:n]...)
			expSubSumVec(x, 0)
			for i := range x {
				if want := Expf(in[i] - 0); !sameBits(x[i], want) {
					t.Fatalf("%v: exp(%v) = %v (%#x), Expf %v (%#x)", isa, in[i], x[i], math.Float32bits(x[i]), want, math.Float32bits(want))
				}
			}
		})
	}
}

// TestSiLUMul compares SiLUMul with its reference bit for bit on every
// path, over lengths with and without a scalar tail.
func TestSiLUMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	in := expInputs(rng)
	for _, isa := range paths() {
		withISA(isa, func() {
			for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 33, 100, len(in)} {
				g := append([]float32(nil), in[:n]...)
				u := make([]float32, n+1)
				for i := range u {
					u[i] = float32(rng.NormFloat64())
				}
				want := append([]float32(nil), g...)
				RefSiLUMul(want, u)
				SiLUMul(g, u)
				for i := range g {
					if !sameBits(g[i], want[i]) {
						t.Fatalf("%v n=%d: silu(%v)·%v = %v, reference %v", isa, n, in[i], u[i], g[i], want[i])
					}
				}
			}
		})
	}
}

// TestSoftmax compares Softmax with RefSoftmax (which sums in another
// order: at most 2 ulp apart) and checks that it stays in its slice.
func TestSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, isa := range paths() {
		withISA(isa, func() {
			worst := 0.0
			for _, n := range []int{1, 2, 7, 8, 9, 16, 31, 64, 100, 257, 1000, 4096} {
				x := make([]float32, n+3)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * 8)
				}
				x[n], x[n+1], x[n+2] = 7, 8, 9
				if n > 5 {
					x[3] = float32(math.Inf(-1)) // a masked score
				}
				want := append([]float32(nil), x...)
				RefSoftmax(want, n, 1, 0.125)
				Softmax(x[:n], 0.125)
				for i := 0; i < n; i++ {
					d := math.Abs(float64(x[i]) - float64(want[i]))
					if d > 0 {
						d /= math.Abs(float64(want[i]))
					}
					if d > 2.5e-7 {
						t.Fatalf("%v n=%d: p[%d] = %v, reference %v", isa, n, i, x[i], want[i])
					}
					worst = max(worst, d)
				}
				if x[n] != 7 || x[n+1] != 8 || x[n+2] != 9 {
					t.Fatalf("%v n=%d: wrote past the slice", isa, n)
				}
			}
			t.Logf("%v: max relative difference %.3g", isa, worst)
		})
	}
}

// TestSoftmaxColumns checks SoftmaxColumns against RefSoftmax on each
// column, bit for bit, with a causal mask of −Inf and columns that leave
// a scalar remainder; entries outside the columns stay untouched.
func TestSoftmaxColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, isa := range paths() {
		withISA(isa, func() {
			for _, s := range []struct{ rows, cols, ld int }{
				{1, 16, 16}, {5, 64, 64}, {70, 64, 70}, {3, 7, 9}, {33, 40, 41}, {200, 16, 16},
			} {
				x := make([]float32, s.rows*s.ld)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * 5)
				}
				for j := 0; j < s.rows; j++ {
					for c := 0; c < s.cols; c++ {
						if j > c+s.rows/2 {
							x[j*s.ld+c] = float32(math.Inf(-1))
						}
					}
				}
				want := append([]float32(nil), x...)
				for c := 0; c < s.cols; c++ {
					RefSoftmax(want[c:], s.rows, s.ld, 0.3)
				}
				SoftmaxColumns(x, s.rows, s.cols, s.ld, 0.3)
				for i := range x {
					if !sameBits(x[i], want[i]) {
						t.Fatalf("%v %+v: x[%d] = %v, reference %v", isa, s, i, x[i], want[i])
					}
				}
			}
		})
	}
}

// nnOperands is one MatMulNN problem: A with general strides, B row-major
// with stride ldb (also as binary16), C with stride ldc.
type nnOperands struct {
	m, n, k, ais, aps, ldb, ldc int
	a, b, bh16                  []float32 // bh16: B rounded to binary16, as float32
	bh                          []uint16
}

func newNN(rng *rand.Rand, m, n, k int, transA bool) *nnOperands {
	o := &nnOperands{m: m, n: n, k: k, ldb: n + rng.IntN(3), ldc: n + rng.IntN(3)}
	if transA {
		o.ais, o.aps = 1, m+rng.IntN(3)
	} else {
		o.ais, o.aps = k+rng.IntN(3), 1
	}
	o.a = make([]float32, max(1, (m-1)*o.ais+(k-1)*o.aps+1))
	for i := range o.a {
		o.a[i] = float32(rng.NormFloat64())
	}
	o.b = make([]float32, max(1, (k-1)*o.ldb+n))
	o.bh = make([]uint16, len(o.b))
	o.bh16 = make([]float32, len(o.b))
	for i := range o.b {
		o.b[i] = float32(rng.NormFloat64())
		o.bh[i] = half.F32ToF16(o.b[i])
		o.bh16[i] = half.F16ToF32(o.bh[i])
	}
	return o
}

// check runs MatMulNN and MatMulNNF16 (with and without acc) and compares
// them with the float64 reference relative to Σ|a·b|.
func (o *nnOperands) check(t testing.TB) float64 {
	t.Helper()
	worst := 0.0
	for _, h := range []bool{false, true} {
		for _, acc := range []bool{false, true} {
			c := make([]float32, max(1, (o.m-1)*o.ldc+o.n)+5)
			for i := range c {
				c[i] = float32(i%7) - 3
			}
			want := append([]float32(nil), c...)
			b := o.b
			if h {
				b = o.bh16
				MatMulNNF16(c, o.ldc, o.a, o.ais, o.aps, o.bh, o.ldb, o.m, o.n, o.k, acc)
			} else {
				MatMulNN(c, o.ldc, o.a, o.ais, o.aps, o.b, o.ldb, o.m, o.n, o.k, acc)
			}
			RefMatMulNN(want, o.ldc, o.a, o.ais, o.aps, b, o.ldb, o.m, o.n, o.k, acc)
			for i := 0; i < o.m; i++ {
				for j := 0; j < o.ldc && i*o.ldc+j < len(c); j++ {
					x := i*o.ldc + j
					if j >= o.n {
						if c[x] != want[x] {
							t.Fatalf("%+v h=%v: wrote c[%d] outside the product", *o, h, x)
						}
						continue
					}
					scale := math.Abs(float64(want[x]))
					if acc {
						scale = math.Abs(float64(c[x]))
					}
					for p := 0; p < o.k; p++ {
						scale += math.Abs(float64(o.a[i*o.ais+p*o.aps]) * float64(b[p*o.ldb+j]))
					}
					e := math.Abs(float64(c[x]) - float64(want[x]))
					if scale > 0 {
						e /= scale
					}
					if e > relTol || c[x] != c[x] {
						t.Fatalf("m=%d n=%d k=%d h=%v acc=%v isa=%v: c[%d,%d] = %v, reference %v (relative error %.3g)",
							o.m, o.n, o.k, h, acc, activeISA, i, j, c[x], want[x], e)
					}
					worst = max(worst, e)
				}
			}
			for x := len(c) - 5; x < len(c); x++ {
				if c[x] != want[x] {
					t.Fatalf("%+v: wrote past the end of c", *o)
				}
			}
		}
	}
	return worst
}

// TestMatMulNN covers every tile shape and edge: m around the tile rows,
// n around the vector width and tile width, A plain and transposed.
func TestMatMulNN(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	for _, isa := range paths() {
		t.Run(isa.String(), func(t *testing.T) {
			worst := 0.0
			withISA(isa, func() {
				for _, m := range []int{1, 2, 3, 4, 5, 6, 7, 12, 13, 64} {
					for _, n := range []int{1, 7, 8, 15, 16, 17, 24, 31, 32, 48, 64, 65, 100, 128, 130} {
						k := []int{0, 1, 5, 16, 37, 128}[(m+n)%6]
						worst = max(worst, newNN(rng, m, n, k, (m+n)%2 == 0).check(t))
					}
				}
				worst = max(worst, newNN(rng, 64, 128, 1000, true).check(t))
				worst = max(worst, newNN(rng, 300, 64, 128, false).check(t))
			})
			t.Logf("max relative error %.3g", worst)
		})
	}
}

func TestMatMulNNBadShapesPanic(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short c", func() {
			MatMulNN(make([]float32, 5), 3, make([]float32, 6), 3, 1, make([]float32, 9), 3, 2, 3, 3, false)
		}},
		{"short a", func() {
			MatMulNN(make([]float32, 6), 3, make([]float32, 5), 3, 1, make([]float32, 9), 3, 2, 3, 3, false)
		}},
		{"short b", func() {
			MatMulNNF16(make([]float32, 6), 3, make([]float32, 6), 3, 1, make([]uint16, 8), 3, 2, 3, 3, false)
		}},
		{"negative", func() { MatMulNN(nil, 0, nil, 0, 0, nil, 0, -1, 3, 3, false) }},
		{"columns", func() { SoftmaxColumns(make([]float32, 10), 3, 4, 3, 1) }},
		{"silu", func() { SiLUMul(make([]float32, 3), make([]float32, 2)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.f()
		})
	}
}

// TestMatMulNTSerial checks that the serial products equal the parallel
// ones exactly.
func TestMatMulNTSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, isa := range paths() {
		withISA(isa, func() {
			for _, s := range []struct{ m, n, k int }{{1, 300, 128}, {1, 7, 5}, {5, 100, 1500}, {40, 33, 64}} {
				o := newOperands(rng, s.m, s.n, s.k)
				want := make([]float32, s.m*s.n)
				got := make([]float32, s.m*s.n)
				MatMulNT(want, o.a, o.bF32, s.m, s.n, s.k)
				MatMulNTSerial(got, o.a, o.bF32, s.m, s.n, s.k)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%v %v f32: c[%d] = %v serial, %v parallel", isa, s, i, got[i], want[i])
					}
				}
				MatMulNTF16(want, o.a, o.bF16, s.m, s.n, s.k)
				MatMulNTF16Serial(got, o.a, o.bF16, s.m, s.n, s.k)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%v %v f16: c[%d] = %v serial, %v parallel", isa, s, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// TestVectorAllocs checks that the attention kernels allocate nothing.
func TestVectorAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	o := newNN(rng, 13, 128, 200, true)
	c := make([]float32, 13*o.ldc)
	x := make([]float32, 64*70)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	u := make([]float32, len(x))
	for _, v := range []struct {
		name string
		f    func()
	}{
		{"nn", func() { MatMulNN(c, o.ldc, o.a, o.ais, o.aps, o.b, o.ldb, o.m, o.n, o.k, false) }},
		{"nn f16", func() { MatMulNNF16(c, o.ldc, o.a, o.ais, o.aps, o.bh, o.ldb, 1, o.n, o.k, true) }},
		{"softmax", func() { Softmax(x[:1000], 0.1) }},
		{"columns", func() { SoftmaxColumns(x, 64, 64, 70, 0.1) }},
		{"silu", func() { SiLUMul(x, u) }},
		{"serial", func() { MatMulNTSerial(c[:100], o.a[:128], o.b, 1, 100, 128) }},
	} {
		if n := testing.AllocsPerRun(20, v.f); n > 0 {
			t.Errorf("%s: %v allocations per call", v.name, n)
		}
	}
}

// FuzzMatMulNN compares MatMulNN with the reference on random shapes,
// strides and data, on every path.
func FuzzMatMulNN(f *testing.F) {
	f.Add(uint64(1), uint8(6), uint8(64), uint16(128), true)
	f.Add(uint64(2), uint8(1), uint8(17), uint16(3), false)
	f.Add(uint64(3), uint8(13), uint8(130), uint16(300), true)
	f.Fuzz(func(t *testing.T, seed uint64, m, n uint8, k uint16, trans bool) {
		rng := rand.New(rand.NewPCG(seed, 98))
		o := newNN(rng, int(m%70), int(n%140), int(k%700), trans)
		for _, isa := range paths() {
			withISA(isa, func() { o.check(t) })
		}
	})
}

// FuzzSoftmaxColumns compares the column softmax and SiLUMul with their
// references bit for bit on random data.
func FuzzSoftmaxColumns(f *testing.F) {
	f.Add(uint64(1), uint8(64), uint8(64), float32(0.088))
	f.Add(uint64(2), uint8(1), uint8(5), float32(3))
	f.Fuzz(func(t *testing.T, seed uint64, rows, cols uint8, scale float32) {
		r, c := int(rows%100)+1, int(cols%80)+1
		rng := rand.New(rand.NewPCG(seed, 97))
		x := make([]float32, r*c)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 30)
		}
		for _, isa := range paths() {
			withISA(isa, func() {
				got := append([]float32(nil), x...)
				want := append([]float32(nil), x...)
				SoftmaxColumns(got, r, c, c, scale)
				for j := 0; j < c; j++ {
					RefSoftmax(want[j:], r, c, scale)
				}
				for i := range got {
					if !sameBits(got[i], want[i]) {
						t.Fatalf("%v: softmax x[%d] = %v, reference %v", isa, i, got[i], want[i])
					}
				}
				got = append(got[:0], x...)
				want = append(want[:0], x...)
				SiLUMul(got, x)
				RefSiLUMul(want, x)
				for i := range got {
					if !sameBits(got[i], want[i]) {
						t.Fatalf("%v: silu x[%d] = %v, reference %v", isa, i, got[i], want[i])
					}
				}
			})
		}
	})
}

func ExampleSoftmaxColumns() {
	// Two queries (columns) over three keys (rows); the second query may
	// not see the last key.
	x := []float32{
		1, 1,
		2, 2,
		3, float32(math.Inf(-1)),
	}
	SoftmaxColumns(x, 3, 2, 2, 1)
	for r := 0; r < 3; r++ {
		fmt.Printf("%.4f %.4f\n", x[2*r], x[2*r+1])
	}
	// Output:
	// 0.0900 0.2689
	// 0.2447 0.7311
	// 0.6652 0.0000
}

// TestMatMulNTBatch checks that products computed together equal the same
// products computed one by one, bit for bit, for every B type, path and
// thread count, with empty products among them.
func TestMatMulNTBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	ops := []*operands{
		newOperands(rng, 1, 300, 128), newOperands(rng, 1, 70, 33), newOperands(rng, 4, 100, 1500),
		newOperands(rng, 40, 33, 64), newOperands(rng, 0, 5, 5), newOperands(rng, 3, 9, 0),
	}
	for _, isa := range paths() {
		for _, th := range []int{1, 2, 3} {
			withISA(isa, func() {
				withThreads(th, func() {
					for first := 0; first+3 <= len(ops); first++ {
						var ps []Product
						var want [][]float32
						for i, o := range ops[first : first+3] {
							c := make([]float32, o.m*o.n)
							w := make([]float32, o.m*o.n)
							p := Product{C: c, A: o.a, M: o.m, N: o.n, K: o.k}
							switch (i + first) % 3 {
							case 0:
								p.B32 = o.bF32
								MatMulNT(w, o.a, o.bF32, o.m, o.n, o.k)
							case 1:
								p.F16 = o.bF16
								MatMulNTF16(w, o.a, o.bF16, o.m, o.n, o.k)
							default:
								p.BF16 = o.bBF16
								MatMulNTBF16(w, o.a, o.bBF16, o.m, o.n, o.k)
							}
							for x := range c {
								c[x] = float32(math.NaN())
							}
							ps = append(ps, p)
							want = append(want, w)
						}
						MatMulNTBatch(ps...)
						for i, p := range ps {
							for x := range p.C {
								if math.Float32bits(p.C[x]) != math.Float32bits(want[i][x]) {
									t.Fatalf("%v threads=%d product %d (%dx%dx%d): c[%d] = %v, alone %v", isa, th, i, p.M, p.N, p.K, x, p.C[x], want[i][x])
								}
							}
						}
					}
				})
			})
		}
	}
}

func TestMatMulNTBatchAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	o := newOperands(rng, 2, 200, 300)
	c1, c2 := make([]float32, 400), make([]float32, 400)
	withThreads(2, func() {
		f := func() {
			MatMulNTBatch(Product{C: c1, A: o.a, F16: o.bF16, M: 2, N: 200, K: 300}, Product{C: c2, A: o.a, B32: o.bF32, M: 2, N: 200, K: 300})
		}
		f()
		if n := testing.AllocsPerRun(50, f); n > 0.1 {
			t.Errorf("%v allocations per call", n)
		}
	})
}

// TestHalfConversions checks F32sToF16s against half.F32ToF16 bit for bit
// (finite values, infinities, overflow, subnormals, ties) and the round
// trip through F16sToF32s, on every path.
func TestHalfConversions(t *testing.T) {
	rng := rand.New(rand.NewPCG(39, 40))
	src := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 65504, 65520, 65519.99, 1e6, -1e6, 6e-8, 3e-8, 2.98e-8, 1e-10,
		float32(math.Inf(1)), float32(math.Inf(-1)), 1 + 1.0/2048, 1 + 3.0/2048, 0.00006103515625}
	for i := 0; i < 5000; i++ {
		src = append(src, float32(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(12)-6))))
	}
	for _, isa := range paths() {
		withISA(isa, func() {
			for _, n := range []int{0, 1, 15, 16, 17, len(src)} {
				dst := make([]uint16, n+1)
				dst[n] = 0xabcd
				F32sToF16s(dst[:n], src[:n])
				back := make([]float32, n)
				F16sToF32s(back, dst[:n])
				for i := 0; i < n; i++ {
					if want := half.F32ToF16(src[i]); dst[i] != want {
						t.Fatalf("%v: F32sToF16s(%v) = %#x, want %#x", isa, src[i], dst[i], want)
					}
					if back[i] != half.F16ToF32(dst[i]) {
						t.Fatalf("%v: F16sToF32s(%#x) = %v", isa, dst[i], back[i])
					}
				}
				if dst[n] != 0xabcd {
					t.Fatalf("%v: wrote past the end", isa)
				}
			}
		})
	}
}

// TestRope compares Rope with RefRope bit for bit on every path.
func TestRope(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, isa := range paths() {
		withISA(isa, func() {
			for _, n := range []int{1, 8, 16, 50, 64, 100} {
				r := func() []float32 {
					x := make([]float32, n)
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					return x
				}
				x1, x2, c, s := r(), r(), r(), r()
				w1, w2 := append([]float32(nil), x1...), append([]float32(nil), x2...)
				Rope(x1, x2, c, s)
				RefRope(w1, w2, c, s)
				for i := range x1 {
					if x1[i] != w1[i] || x2[i] != w2[i] {
						t.Fatalf("%v n=%d: pair %d = (%v, %v), reference (%v, %v)", isa, n, i, x1[i], x2[i], w1[i], w2[i])
					}
				}
			}
		})
	}
}
