package tokenizer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// withW4 runs fn with F(4,3) enabled for the layers useWinograd4 accepts,
// on the assembly kernels if asm (and the CPU has them) or else on their
// Go references.
func withW4(t testing.TB, asm bool, fn func()) {
	t.Helper()
	oldE, oldA := w4Enabled, w4Asm
	defer func() { w4Enabled, w4Asm = oldE, oldA }()
	w4Enabled, w4Asm = true, asm && haveAVX512
	fn()
}

// TestWinograd4Identity checks that Bᵀ and Aᵀ as coded (bt6, at6, whose
// coefficients are exact in float32) and G (w4G) make a correct F(4,3):
// Σ_j Aᵀ[i][j]·G[j][k]·Bᵀ[j][l] = [l = i+k], so that y_i = Σ_k d_{i+k}·g_k.
func TestWinograd4Identity(t *testing.T) {
	var Bt [6][6]float64 // Bᵀ[j][l]: bt6 of the unit vector e_l, entry j
	var At [4][6]float64
	for l := 0; l < 6; l++ {
		var e [6]float32
		e[l] = 1
		v, y := bt6(e), at6(e)
		for j := range v {
			Bt[j][l] = float64(v[j])
		}
		for i := range y {
			At[i][l] = float64(y[i])
		}
	}
	var worst float64
	for i := 0; i < 4; i++ {
		for k := 0; k < 3; k++ {
			for l := 0; l < 6; l++ {
				var s float64
				for j := 0; j < 6; j++ {
					s += At[i][j] * w4G[j][k] * Bt[j][l]
				}
				want := 0.0
				if l == i+k {
					want = 1
				}
				worst = math.Max(worst, math.Abs(s-want))
			}
		}
	}
	t.Logf("max deviation from the identity %.3g", worst)
	if worst > 1e-14 {
		t.Errorf("F(4,3) matrices are inconsistent: max deviation %.3g", worst)
	}
}

