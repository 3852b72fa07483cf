package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/lvm-go/lvm/internal/half"
)

// newF16Matrix returns b (row-major binary16, [n, k]) as an F16Matrix.
func newF16Matrix(b []uint16, n, k int) *F16Matrix {
	w := NewF16Matrix(n, k)
	w.SetRows(0, b[:n*k])
	return w
}

// TestF16MatrixLayout checks SetRow, SetRows, Row and rowRange against the
// documented layout, and that the padding stays zero.
func TestF16MatrixLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, s := range [][2]int{{1, 1}, {3, 31}, {8, 32}, {9, 33}, {17, 100}, {16, 64}, {5, 0}, {0, 7}} {
		n, k := s[0], s[1]
		b := make([]uint16, n*k)
		for i := range b {
			b[i] = uint16(rng.Uint32())
		}
		w := newF16Matrix(b, n, k)
		if got, want := w.Bytes(), 64*F16Rows*ceilDiv(n, F16Rows)*ceilDiv(k, 32); got != want {
			t.Fatalf("%d×%d: %d bytes, want %d", n, k, got, want)
		}
		// Every stored value where the layout says, zeros elsewhere.
		want := make([]uint16, len(w.data))
		for r := 0; r < n; r++ {
			for p := 0; p < k; p++ {
				const cl = 32 * F16Rows // values per chunk of a tile
				want[r/F16Rows*cl*ceilDiv(k, 32)+p/32*cl+r%F16Rows*32+p%32] = b[r*k+p]
			}
		}
		for i := range want {
			if w.data[i] != want[i] {
				t.Fatalf("%d×%d: data[%d] = %#x, want %#x", n, k, i, w.data[i], want[i])
			}
		}
		row := make([]uint16, k)
		for r := 0; r < n; r++ {
			w.Row(row, r)
			for p := range row {
				if row[p] != b[r*k+p] {
					t.Fatalf("%d×%d: Row(%d)[%d] = %#x, want %#x", n, k, r, p, row[p], b[r*k+p])
				}
			}
			for try := 0; try < 5 && k > 0; try++ {
				p0 := rng.IntN(k)
				p1 := p0 + rng.IntN(k-p0+1)
				part := make([]uint16, p1-p0)
				w.rowRange(part, r, p0, p1)
				for p := p0; p < p1; p++ {
					if part[p-p0] != b[r*k+p] {
						t.Fatalf("%d×%d: rowRange(%d, %d, %d)[%d] wrong", n, k, r, p0, p1, p)
					}
				}
			}
		}
		// SetRow one row over again.
		if n > 0 && k > 0 {
			for p := range row {
				row[p] = uint16(p)
			}
			w.SetRow(n-1, row)
			got := make([]uint16, k)
			w.Row(got, n-1)
			for p := range got {
				if got[p] != uint16(p) {
					t.Fatalf("%d×%d: SetRow then Row: [%d] = %d", n, k, p, got[p])
				}
			}
		}
	}
}

// f16Shapes are products around the tile sizes (8 rows of B, chunks of 32,
// vectors of 16), m from 1 to the streaming limit and beyond, and long k.
func f16Shapes() [][3]int {
	var shapes [][3]int
	ms := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 40}
	ns := []int{1, 7, 8, 9, 15, 16, 17, 24, 37, 64, 100}
	ks := []int{1, 15, 16, 17, 31, 32, 33, 47, 48, 63, 100, 250}
	for i, m := range ms {
		for j, n := range ns {
			shapes = append(shapes, [3]int{m, n, ks[(i*5+j*3)%len(ks)]})
		}
	}
	return append(shapes, [3]int{1, 37, 1000}, [3]int{1, 9, 2100}, [3]int{2, 13, 3001}, [3]int{5, 40, 1296},
		[3]int{3, 300, 1025}, [3]int{8, 33, 2816}, [3]int{17, 29, 2049}, [3]int{1, 1, 1})
}

