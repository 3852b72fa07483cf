package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/lvm-go/lvm/internal/half"
)

// Tolerance of the matrix products, relative to Σ_p |a_p·b_p| of each
// output. Float32 accumulation of k terms has a worst-case error near
// k·2⁻²⁴ of that sum for one sequential sum (the pure-Go path), k/16·2⁻²⁴
// with 16 lanes; for random signs the error grows like √k instead, and the
// largest seen over every test shape and path (k ≤ 4100) is 3e-7. 4e-6
// leaves more than ten times that.
const relTol = 4e-6

// paths returns the instruction-set paths this CPU can run, widest last.
func paths() []isaKind {
	var p []isaKind
	for i := isaGeneric; i <= bestISA; i++ {
		p = append(p, i)
	}
	return p
}

// withISA runs f with the kernels forced onto path isa.
func withISA(isa isaKind, f func()) {
	saved := activeISA
	activeISA = isa
	defer func() { activeISA = saved }()
	f()
}

// withThreads runs f with SetThreads(n).
func withThreads(n int, f func()) {
	saved := threads.Load()
	SetThreads(n)
	defer threads.Store(saved)
	f()
}

// operands holds one random product in all three B encodings. B values are
// rounded to binary16 or bfloat16 so that every variant computes the same
// exact product and shares one reference.
type operands struct {
	m, n, k int
	a       []float32
	bF32    []float32 // B as float32
	bF16    []uint16  // B as binary16
	bBF16   []uint16  // B as bfloat16
	bF16f   []float32 // the binary16 values as float32
	bBF16f  []float32 // the bfloat16 values as float32
}

func newOperands(rng *rand.Rand, m, n, k int) *operands {
	o := &operands{m: m, n: n, k: k}
	o.a = make([]float32, m*k)
	for i := range o.a {
		o.a[i] = float32(rng.NormFloat64())
	}
	o.bF32 = make([]float32, n*k)
	o.bF16 = make([]uint16, n*k)
	o.bBF16 = make([]uint16, n*k)
	o.bF16f = make([]float32, n*k)
	o.bBF16f = make([]float32, n*k)
	for i := range o.bF32 {
		v := float32(rng.NormFloat64() * 0.5)
		o.bF32[i] = v
		o.bF16[i] = half.F32ToF16(v)
		o.bBF16[i] = half.F32ToBF16(v)
		o.bF16f[i] = half.F16ToF32(o.bF16[i])
		o.bBF16f[i] = half.BF16ToF32(o.bBF16[i])
	}
	return o
}

// maxRelErr returns max over outputs of |c − ref| / Σ|a·b| (the scale).
func maxRelErr(c []float32, a, b []float32, m, n, k int) float64 {
	worst := 0.0
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, scale float64
			for p := 0; p < k; p++ {
				x := float64(a[i*k+p]) * float64(b[j*k+p])
				s += x
				scale += math.Abs(x)
			}
			e := math.Abs(float64(c[i*n+j]) - s)
			if scale > 0 {
				e /= scale
			}
			if math.IsNaN(float64(c[i*n+j])) {
				e = math.Inf(1)
			}
			worst = max(worst, e)
		}
	}
	return worst
}