// TestWinogradWeightTransforms checks the written-out G of F(4,3) (wG6)
// against w4G and that of F(2,3) (wG4) against winogradWeights' matrix,
// and the packed layout against the plain one.
func TestWinogradWeightTransforms(t *testing.T) {
	G2 := [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	rng := rand.New(rand.NewPCG(21, 22))
	for k := 0; k < 100; k++ {
		a, b, c := rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
		var v6, v4 [6]float64
		wG6(a, b, c, &v6)
		wG4(a, b, c, &v4)
		for r := 0; r < 6; r++ {
			if want := w4G[r][0]*a + w4G[r][1]*b + w4G[r][2]*c; math.Abs(v6[r]-want) > 1e-14*(1+math.Abs(want)) {
				t.Fatalf("wG6 row %d: %v, want %v", r, v6[r], want)
			}
		}
		for r := 0; r < 4; r++ {
			if want := G2[r][0]*a + G2[r][1]*b + G2[r][2]*c; math.Abs(v4[r]-want) > 1e-14*(1+math.Abs(want)) {
				t.Fatalf("wG4 row %d: %v, want %v", r, v4[r], want)
			}
		}
	}
	const cout, cin = 70, 5
	w := randF32(rng, cout*cin*9, -1, 1)
	plain, packed := winogradWeights(w, cout, cin, false), winogradWeights(w, cout, cin, true)
	np := w4ceil(cout, w4Panel)
	for x := 0; x < 16; x++ {
		for o := 0; o < np*w4Panel; o++ {
			for i := 0; i < cin; i++ {
				got := packed[((x*np+o/w4Panel)*cin+i)*w4Panel+o%w4Panel]
				want := float32(0)
				if o < cout {
					want = plain[(x*cout+o)*cin+i]
				}
				if math.Abs(float64(got-want)) > 1e-6*(1+math.Abs(float64(want))) {
					t.Fatalf("packed U[%d][%d][%d] = %v, want %v", x, o, i, got, want)
				}
			}
		}
	}
}

// TestWinograd4Accuracy measures the error of one F(4,3) convolution of the
// released layer shape (128 → 128 channels, PyTorch's weight scale, inputs
// after GroupNorm+SiLU) against float64 direct convolution, next to
// F(2,3) and im2col, all relative to the output's RMS.
func TestWinograd4Accuracy(t *testing.T) {
	const C, S = 128, 20
	rng := rand.New(rand.NewPCG(11, 12))
	lim := float32(1 / math.Sqrt(C*9))
	p := map[string][]float32{"c.weight": randF32(rng, C*C*9, -lim, lim), "c.bias": randF32(rng, C, -0.1, 0.1)}
	xs := make([]float32, C*S*S)
	for i := range xs {
		v := rng.NormFloat64()
		xs[i] = float32(v / (1 + math.Exp(-v)))
	}
	x := refFromF32(C, S, S, xs)
	want := (&refNet{p: p}).conv3(x, "c", C)
	var rms float64
	for _, v := range want.d {
		rms += v * v
	}
	rms = math.Sqrt(rms / float64(len(want.d)))
	errs := map[string]float64{}
	for _, m := range []struct {
		name string
		b    builder
	}{
		{"im2col", builder{noWinograd: true}},
		{"F(2,3)", builder{noW4: true}},
		{"F(4,3)", builder{size: 1 << 20}},
	} {
		withW4(t, true, func() {
			m.b.src = &mapSource{params: p}
			cv := m.b.conv("c", C, C, 3, geomSame)
			got := chwOf(cv.forward(&workspace{}, hwcAct(x), geomSame, nil))
			var mx, se float64
			for i, v := range got {
				d := math.Abs(float64(v) - want.d[i])
				mx = math.Max(mx, d)
				se += d * d
			}
			errs[m.name] = mx / rms
			t.Logf("%-7s max |Δ|/rms %.3g, rms(Δ)/rms %.3g", m.name, mx/rms, math.Sqrt(se/float64(len(got)))/rms)
		})
	}
	// Measured (max, rms): im2col 1.3e-6, 2.2e-7; F(2,3) 1.9e-6, 3.4e-7;
	// F(4,3) 1.3e-5, 1.4e-6: the larger transforms of 6×6 tiles round
	// about ten times more.
	if errs["F(4,3)"] > 4e-5 {
		t.Errorf("F(4,3) max error %.3g of the output RMS > 4e-5", errs["F(4,3)"])
	}
}

// TestW4GemmMatchesReference compares the product kernel with its Go
// reference and with float64 over edge shapes (k = 1, odd k, strides).
func TestW4GemmMatchesReference(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 kernels on this machine")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, s := range []struct{ k, mt, lda, ldc int }{
		{1, 1, 1, 64}, {3, 2, 5, 64}, {16, 1, 16, 128}, {27, 3, 27, 64}, {128, 5, 130, 192}, {257, 2, 257, 64},
	} {
		a := randF32(rng, (6*s.mt-1)*s.lda+s.k, -1, 1)
		b := randF32(rng, s.k*w4Panel, -1, 1)
		got := randF32(rng, (6*s.mt-1)*s.ldc+w4Panel, -1, 1)
		ref := append([]float32(nil), got...)
		var bias []float32
		if s.k%2 == 1 {
			bias = randF32(rng, w4Panel, -1, 1)
		}
		w4gemmAsm(got, s.ldc, a, s.lda, b, s.k, s.mt, bias)
		w4gemmGo(ref, s.ldc, a, s.lda, b, s.k, s.mt, bias)
		var worst float64
		for r := 0; r < 6*s.mt; r++ {
			for j := 0; j < w4Panel; j++ {
				var exact, mag float64
				if bias != nil {
					exact, mag = float64(bias[j]), math.Abs(float64(bias[j]))
				}
				for p := 0; p < s.k; p++ {
					v := float64(a[r*s.lda+p]) * float64(b[p*w4Panel+j])
					exact += v
					mag += math.Abs(v)
				}
				g, f := float64(got[r*s.ldc+j]), float64(ref[r*s.ldc+j])
				bound := float64(s.k+1) * 0x1p-24 * mag
				if math.Abs(g-exact) > bound || math.Abs(f-exact) > bound {
					t.Fatalf("k=%d mt=%d row %d col %d: asm %v, Go %v, exact %v", s.k, s.mt, r, j, g, f, exact)
				}
				worst = math.Max(worst, math.Abs(g-f)/(mag+1e-30))
			}
			// Columns between rows (stride padding) stay untouched.
			if r < 6*s.mt-1 {
				for j := w4Panel; j < s.ldc; j++ {
					if got[r*s.ldc+j] != ref[r*s.ldc+j] {
						t.Fatalf("k=%d: wrote past the panel at row %d col %d", s.k, r, j)
					}
				}
			}
		}
		t.Logf("k=%d mt=%d: max |asm − Go| / Σ|a·b| = %.3g", s.k, s.mt, worst)
	}
}

// w4TransformCase builds random inputs for the transform kernels: an input
// of n tiles along a row with some source rows zero (off < 0).
func w4TransformCase(rng *rand.Rand, nch, n int) (in []float32, off [36]int, step int) {
	step = 4 * nch
	rowLen := (6 + 4*n) * nch
	for p := range off {
		off[p] = (p/6)*rowLen + (p%6)*nch
		if rng.IntN(5) == 0 {
			off[p] = -1
		}
	}
	return randF32(rng, 6*rowLen, -2, 2), off, step
}