// checkF16Matrix compares MatMulNTF16Matrix on o with MatMulNTF16 (bit for
// bit) and, through maxRelErr, with the float64 product; c carries a guard
// region that must stay untouched.
func checkF16Matrix(t testing.TB, o *operands, w *F16Matrix) float64 {
	t.Helper()
	const guard = 37
	want := make([]float32, o.m*o.n)
	MatMulNTF16(want, o.a, o.bF16, o.m, o.n, o.k)
	c := make([]float32, o.m*o.n+guard)
	for i := range c {
		c[i] = float32(math.NaN())
	}
	for i := o.m * o.n; i < len(c); i++ {
		c[i] = 12345
	}
	MatMulNTF16Matrix(c[:o.m*o.n], o.a, w, o.m)
	for i := o.m * o.n; i < len(c); i++ {
		if c[i] != 12345 {
			t.Fatalf("m=%d n=%d k=%d: wrote past c[m·n] at %d", o.m, o.n, o.k, i)
		}
	}
	for i := range want {
		if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
			t.Fatalf("m=%d n=%d k=%d isa=%v threads=%d: c[%d] = %v, MatMulNTF16 gives %v",
				o.m, o.n, o.k, activeISA, Threads(), i, c[i], want[i])
		}
	}
	e := maxRelErr(c, o.a, o.bF16f, o.m, o.n, o.k)
	if e > relTol {
		t.Fatalf("m=%d n=%d k=%d isa=%v: max relative error %.3g > %.3g", o.m, o.n, o.k, activeISA, e, relTol)
	}
	return e
}

// TestMatMulNTF16Matrix checks every path and thread count on ragged
// shapes: identical to MatMulNTF16, and within relTol of the reference.
func TestMatMulNTF16Matrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	shapes := f16Shapes()
	ops := make([]*operands, len(shapes))
	ws := make([]*F16Matrix, len(shapes))
	for i, s := range shapes {
		ops[i] = newOperands(rng, s[0], s[1], s[2])
		ws[i] = newF16Matrix(ops[i].bF16, s[1], s[2])
	}
	for _, isa := range paths() {
		for _, th := range []int{1, 3} {
			t.Run(fmt.Sprintf("%v/threads=%d", isa, th), func(t *testing.T) {
				worst := 0.0
				withISA(isa, func() {
					withThreads(th, func() {
						for i := range shapes {
							worst = max(worst, checkF16Matrix(t, ops[i], ws[i]))
						}
					})
				})
				t.Logf("%d shapes: identical to MatMulNTF16; max |c−ref|/Σ|ab| = %.3g", len(shapes), worst)
			})
		}
	}
}

// TestMatMulNTF16MatrixSmallBlocks shrinks the blocking: k blocks of 48
// (three vectors, so that blocks start inside a chunk), many units and m
// bands, small panels.
func TestMatMulNTF16MatrixSmallBlocks(t *testing.T) {
	saved := [2]int{kcMax, blockBytes}
	kcMax, blockBytes = 48, 2048
	defer func() { kcMax, blockBytes = saved[0], saved[1] }()
	rng := rand.New(rand.NewPCG(25, 26))
	for _, isa := range paths() {
		withISA(isa, func() {
			withThreads(3, func() {
				for _, s := range [][3]int{{1, 50, 100}, {1, 17, 97}, {2, 13, 33}, {3, 24, 130}, {5, 40, 64}, {8, 9, 200}, {17, 23, 97}, {40, 7, 130}} {
					o := newOperands(rng, s[0], s[1], s[2])
					checkF16Matrix(t, o, newF16Matrix(o.bF16, s[1], s[2]))
				}
			})
		})
	}
}

