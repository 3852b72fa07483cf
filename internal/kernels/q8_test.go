package kernels

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/half"
)

// q8Paths returns the Q8 kernel paths this CPU can run, as the instruction
// sets that select them.
func q8Paths() []isaKind {
	var p []isaKind
	seen := map[q8Kind]bool{}
	for _, isa := range paths() {
		var k q8Kind
		withISA(isa, func() { k = q8Path() })
		if !seen[k] {
			seen[k] = true
			p = append(p, isa)
		}
	}
	return p
}

func q8PathName(isa isaKind) string {
	var k q8Kind
	withISA(isa, func() { k = q8Path() })
	return [...]string{"generic", "avx2", "vnni"}[k]
}

// newQ8 quantises the [rows, cols] matrix src.
func newQ8(t testing.TB, src []float32, rows, cols int) *Q8Matrix {
	t.Helper()
	w := NewQ8Matrix(rows, cols)
	for r := 0; r < rows; r++ {
		if err := w.SetRow(r, src[r*cols:(r+1)*cols]); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// q8Scale returns the stored scale of block b of row r.
func q8Scale(w *Q8Matrix, r, b int) float32 {
	if b >= w.nb { // an unused slot of the last group
		g := (w.nb - 1) / 16
		_, _, sc := q8WPos(w.nb, r%4, 16*g)
		sc += 2 * (b - 16*g)
		return half.F16ToF32(binary.LittleEndian.Uint16(w.data[r/4*w.tileBytes+sc:]))
	}
	_, _, sc := q8WPos(w.nb, r%4, b)
	return half.F16ToF32(binary.LittleEndian.Uint16(w.data[r/4*w.tileBytes+sc:]))
}

// TestQ8RoundTrip checks the quantiser: every scale is max|w|/127 rounded
// up to binary16 (within one binary16 step), every value comes back within
// half a scale, zeros stay zeros, and the unused scale slots are zero.
func TestQ8RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, cols := range []int{1, 31, 32, 33, 64, 100, 172, 512, 513, 544, 1024, 2688} {
		for _, mag := range []float64{1e-7, 1e-3, 0.05, 1, 3e4, 1e6} {
			rows := 3
			src := make([]float32, rows*cols)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * mag)
			}
			clear(src[cols : 2*cols]) // an all-zero row
			w := newQ8(t, src, rows, cols)
			for _, isa := range q8Paths() { // the assembly quantiser writes the same bytes
				var wi *Q8Matrix
				withISA(isa, func() { wi = newQ8(t, src, rows, cols) })
				if !bytes.Equal(wi.data, w.data) {
					t.Fatalf("cols %d mag %g: the %s quantiser differs", cols, mag, q8PathName(isa))
				}
			}
			got := make([]float32, cols)
			var worst float64
			for r := 0; r < rows; r++ {
				w.Row(got, r)
				for b := 0; b < w.nb; b++ {
					lo, hi := 32*b, min(32*b+32, cols)
					var amax float64
					for _, v := range src[r*cols+lo : r*cols+hi] {
						amax = max(amax, math.Abs(float64(v)))
					}
					d := float64(q8Scale(w, r, b))
					want := float64(float32(amax) / 127)
					// Rounded up by at most one binary16 step: relative 2⁻¹⁰
					// for normal scales, 2⁻²⁴ absolute for subnormal ones.
					if d < want || d > want*(1+1.0/1024)+math.Exp2(-24) {
						t.Fatalf("cols %d mag %g row %d block %d: scale %g for max|w| %g", cols, mag, r, b, d, amax)
					}
					for e := lo; e < hi; e++ {
						err := math.Abs(float64(got[e]) - float64(src[r*cols+e]))
						if err > d/2*(1+1e-6) {
							t.Fatalf("cols %d mag %g row %d col %d: %g → %g, error %g > d/2 = %g", cols, mag, r, e, src[r*cols+e], got[e], err, d/2)
						}
						if d > 0 {
							worst = max(worst, err/d)
						}
					}
				}
				for s := w.nb; s < 16*ceilDiv(w.nb, 16); s++ {
					if q8Scale(w, r, s) != 0 {
						t.Fatalf("cols %d: unused scale slot %d of row %d is %g", cols, s, r, q8Scale(w, r, s))
					}
				}
			}
			w.Row(got, 1)
			for _, v := range got {
				if v != 0 {
					t.Fatalf("cols %d: the zero row quantised to non-zero values", cols)
				}
			}
			if worst > 0.5+1e-6 {
				t.Fatalf("cols %d mag %g: worst error %g scales", cols, mag, worst)
			}
		}
	}
}