// TestW4TransformsMatchReference compares the assembly transforms with
// their Go references (equal up to fused multiply-add rounding).
func TestW4TransformsMatchReference(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 kernels on this machine")
	}
	rng := rand.New(rand.NewPCG(15, 16))
	for _, s := range []struct{ nch, n int }{{16, 1}, {32, 3}, {128, 5}} {
		t.Run(fmt.Sprintf("%d channels, %d tiles", s.nch, s.n), func(t *testing.T) {
			// Input transform.
			in, off, step := w4TransformCase(rng, s.nch, s.n)
			zeros := make([]float32, s.nch)
			ld := s.nch + 3
			vs := s.n*ld + 5
			got := make([]float32, 36*vs+7)
			ref := make([]float32, len(got))
			w4inAsm(got, 7, vs, ld, in, zeros, &off, step, s.n, s.nch)
			w4inGo(ref, 7, vs, ld, in, &off, step, s.n, 0, s.nch)
			if d := maxAbsDiff(got, ref); d > 4e-6 {
				t.Errorf("input transform: max |asm − Go| = %.3g", d)
			}
			// Output transform, with and without a residual, and some
			// outputs dropped.
			m := randF32(rng, 36*vs+7, -2, 2)
			bias := randF32(rng, s.nch, -1, 1)
			var oo [16]int
			for p := range oo {
				oo[p] = ((p/4)*(4*s.n+4) + p%4) * s.nch
				if p == 3 || p == 13 {
					oo[p] = -1
				}
			}
			size := (16*s.n + 20) * s.nch
			for _, withRes := range []bool{false, true} {
				var res []float32
				if withRes {
					res = randF32(rng, size, -1, 1)
				}
				og := randF32(rng, size, -1, 1)
				or := append([]float32(nil), og...)
				discard := make([]float32, s.nch)
				w4outAsm(og, res, m, 7, vs, ld, bias, &oo, 4*s.nch, s.n, s.nch, discard)
				w4outGo(or, res, m, 7, vs, ld, bias, &oo, 4*s.nch, s.n, 0, s.nch)
				if d := maxAbsDiff(og, or); d > 4e-5 {
					t.Errorf("output transform (residual %v): max |asm − Go| = %.3g", withRes, d)
				}
			}
		})
	}
}

// TestNormSiLUAsmMatchesGo compares the GroupNorm+SiLU kernel with the Go
// loop on rows of every width up to 40 (partial vectors) and on extreme
// arguments.
func TestNormSiLUAsmMatchesGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 kernels on this machine")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	for c := 1; c <= 40; c++ {
		rows := 3
		s := randF32(rng, rows*c, -30, 30)
		s[0] = 1e30
		s[len(s)-1] = -1e30
		mh, ml := randF32(rng, c, -1, 1), randF32(rng, c, -1e-7, 1e-7)
		sc, beta := randF32(rng, c, 0.5, 5), randF32(rng, c, -1, 1)
		got := make([]float32, rows*c+1)
		got[rows*c] = 42
		normSiLUAsm(got, s, rows, c, mh, ml, sc, beta)
		if got[rows*c] != 42 {
			t.Fatalf("c=%d: wrote past the rows", c)
		}
		for r := 0; r < rows; r++ {
			want := make([]float32, c)
			normSiLURowGo(want, s[r*c:(r+1)*c], mh, ml, sc, beta)
			for i, w := range want {
				g := got[r*c+i]
				// The kernel fuses (s − mh − ml)·sc + beta into one
				// rounding, so y may differ by an ulp of its terms, which
				// e^−y magnifies by up to |y| in relative terms.
				ts := float64(((s[r*c+i] - mh[i]) - ml[i]) * sc[i])
				y := math.Abs(ts + float64(beta[i]))
				tol := 4e-7*math.Abs(float64(w))*(1+y) + 1.2e-7*(math.Abs(ts)+math.Abs(float64(beta[i]))) + 1e-35
				if d := math.Abs(float64(g - w)); d > tol {
					t.Fatalf("c=%d row %d channel %d: asm %v, Go %v", c, r, i, g, w)
				}
			}
		}
	}
}

// TestWinograd4Choice checks which layers of the released configuration
// run as F(4,3): every stride-1 3×3 convolution at 32×32 and above of at
// most 512×512 channels, and none below.
func TestWinograd4Choice(t *testing.T) {
	withW4(t, true, func() {
		cfg := ReleasedConfig()
		m, err := (&builder{src: &shapeOnlySource{}}).build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var n4, n2 int
		count := func(c *conv) {
			switch {
			case c.u4 != nil:
				n4++
			case c.u != nil:
				n2++
			}
		}
		forEachConv(m, count)
		t.Logf("F(4,3): %d layers, F(2,3): %d layers", n4, n2)
		if n4 != 42 || n2 != 22 {
			t.Errorf("F(4,3) on %d layers and F(2,3) on %d, want 42 and 22", n4, n2)
		}
	})
}