// TestMatMulNTF16MatrixRef compares with RefMatMulNTF16Matrix directly.
func TestMatMulNTF16MatrixRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	o := newOperands(rng, 3, 21, 77)
	w := newF16Matrix(o.bF16, o.n, o.k)
	c := make([]float32, o.m*o.n)
	ref := make([]float32, o.m*o.n)
	MatMulNTF16Matrix(c, o.a, w, o.m)
	RefMatMulNTF16Matrix(ref, o.a, w, o.m, half.F16ToF32)
	for i := range c {
		if d := math.Abs(float64(c[i] - ref[i])); d > 1e-4*(1+math.Abs(float64(ref[i]))) {
			t.Fatalf("c[%d] = %v, reference %v", i, c[i], ref[i])
		}
	}
}

// TestMatMulNTBatchF16Matrix runs tiled and row-major products in one
// batch: each equal to its own call.
func TestMatMulNTBatchF16Matrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	for _, isa := range paths() {
		withISA(isa, func() {
			withThreads(2, func() {
				for _, m := range []int{1, 4, 20} {
					o1 := newOperands(rng, m, 100, 64)
					o2 := newOperands(rng, m, 37, 64)
					o2.a = o1.a
					w1 := newF16Matrix(o1.bF16, o1.n, o1.k)
					c1 := make([]float32, m*o1.n)
					c2 := make([]float32, m*o2.n)
					c3 := make([]float32, m*o1.n)
					MatMulNTBatch(
						Product{C: c1, A: o1.a, F16M: w1, M: m, N: o1.n, K: o1.k},
						Product{C: c2, A: o2.a, F16: o2.bF16, M: m, N: o2.n, K: o2.k},
						Product{C: c3, A: o1.a, F16: o1.bF16, M: m, N: o1.n, K: o1.k},
					)
					want2 := make([]float32, m*o2.n)
					MatMulNTF16(want2, o2.a, o2.bF16, m, o2.n, o2.k)
					for i := range c1 {
						if c1[i] != c3[i] {
							t.Fatalf("%v m=%d: tiled c[%d] = %v, row-major %v", isa, m, i, c1[i], c3[i])
						}
					}
					for i := range c2 {
						if c2[i] != want2[i] {
							t.Fatalf("%v m=%d: batch c[%d] = %v, alone %v", isa, m, i, c2[i], want2[i])
						}
					}
				}
			})
		})
	}
}

func TestF16MatrixPanics(t *testing.T) {
	w := NewF16Matrix(3, 5)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"negative shape", func() { NewF16Matrix(-1, 3) }},
		{"row out of range", func() { w.SetRow(3, make([]uint16, 5)) }},
		{"short row", func() { w.SetRow(0, make([]uint16, 4)) }},
		{"rows out of range", func() { w.SetRows(1, make([]uint16, 15)) }},
		{"short dst", func() { w.Row(make([]uint16, 4), 0) }},
		{"short c", func() { MatMulNTF16Matrix(make([]float32, 5), make([]float32, 10), w, 2) }},
		{"short a", func() { MatMulNTF16Matrix(make([]float32, 6), make([]float32, 9), w, 2) }},
		{"batch shape", func() {
			MatMulNTBatch(Product{C: make([]float32, 6), A: make([]float32, 10), F16M: w, M: 2, N: 3, K: 4})
		}},
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

// TestF16MatrixAllocs checks that steady-state calls allocate nothing.
func TestF16MatrixAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	o := newOperands(rng, 40, 96, 130)
	w := newF16Matrix(o.bF16, o.n, o.k)
	c := make([]float32, o.m*o.n)
	withThreads(2, func() {
		for _, v := range []struct {
			name string
			f    func()
		}{
			{"gemv", func() { MatMulNTF16Matrix(c[:o.n], o.a[:o.k], w, 1) }},
			{"m=5", func() { MatMulNTF16Matrix(c[:5*o.n], o.a[:5*o.k], w, 5) }},
			{"packed", func() { MatMulNTF16Matrix(c, o.a, w, o.m) }},
		} {
			v.f()
			if n := testing.AllocsPerRun(50, v.f); n > 0.1 {
				t.Errorf("%s: %v allocations per call", v.name, n)
			}
		}
	})
}