// TestQ8SetRowErrors checks that values the format cannot hold are errors.
func TestQ8SetRowErrors(t *testing.T) {
	for _, isa := range q8Paths() {
		for _, cols := range []int{40, 64, 544} {
			w := NewQ8Matrix(1, cols)
			for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e7, -9e6} {
				src := make([]float32, cols)
				src[35] = v
				var err error
				withISA(isa, func() { err = w.SetRow(0, src) })
				if err == nil || !strings.Contains(err.Error(), "column 35") {
					t.Errorf("%s, %d columns: SetRow with %g: error %v, want one naming column 35", q8PathName(isa), cols, v, err)
				}
			}
		}
	}
	w := NewQ8Matrix(1, 40)
	src := make([]float32, 40)
	src[3] = 8.3e6 // 65504·127 = 8319008: the largest that fits
	if err := w.SetRow(0, src); err != nil {
		t.Errorf("SetRow with 8.3e6: %v", err)
	}
	for _, f := range []func(){
		func() { w.SetRow(1, src) },
		func() { w.SetRow(0, src[:39]) },
		func() { w.Row(make([]float32, 39), 0) },
		func() { NewQ8Matrix(-1, 3) },
		func() { MatMulNTQ8(make([]float32, 1), make([]float32, 40), w, 2) },
		func() { MatMulNTQ8(make([]float32, 2), make([]float32, 79), w, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("bad shape did not panic")
				}
			}()
			f()
		}()
	}
}

// TestQ8ActQuantizer checks the activation quantiser of every path
// (interleaved layout, scales, corrections) against RefQuantizeQ8Row.
func TestQ8ActQuantizer(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, isa := range q8Paths() {
		for _, k := range []int{1, 32, 45, 172, 512, 544, 600, 1024, 2688} {
			x := make([]float32, k)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * math.Exp(3*rng.NormFloat64()))
				if rng.IntN(50) == 0 { // ties: x·(1/d) = n + 0.5 in places
					x[i] = float32(rng.IntN(254)-127) + 0.5
				}
			}
			clear(x[:min(k, 40)]) // a zero block
			nb := ceilDiv(k, 32)
			buf := make([]byte, q8ActStride(nb))
			for i := range buf {
				buf[i] = 0xa5 // stale contents must not leak through
			}
			withISA(isa, func() { q8QuantizeAct(buf, x, k, nb) })
			q, d := RefQuantizeQ8Row(x)
			meta := buf[32*nb:]
			name := q8PathName(isa)
			for b := 0; b < nb; b++ {
				pos, cs := q8Pos(nb, b)
				var sum int32
				for e := 0; e < 32; e++ {
					got := int8(buf[pos+(e>>2)*cs+e&3])
					if got != q[32*b+e] {
						t.Fatalf("%s k %d block %d value %d: %d, want %d", name, k, b, e, got, q[32*b+e])
					}
					sum += int32(got)
				}
				g, j := b/16, b%16
				if dx := math.Float32frombits(binary.LittleEndian.Uint32(meta[128*g+4*j:])); dx != d[b] {
					t.Fatalf("%s k %d block %d: scale %g, want %g", name, k, b, dx, d[b])
				}
				if c := int32(binary.LittleEndian.Uint32(meta[128*g+64+4*j:])); c != -128*sum {
					t.Fatalf("%s k %d block %d: correction %d, want %d", name, k, b, c, -128*sum)
				}
			}
			for g := 0; g < ceilDiv(nb, 16); g++ {
				for j := min(16, nb-16*g); j < 16; j++ {
					if binary.LittleEndian.Uint32(meta[128*g+4*j:]) != 0 || binary.LittleEndian.Uint32(meta[128*g+64+4*j:]) != 0 {
						t.Fatalf("%s k %d group %d: unused slot %d not zero", name, k, g, j)
					}
				}
			}
		}
	}
}

// q8Operands is a random Q8 product.
type q8Operands struct {
	m, n, k int
	a       []float32
	w       *Q8Matrix
	wf      []float32 // the float weights that were quantised
}

func newQ8Operands(t testing.TB, rng *rand.Rand, m, n, k int) *q8Operands {
	o := &q8Operands{m: m, n: n, k: k, a: make([]float32, m*k), wf: make([]float32, n*k)}
	for i := range o.a {
		o.a[i] = float32(rng.NormFloat64())
	}
	for i := range o.wf {
		o.wf[i] = float32(rng.NormFloat64() * 0.05)
	}
	o.w = newQ8(t, o.wf, n, k)
	return o
}