// shapeOnlySource supplies zero weights of the asked shapes.
type shapeOnlySource struct{}

func (shapeOnlySource) fetch(name string, shape []int) []float32 {
	return make([]float32, numElements(shape))
}
func (shapeOnlySource) err() error { return nil }

// forEachConv calls fn on every 3×3 stride-1 convolution of m.
func forEachConv(m *model, fn func(*conv)) {
	res := func(r *resBlock) { fn(&r.conv1); fn(&r.conv2) }
	mid := func(mb *midBlock) { res(&mb.block1); res(&mb.block2) }
	for _, ls := range [][]level{m.enc.levels, m.dec.levels} {
		for i := range ls {
			for j := range ls[i].blocks {
				res(&ls[i].blocks[j])
			}
			if c := ls[i].rconv; c != nil {
				fn(c)
			}
		}
	}
	mid(&m.enc.mid)
	mid(&m.dec.mid)
	fn(&m.dec.convIn)
	fn(&m.enc.convOut)
}

// FuzzWinograd4 compares F(4,3) convolutions of random small shapes
// (widths, sizes, upsampling, residual, bands) with im2col, on the
// assembly kernels where present and on their Go references.
func FuzzWinograd4(f *testing.F) {
	f.Add(uint8(16), uint8(16), uint8(5), uint8(7), false, false, uint16(0), uint64(1))
	f.Add(uint8(33), uint8(70), uint8(9), uint8(4), true, true, uint16(40), uint64(2))
	f.Add(uint8(48), uint8(17), uint8(1), uint8(13), false, true, uint16(1), uint64(3))
	f.Fuzz(func(t *testing.T, cin, cout, h, w uint8, up, withRes bool, budget uint16, seed uint64) {
		ci, co := 16+int(cin)%56, 16+int(cout)%90
		hh, ww := 1+int(h)%14, 1+int(w)%14
		rng := rand.New(rand.NewPCG(seed, 99))
		lim := float32(1 / math.Sqrt(float64(9*ci)))
		p := map[string][]float32{"c.weight": randF32(rng, co*ci*9, -lim, lim), "c.bias": randF32(rng, co, -0.1, 0.1)}
		g := geomSame
		if up {
			g = geomUp
		}
		x := act{h: hh, w: ww, c: ci, d: randF32(rng, hh*ww*ci, -2, 2)}
		ref := (&builder{src: &mapSource{params: p}, noWinograd: true}).conv("c", co, ci, 3, g)
		var res []float32
		if withRes {
			oh, ow := hh, ww
			if up {
				oh, ow = 2*hh, 2*ww
			}
			res = randF32(rng, oh*ow*co, -1, 1)
		}
		want := ref.forward(&workspace{}, x, g, res)
		for _, asm := range []bool{true, false} {
			withW4(t, asm, func() {
				cv := (&builder{src: &mapSource{params: p}, size: 1 << 20}).conv("c", co, ci, 3, g)
				if cv.u4 == nil {
					t.Fatal("F(4,3) not chosen")
				}
				var got act
				withBandBudget(1+int(budget)*100, func() { got = cv.forward(&workspace{}, x, g, res) })
				if d := maxAbsDiff(got.d, want.d); d > 1e-5*math.Max(1, maxAbs(want.d)) {
					t.Errorf("%d→%d on %d×%d (up %v, residual %v, assembly %v): max |Δ| %.3g", ci, co, hh, ww, up, withRes, asm, d)
				}
			})
		}
	})
}

// TestColStatsAsmMatchesGo compares the GroupNorm statistics kernels with
// the Go loops (float64 sums over rows, odd and even row counts).
func TestColStatsAsmMatchesGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 kernels on this machine")
	}
	rng := rand.New(rand.NewPCG(19, 20))
	for _, c := range []int{8, 24, 128} {
		for _, rows := range []int{1, 2, 7, 64} {
			src := randF32(rng, rows*c, -3, 5)
			mean := make([]float64, c)
			for i := range mean {
				mean[i] = rng.Float64()
			}
			for _, sq := range []bool{false, true} {
				got, want := make([]float64, c), make([]float64, c)
				for i := range got {
					got[i] = float64(i)
					want[i] = float64(i)
				}
				if sq {
					colSqDevAsm(got, src, rows, mean)
				} else {
					colSumAsm(got, src, rows)
				}
				for p := 0; p < rows; p++ {
					for i := 0; i < c; i++ {
						v := float64(src[p*c+i])
						if sq {
							v = (v - mean[i]) * (v - mean[i])
						}
						want[i] += v
					}
				}
				for i := range got {
					if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
						t.Fatalf("c=%d rows=%d squares %v: channel %d = %v, want %v", c, rows, sq, i, got[i], want[i])
					}
				}
			}
		}
	}
}