// TestF16MatricesShared checks a shared allocation: aligned, zero,
// disjoint, and kept alive by any of its matrices.
func TestF16MatricesShared(t *testing.T) {
	ws := NewF16Matrices([2]int{1024, 1024}, [2]int{3, 100}, [2]int{0, 5}, [2]int{2816, 1024})
	for i, w := range ws {
		if len(w.data) == 0 {
			continue
		}
		if p := uintptr(unsafe.Pointer(&w.data[0])); p%64 != 0 {
			t.Errorf("matrix %d: not 64-byte aligned", i)
		}
		for _, v := range w.data {
			if v != 0 {
				t.Fatalf("matrix %d not zero", i)
			}
		}
	}
	last := ws[3]
	ws = nil
	runtime.GC()
	runtime.GC()
	row := make([]uint16, 1024)
	for i := range row {
		row[i] = uint16(i)
	}
	last.SetRow(2815, row)
	got := make([]uint16, 1024)
	last.Row(got, 2815)
	if got[1023] != 1023 {
		t.Fatal("row lost")
	}
}

// FuzzMatMulNTF16Matrix compares MatMulNTF16Matrix with MatMulNTF16 on
// random shapes and data, on every path.
func FuzzMatMulNTF16Matrix(f *testing.F) {
	f.Add(uint64(1), uint8(1), uint8(9), uint16(33))
	f.Add(uint64(2), uint8(3), uint8(17), uint16(1100))
	f.Add(uint64(3), uint8(8), uint8(8), uint16(31))
	f.Add(uint64(4), uint8(30), uint8(5), uint16(2000))
	f.Fuzz(func(t *testing.T, seed uint64, m, n uint8, k uint16) {
		mm, nn, kk := int(m%40), int(n%80), int(k%2200)
		rng := rand.New(rand.NewPCG(seed, 99))
		o := newOperands(rng, mm, nn, kk)
		w := newF16Matrix(o.bF16, nn, kk)
		th := int(seed%4) + 1
		for _, isa := range paths() {
			withISA(isa, func() { withThreads(th, func() { checkF16Matrix(t, o, w) }) })
		}
	})
}

// TestTileF16InPlace checks the in-place reordering against SetRows (the
// same layout), RowFloat32, and the shapes it declines.
func TestTileF16InPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	for _, s := range [][2]int{{4, 32}, {8, 64}, {12, 96}, {64, 1024}, {4, 31}, {6, 32}, {0, 0}} {
		n, k := s[0], s[1]
		o := newOperands(rng, 1, n, k)
		want := newF16Matrix(o.bF16, n, k)
		b := append([]uint16(nil), o.bF16...)
		w := TileF16InPlace(b, n, k)
		if n%4 != 0 || k%32 != 0 {
			if w != nil {
				t.Fatalf("%d×%d: tiled in place, want nil", n, k)
			}
			continue
		}
		for i := range want.data {
			if w.data[i] != want.data[i] {
				t.Fatalf("%d×%d: data[%d] = %#x, SetRows gives %#x", n, k, i, w.data[i], want.data[i])
			}
		}
		f := make([]float32, k)
		for r := 0; r < n; r++ {
			w.RowFloat32(f, r)
			for p := range f {
				if f[p] != o.bF16f[r*k+p] {
					t.Fatalf("%d×%d: RowFloat32(%d)[%d] = %v, want %v", n, k, r, p, f[p], o.bF16f[r*k+p])
				}
			}
		}
	}
	// A large one, reordered in parallel.
	withThreads(3, func() {
		o := newOperands(rng, 2, 1024, 1024)
		w := TileF16InPlace(append([]uint16(nil), o.bF16...), 1024, 1024)
		checkF16Matrix(t, o, w)
	})
}