// checkAll runs the three products on o with the current settings and
// returns the worst relative error; c carries a guard region after m·n
// that must stay untouched.
func checkAll(t testing.TB, o *operands) float64 {
	t.Helper()
	const guard = 37
	worst := 0.0
	for _, v := range []struct {
		name string
		run  func(c []float32)
		ref  []float32
	}{
		{"f32", func(c []float32) { MatMulNT(c, o.a, o.bF32, o.m, o.n, o.k) }, o.bF32},
		{"f16", func(c []float32) { MatMulNTF16(c, o.a, o.bF16, o.m, o.n, o.k) }, o.bF16f},
		{"bf16", func(c []float32) { MatMulNTBF16(c, o.a, o.bBF16, o.m, o.n, o.k) }, o.bBF16f},
	} {
		c := make([]float32, o.m*o.n+guard)
		for i := range c {
			c[i] = float32(math.NaN()) // must all be overwritten
		}
		for i := o.m * o.n; i < len(c); i++ {
			c[i] = 12345
		}
		v.run(c[:o.m*o.n])
		for i := o.m * o.n; i < len(c); i++ {
			if c[i] != 12345 {
				t.Fatalf("%s m=%d n=%d k=%d: wrote past c[m·n] at %d", v.name, o.m, o.n, o.k, i)
			}
		}
		e := maxRelErr(c, o.a, v.ref, o.m, o.n, o.k)
		if e > relTol {
			t.Fatalf("%s m=%d n=%d k=%d isa=%v threads=%d: max relative error %.3g > %.3g",
				v.name, o.m, o.n, o.k, activeISA, Threads(), e, relTol)
		}
		worst = max(worst, e)
	}
	return worst
}

func TestDetect(t *testing.T) {
	t.Logf("CPU path: %v (testing %v)", bestISA, paths())
}

// TestMatMulShapes compares every path with the float64 reference on
// ragged shapes around the tile sizes (1×8, 3×4, 4×6, 2×4, vector widths
// 8 and 16), long k (split into blocks), and shapes that split m.
func TestMatMulShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type shape struct{ m, n, k int }
	var shapes []shape
	small := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 16, 17, 23, 24, 25, 31, 33, 47, 64, 70}
	for i, m := range small {
		for j, n := range small {
			k := small[(i*7+j*3)%len(small)]
			shapes = append(shapes, shape{m, n, k})
			shapes = append(shapes, shape{n, m, k + 16*(j%3)})
		}
	}
	shapes = append(shapes,
		shape{1, 37, 1000}, shape{1, 9, 2100}, shape{2, 13, 3001}, shape{5, 7, 1025},
		shape{17, 29, 2049}, shape{33, 50, 4100}, shape{70, 3, 300}, shape{64, 64, 64},
		shape{20, 300, 77}, shape{300, 20, 77}, shape{1, 1, 1}, shape{3, 1, 27}, shape{128, 40, 27},
	)
	for _, isa := range paths() {
		for _, th := range []int{1, 3} {
			t.Run(fmt.Sprintf("%v/threads=%d", isa, th), func(t *testing.T) {
				worst := 0.0
				withISA(isa, func() {
					withThreads(th, func() {
						for _, s := range shapes {
							worst = max(worst, checkAll(t, newOperands(rng, s.m, s.n, s.k)))
						}
					})
				})
				t.Logf("%d shapes × 3 dtypes: max |c−ref|/Σ|ab| = %.3g (tolerance %.0g)", len(shapes), worst, relTol)
			})
		}
	}
}

// TestMatMulLarge runs shapes of the callers (conv as im2col, prefill,
// decode) scaled down to keep the float64 reference cheap.
func TestMatMulLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range []struct{ m, n, k int }{
		{64, 300, 1152}, {1, 1100, 1024}, {40, 257, 2688}, {3, 500, 1152}, {1, 300, 4096}, {128, 100, 27},
	} {
		o := newOperands(rng, s.m, s.n, s.k)
		for _, isa := range paths() {
			withISA(isa, func() {
				e := checkAll(t, o)
				t.Logf("%v m=%d n=%d k=%d: max relative error %.3g", isa, s.m, s.n, s.k, e)
			})
		}
	}
}

// TestMatMulSmallBlocks shrinks the blocking so that small shapes go
// through k blocks accumulated into C, many units and m bands (and, on
// the pure-Go path, 16-bit blocks converted into panels).
func TestMatMulSmallBlocks(t *testing.T) {
	saved := [2]int{kcMax, blockBytes}
	kcMax, blockBytes = 32, 2048
	defer func() { kcMax, blockBytes = saved[0], saved[1] }()
	rng := rand.New(rand.NewPCG(15, 16))
	for _, isa := range paths() {
		worst := 0.0
		withISA(isa, func() {
			withThreads(3, func() {
				for _, s := range []struct{ m, n, k int }{
					{1, 50, 100}, {2, 13, 33}, {5, 40, 64}, {17, 23, 97}, {40, 7, 130}, {9, 100, 31},
				} {
					worst = max(worst, checkAll(t, newOperands(rng, s.m, s.n, s.k)))
				}
			})
		})
		t.Logf("%v: max relative error %.3g", isa, worst)
	}
}