// q8Bound returns, per output, Σ_blocks |d_a|·Σ|q_a·w|: the scale of the
// float32 rounding errors of a Q8 product.
func (o *q8Operands) bound() []float64 {
	bnd := make([]float64, o.m*o.n)
	w := make([]float32, o.k)
	for j := 0; j < o.n; j++ {
		o.w.Row(w, j)
		for i := 0; i < o.m; i++ {
			q, d := RefQuantizeQ8Row(o.a[i*o.k : (i+1)*o.k])
			var s float64
			for e, v := range w {
				s += math.Abs(float64(d[e/32]) * float64(q[e]) * float64(v))
			}
			bnd[i*o.n+j] = s
		}
	}
	return bnd
}

// check runs MatMulNTQ8 on every path and thread count and compares it
// with the reference; it returns the worst error relative to the bound.
func (o *q8Operands) check(t testing.TB) float64 {
	t.Helper()
	ref := make([]float32, o.m*o.n)
	RefMatMulNTQ8(ref, o.a, o.w, o.m)
	bnd := o.bound()
	var worst float64
	for _, isa := range q8Paths() {
		var first []float32
		for _, th := range []int{1, 2, 3} {
			c := make([]float32, o.m*o.n)
			for i := range c {
				c[i] = float32(math.NaN())
			}
			withISA(isa, func() { withThreads(th, func() { MatMulNTQ8(c, o.a, o.w, o.m) }) })
			for i, v := range c {
				e := math.Abs(float64(v) - float64(ref[i]))
				if !(e <= relTol*bnd[i]+1e-30) {
					t.Fatalf("%s m=%d n=%d k=%d threads %d: c[%d] = %g, reference %g (error %g, bound %g)",
						q8PathName(isa), o.m, o.n, o.k, th, i, v, ref[i], e, relTol*bnd[i])
				}
				if bnd[i] > 0 {
					worst = max(worst, e/bnd[i])
				}
			}
			if first == nil {
				first = c
			} else if !equalBits(first, c) {
				t.Fatalf("%s m=%d n=%d k=%d: %d threads changed the result", q8PathName(isa), o.m, o.n, o.k, th)
			}
		}
		// Each row on its own gives the same bits as the batch.
		row := make([]float32, o.n)
		for i := 0; i < o.m; i++ {
			withISA(isa, func() { MatMulNTQ8(row, o.a[i*o.k:(i+1)*o.k], o.w, 1) })
			if !equalBits(row, first[i*o.n:(i+1)*o.n]) {
				t.Fatalf("%s m=%d n=%d k=%d: row %d alone differs from the batch", q8PathName(isa), o.m, o.n, o.k, i)
			}
		}
	}
	return worst
}

func equalBits(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestQ8MatMul compares every Q8 path with the reference over shapes that
// cover whole and partial groups (k up to 2688, blocks padded), edge tiles
// in both directions and several thread counts.
func TestQ8MatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var worst float64
	for _, k := range []int{1, 7, 32, 33, 64, 172, 256, 480, 512, 544, 1024, 1056, 2688} {
		for _, mn := range [][2]int{{1, 1}, {1, 4}, {1, 13}, {2, 8}, {3, 5}, {5, 9}, {17, 33}} {
			worst = max(worst, newQ8Operands(t, rng, mn[0], mn[1], k).check(t))
		}
	}
	t.Logf("paths %v: worst error %.3g of Σ|terms| (tolerance %g)", q8Names(), worst, relTol)
}

func q8Names() []string {
	var s []string
	for _, isa := range q8Paths() {
		s = append(s, q8PathName(isa))
	}
	return s
}

// TestQ8MatMulBlocking runs shapes with many units (small L2 blocks), so
// that units, bands of rows and the parallel quantisation all split.
func TestQ8MatMulBlocking(t *testing.T) {
	saved := blockBytes
	blockBytes = 4 << 10
	defer func() { blockBytes = saved }()
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range [][3]int{{40, 70, 300}, {9, 130, 1100}, {64, 8, 64}} {
		newQ8Operands(t, rng, s[0], s[1], s[2]).check(t)
	}
}

// TestQ8Accuracy measures the error of the Q8 product against the float32
// product of the unquantised operands: both operands rounded to 8 bits per
// block give a relative RMS error near 1 %.
func TestQ8Accuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	m, n, k := 8, 256, 1024
	o := newQ8Operands(t, rng, m, n, k)
	exact := make([]float32, m*n)
	RefMatMulNT(exact, o.a, o.wf, m, n, k)
	got := make([]float32, m*n)
	MatMulNTQ8(got, o.a, o.w, m)
	var d2, y2 float64
	for i := range got {
		d := float64(got[i]) - float64(exact[i])
		d2 += d * d
		y2 += float64(exact[i]) * float64(exact[i])
	}
	rel := math.Sqrt(d2 / y2)
	t.Logf("Q8 product vs float32 product: relative RMS error %.3g", rel)
	if rel > 0.02 {
		t.Errorf("relative RMS error %g > 2%%", rel)
	}
}