// TestMatMulReproducible checks that an output depends only on its rows and
// k: the same row of C from different m, n and thread counts is identical.
func TestMatMulReproducible(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	o := newOperands(rng, 37, 29, 1500)
	for _, isa := range paths() {
		withISA(isa, func() {
			full := make([]float32, o.m*o.n)
			MatMulNTF16(full, o.a, o.bF16, o.m, o.n, o.k)
			for _, th := range []int{1, 2, 5} {
				withThreads(th, func() {
					row := make([]float32, o.n)
					for i := 0; i < o.m; i += 7 {
						MatMulNTF16(row, o.a[i*o.k:(i+1)*o.k], o.bF16, 1, o.n, o.k)
						for j := range row {
							if row[j] != full[i*o.n+j] {
								t.Fatalf("%v threads=%d: c[%d,%d] = %v alone, %v in the full product", isa, th, i, j, row[j], full[i*o.n+j])
							}
						}
					}
				})
			}
		})
	}
}

func TestMatMulZeroSizes(t *testing.T) {
	c := []float32{1, 2, 3, 4, 5, 6}
	MatMulNT(c, nil, nil, 2, 3, 0)
	for i, v := range c {
		if v != 0 {
			t.Fatalf("k=0: c[%d] = %v, want 0", i, v)
		}
	}
	MatMulNT(nil, nil, make([]float32, 35), 0, 5, 7)
	MatMulNTF16(nil, make([]float32, 35), nil, 5, 0, 7)
}

func TestMatMulBadShapesPanic(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short c", func() { MatMulNT(make([]float32, 5), make([]float32, 6), make([]float32, 9), 2, 3, 3) }},
		{"short a", func() { MatMulNT(make([]float32, 6), make([]float32, 5), make([]float32, 9), 2, 3, 3) }},
		{"short b", func() { MatMulNTF16(make([]float32, 6), make([]float32, 6), make([]uint16, 8), 2, 3, 3) }},
		{"negative", func() { MatMulNTBF16(nil, nil, nil, -1, 3, 3) }},
		{"dot", func() { Dot(make([]float32, 3), make([]float32, 2)) }},
		{"axpy", func() { Axpy(1, make([]float32, 3), make([]float32, 2)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				t.Logf("panic: %v", r)
			}()
			tc.f()
		})
	}
}

func TestDotAxpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, isa := range paths() {
		worstDot, worstAxpy := 0.0, 0.0
		withISA(isa, func() {
			for n := 0; n <= 300; n++ {
				if n > 140 && n%17 != 0 {
					continue
				}
				a := make([]float32, n)
				b := make([]float32, n+3)
				y := make([]float32, n+3)
				var scale float64
				for i := range a {
					a[i] = float32(rng.NormFloat64())
					b[i] = float32(rng.NormFloat64())
					y[i] = float32(rng.NormFloat64())
					scale += math.Abs(float64(a[i]) * float64(b[i]))
				}
				got, want := Dot(a, b), RefDot(a, b)
				e := math.Abs(float64(got) - float64(want))
				if scale > 0 {
					e /= scale
				}
				if e > relTol {
					t.Fatalf("%v Dot n=%d: %v, want %v (relative error %.3g)", isa, n, got, want, e)
				}
				worstDot = max(worstDot, e)

				alpha := float32(rng.NormFloat64())
				y2 := append([]float32(nil), y...)
				Axpy(alpha, a, y)
				RefAxpy(alpha, a, y2)
				for i := range y {
					if i >= n {
						if y[i] != y2[i] {
							t.Fatalf("%v Axpy n=%d: y[%d] changed past len(x)", isa, n, i)
						}
						continue
					}
					d := math.Abs(float64(y[i]) - float64(y2[i]))
					if s := math.Abs(float64(y2[i])) + math.Abs(float64(alpha)*float64(a[i])); s > 0 {
						d /= s
					}
					// One rounding of the fused result against one rounding
					// of the float64 one: at most one unit in the last place.
					if d > 1.2e-7 {
						t.Fatalf("%v Axpy n=%d: y[%d] = %v, want %v", isa, n, i, y[i], y2[i])
					}
					worstAxpy = max(worstAxpy, d)
				}
			}
		})
		t.Logf("%v: Dot max relative error %.3g; Axpy max relative error %.3g", isa, worstDot, worstAxpy)
	}
}

func TestParallelFor(t *testing.T) {
	for _, th := range []int{1, 2, 4, 7} {
		withThreads(th, func() {
			for _, n := range []int{0, 1, 3, 10, 1000} {
				hits := make([]int32, n)
				ParallelFor(n, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
					// Nested use must neither deadlock nor lose work.
					var inner atomic.Int64
					ParallelFor(5, func(lo, hi int) { inner.Add(int64(hi - lo)) })
					if inner.Load() != 5 {
						t.Errorf("nested ParallelFor covered %d of 5", inner.Load())
					}
				})
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("threads=%d n=%d: index %d run %d times", th, n, i, h)
					}
				}
			}
		})
	}
}

// TestMatMulInsideParallelFor checks nested use: products called from
// ParallelFor chunks (the pool's workers busy) still finish correctly.
func TestMatMulInsideParallelFor(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	o := newOperands(rng, 9, 50, 100)
	want := make([]float32, o.m*o.n)
	MatMulNT(want, o.a, o.bF32, o.m, o.n, o.k)
	withThreads(3, func() {
		ParallelFor(6, func(lo, hi int) {
			for x := lo; x < hi; x++ {
				c := make([]float32, o.m*o.n)
				MatMulNT(c, o.a, o.bF32, o.m, o.n, o.k)
				for i := range c {
					if c[i] != want[i] {
						t.Errorf("chunk %d: c[%d] = %v, want %v", x, i, c[i], want[i])
						return
					}
				}
			}
		})
	})
}

// TestMatMulAllocs checks that steady-state calls allocate nothing.
func TestMatMulAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	o := newOperands(rng, 40, 96, 130)
	c := make([]float32, o.m*o.n)
	withThreads(2, func() {
		for _, v := range []struct {
			name string
			f    func()
		}{
			{"f32", func() { MatMulNT(c, o.a, o.bF32, o.m, o.n, o.k) }},
			{"f16 packed", func() { MatMulNTF16(c, o.a, o.bF16, o.m, o.n, o.k) }},
			{"bf16 gemv", func() { MatMulNTBF16(c[:o.n], o.a[:o.k], o.bBF16, 1, o.n, o.k) }},
			{"dot", func() { Dot(o.a, o.bF32) }},
		} {
			v.f()
			if n := testing.AllocsPerRun(50, v.f); n > 0.1 {
				t.Errorf("%s: %v allocations per call", v.name, n)
			}
		}
	})
}

// FuzzMatMulNT compares the products with the reference on random shapes
// and data, on every path.
func FuzzMatMulNT(f *testing.F) {
	f.Add(uint64(1), uint8(4), uint8(6), uint16(16))
	f.Add(uint64(2), uint8(1), uint8(9), uint16(33))
	f.Add(uint64(3), uint8(7), uint8(13), uint16(1100))
	f.Add(uint64(4), uint8(70), uint8(1), uint16(5))
	f.Fuzz(func(t *testing.T, seed uint64, m, n uint8, k uint16) {
		mm, nn, kk := int(m%80), int(n%80), int(k%2200)
		rng := rand.New(rand.NewPCG(seed, 99))
		o := newOperands(rng, mm, nn, kk)
		th := int(seed%4) + 1
		for _, isa := range paths() {
			withISA(isa, func() { withThreads(th, func() { checkAll(t, o) }) })
		}
	})
}