// TestQ8Zero checks k == 0, m == 0 and n == 0.
func TestQ8Zero(t *testing.T) {
	c := []float32{1, 2, 3}
	MatMulNTQ8(c, nil, NewQ8Matrix(3, 0), 1)
	if c[0] != 0 || c[1] != 0 || c[2] != 0 {
		t.Errorf("k = 0: %v, want zeros", c)
	}
	MatMulNTQ8(nil, nil, NewQ8Matrix(3, 5), 0)
	MatMulNTQ8(nil, make([]float32, 5), NewQ8Matrix(0, 5), 1)
}

// TestQ8Allocs checks that decode-sized products allocate nothing.
func TestQ8Allocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, m := range []int{1, 4, 16} {
		o := newQ8Operands(t, rng, m, 300, 512)
		c := make([]float32, m*300)
		withThreads(2, func() {
			MatMulNTQ8(c, o.a, o.w, m)
			if n := testing.AllocsPerRun(50, func() { MatMulNTQ8(c, o.a, o.w, m) }); n > 0 {
				t.Errorf("m = %d: %v allocations per call", m, n)
			}
		})
	}
}

// FuzzMatMulNTQ8 compares every path with the reference on shapes and
// values drawn from the input (including zero blocks, huge and tiny
// magnitudes).
func FuzzMatMulNTQ8(f *testing.F) {
	f.Add(uint8(1), uint8(4), uint16(32), uint64(1), 1.0)
	f.Add(uint8(3), uint8(7), uint16(545), uint64(2), 1e-6)
	f.Add(uint8(2), uint8(1), uint16(2000), uint64(3), 3e4)
	f.Fuzz(func(t *testing.T, m, n uint8, k uint16, seed uint64, scale float64) {
		mm, nn, kk := int(m%9)+1, int(n%17)+1, int(k%3000)+1
		if math.IsNaN(scale) || math.IsInf(scale, 0) || math.Abs(scale) > 1e4 || math.Abs(scale) < 1e-30 {
			scale = 1
		}
		rng := rand.New(rand.NewPCG(seed, 13))
		o := &q8Operands{m: mm, n: nn, k: kk, a: make([]float32, mm*kk), wf: make([]float32, nn*kk)}
		for i := range o.a {
			if rng.IntN(8) > 0 {
				o.a[i] = float32(rng.NormFloat64() * scale)
			}
		}
		for i := range o.wf {
			if rng.IntN(8) > 0 {
				o.wf[i] = float32(rng.NormFloat64() * math.Exp(2*rng.NormFloat64()))
			}
		}
		o.w = newQ8(t, o.wf, nn, kk)
		o.check(t)
	})
}

func ExampleMatMulNTQ8() {
	// A 2×64 weight, quantised, times one activation row.
	w := NewQ8Matrix(2, 64)
	row := make([]float32, 64)
	for i := range row {
		row[i] = 0.5
	}
	w.SetRow(0, row)
	for i := range row {
		row[i] = float32(i % 2)
	}
	w.SetRow(1, row)
	x := make([]float32, 64)
	for i := range x {
		x[i] = 1
	}
	y := make([]float32, 2)
	MatMulNTQ8(y, x, w, 1)
	fmt.Printf("%.1f %.1f\n", y[0], y[1]) // 32 each, within the 8-bit rounding
	// Output: 32.0 32.0
}

// TestQ8NaN checks that a NaN or infinite activation makes its row's
// outputs NaN or infinite on every path (never a finite value), leaving
// the other rows finite.
func TestQ8NaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	o := newQ8Operands(t, rng, 3, 8, 544)
	o.a[544+100] = float32(math.NaN())
	o.a[2*544+3] = float32(math.Inf(-1))
	for _, isa := range q8Paths() {
		c := make([]float32, 3*8)
		withISA(isa, func() { MatMulNTQ8(c, o.a, o.w, 3) })
		for j := 0; j < 8; j++ {
			finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
			if !finite(c[j]) || finite(c[8+j]) || finite(c[16+j]) {
				t.Fatalf("%s: outputs %v, want row 0 finite and rows 1, 2 not", q8PathName(isa), c)
			}
		}
	}
}
