package tokenizer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// withBandBudget runs fn with bandBudget set to n, so that every banded loop
// runs many bands.
func withBandBudget(n int, fn func()) {
	old := bandBudget
	bandBudget = n
	defer func() { bandBudget = old }()
	fn()
}

func randF32(rng *rand.Rand, n int, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float32()
	}
	return v
}

// hwcAct builds a channels-last activation from a reference CHW tensor.
func hwcAct(x refT) act {
	a := act{h: x.h, w: x.w, c: x.c, d: make([]float32, len(x.d))}
	chwToHWC(a.d, x.f32(), x.c, x.h*x.w)
	return a
}

// chwOf returns a channels-last activation's values in CHW order.
func chwOf(a act) []float32 {
	out := make([]float32, len(a.d))
	hwcToCHW(out, a.d, a.c, a.pixels())
	return out
}

func TestConvMatchesDirect(t *testing.T) {
	cases := []struct {
		name            string
		cin, cout, k, h int
		w               int
		geom            convGeom
		residual        bool
		winograd        bool // the Winograd layout is chosen
	}{
		{"3x3 same, 3 in (conv_in)", 3, 8, 3, 7, 5, geomSame, false, false},
		{"3x3 same, 3 out (conv_out)", 32, 3, 3, 6, 4, geomSame, false, false},
		{"3x3 same with residual", 16, 16, 3, 6, 8, geomSame, true, true},
		{"3x3 same, odd size", 20, 17, 3, 7, 5, geomSame, true, true},
		{"3x3 same, 1×1 image", 16, 16, 3, 1, 1, geomSame, false, true},
		{"3x3 down (pad right/bottom)", 5, 7, 3, 8, 6, geomDown, false, false},
		{"3x3 down, wide", 32, 32, 3, 4, 6, geomDown, false, false},
		{"3x3 down, 1 row out", 4, 4, 3, 2, 4, geomDown, false, false},
		{"3x3 up (nearest ×2 folded)", 4, 3, 3, 3, 5, geomUp, false, false},
		{"3x3 up, Winograd", 16, 24, 3, 3, 5, geomUp, true, true},
		{"3x3 same, 4×4 tiles and two panels", 32, 80, 3, 13, 10, geomSame, true, true},
		{"3x3 same, 16-channel multiples", 48, 64, 3, 9, 17, geomSame, false, true},
		{"3x3 up, wide rows", 24, 16, 3, 5, 21, geomUp, true, true},
		{"3x3 same, 3 in, 64 out (packed)", 3, 64, 3, 5, 7, geomSame, false, false},
		{"3x3 same, 64 in, 3 out (RGB kernel)", 64, 3, 3, 6, 7, geomSame, false, false},
		{"3x3 same, 32 in, 3 out, one column", 32, 3, 3, 4, 1, geomSame, false, false},
		{"3x3 same, 32 in, 3 out, two columns", 32, 3, 3, 3, 2, geomSame, false, false},
		{"3x3 down, 128 out (packed)", 16, 128, 3, 9, 6, geomDown, true, false},
		{"1x1, 64 out (packed)", 20, 64, 1, 5, 5, geomSame, true, false},
		{"1x1", 7, 9, 1, 4, 5, geomSame, false, false},
		{"1x1 with residual", 5, 5, 1, 3, 3, geomSame, true, false},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := map[string][]float32{
				"c.weight": randF32(rng, c.cout*c.cin*c.k*c.k, -1, 1),
				"c.bias":   randF32(rng, c.cout, -1, 1),
			}
			convs := map[string]conv{
				"im2col":  (&builder{src: &mapSource{params: p}, noWinograd: true}).conv("c", c.cout, c.cin, c.k, c.geom),
				"default": (&builder{src: &mapSource{params: p}}).conv("c", c.cout, c.cin, c.k, c.geom),
			}
			if (convs["default"].u != nil || convs["default"].u4 != nil) != c.winograd {
				t.Fatalf("Winograd used: %v, want %v", convs["default"].u != nil || convs["default"].u4 != nil, c.winograd)
			}
			if c.cout%w4Panel == 0 && !c.winograd {
				// The im2col layout on the packed kernel and on MatMulNT.
				withW4(t, true, func() {
					convs["packed"] = (&builder{src: &mapSource{params: p}}).conv("c", c.cout, c.cin, c.k, c.geom)
				})
				convs["MatMulNT"] = (&builder{src: &mapSource{params: p}, noPacked: true}).conv("c", c.cout, c.cin, c.k, c.geom)
				if convs["packed"].wp == nil || convs["MatMulNT"].w == nil {
					t.Fatal("packed or plain layout not chosen")
				}
			}
			if c.cout == 3 && c.cin%32 == 0 && c.k == 3 {
				withW4(t, true, func() {
					convs["RGB kernel"] = (&builder{src: &mapSource{params: p}}).conv("c", c.cout, c.cin, c.k, c.geom)
				})
				if !convs["RGB kernel"].rgb {
					t.Fatal("RGB kernel not chosen")
				}
			}
			if c.winograd {
				// F(2,3) and F(4,3) by name, whatever the default; F(4,3)
				// with the assembly kernels (where present) and with their
				// Go references.
				convs["F(2,3)-MatMulNT"] = (&builder{src: &mapSource{params: p}, noW4: true, noPacked: true}).conv("c", c.cout, c.cin, c.k, c.geom)
				withW4(t, true, func() {
					convs["F(2,3)"] = (&builder{src: &mapSource{params: p}, noW4: true}).conv("c", c.cout, c.cin, c.k, c.geom)
					convs["F(4,3)"] = (&builder{src: &mapSource{params: p}, size: 1 << 20}).conv("c", c.cout, c.cin, c.k, c.geom)
				})
				if !convs["F(2,3)"].upk || convs["F(2,3)-MatMulNT"].upk || convs["F(4,3)"].u4 == nil {
					t.Fatal("F(2,3) (packed or not) or F(4,3) layout not chosen")
				}
			}
			x := refFromF32(c.cin, c.h, c.w, randF32(rng, c.cin*c.h*c.w, -2, 2))
			r := &refNet{p: p}
			var want refT
			switch {
			case c.k == 1:
				want = r.conv1(x, "c", c.cout)
			case c.geom == geomSame:
				want = r.conv3(x, "c", c.cout)
			case c.geom == geomDown:
				want = r.conv(x, "c", c.cout, 3, 2, 0, 0, 1, 1)
			case c.geom == geomUp:
				want = r.conv3(upsampleNearest(x), "c", c.cout)
			}
			var res []float32
			if c.residual {
				rt := refFromF32(c.cout, want.h, want.w, randF32(rng, len(want.d), -1, 1))
				res = hwcAct(rt).d
				want = add(want, rt)
			}
			for method, cv := range convs {
				kernelsUsed := []bool{false}
				if (cv.u4 != nil || cv.wp != nil || cv.rgb || cv.upk) && haveAVX512 {
					kernelsUsed = []bool{true, false}
				}
				for _, asm := range kernelsUsed {
					for _, budget := range []int{1, 50, 1 << 22} {
						var got act
						withBandBudget(budget, func() {
							withW4(t, asm, func() { got = cv.forward(&workspace{}, hwcAct(x), c.geom, res) })
						})
						if got.h != want.h || got.w != want.w || got.c != want.c {
							t.Fatalf("output %d×%d×%d, want %d×%d×%d", got.c, got.h, got.w, want.c, want.h, want.w)
						}
						// The weights are uniform in ±1 (not ±1/√fan-in), so
						// outputs reach tens: the bound scales with them.
						// F(4,3) rounds about ten times more than direct
						// convolution (see TestWinograd4Accuracy).
						d, scale := maxAbsDiff(chwOf(got), want.f32()), maxAbs(want.f32())
						tol := 2e-5 * math.Max(1, scale/10)
						if cv.u4 != nil {
							tol = math.Max(2e-5, 4e-6*scale)
						}
						t.Logf("%s (assembly %v), band budget %d: max |Δ| = %.3g (values up to %.3g)", method, asm, budget, d, scale)
						if d > tol {
							t.Errorf("%s (assembly %v), band budget %d: max abs error %.3g > %.3g", method, asm, budget, d, tol)
						}
					}
				}
			}
		})
	}
}

func TestGroupNormMatchesFloat64(t *testing.T) {
	cases := []struct {
		name         string
		c, h, w      int
		offset, span float32
		silu         bool
	}{
		{"unit data, silu", 64, 5, 7, 0, 1, true},
		{"large mean (cancellation)", 32, 16, 16, 1000, 1, false},
		{"one channel per group", 32, 3, 3, -3, 10, true},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := map[string][]float32{
				"n.weight": randF32(rng, c.c, 0.5, 1.5),
				"n.bias":   randF32(rng, c.c, -0.5, 0.5),
			}
			n := (&builder{src: &mapSource{params: p}}).norm("n", c.c)
			x := refFromF32(c.c, c.h, c.w, randF32(rng, c.c*c.h*c.w, c.offset-c.span, c.offset+c.span))
			want := (&refNet{p: p}).groupNorm(x, "n", c.silu)
			a := hwcAct(x)
			n.forward(a.d, a.d, c.silu) // in place
			d := maxAbsDiff(chwOf(a), want.f32())
			t.Logf("max |Δ| = %.3g", d)
			if d > 1e-4 {
				t.Errorf("max abs error %.3g > 1e-4", d)
			}
		})
	}
}

func TestAttentionMatchesNaive(t *testing.T) {
	cases := []struct {
		name    string
		c, h, w int
		budget  int
	}{
		{"4×4, one band", 32, 4, 4, 1 << 22},
		{"6×5, bands of 3 queries", 64, 6, 5, 90},
		{"7×3, one query per band", 32, 7, 3, 1},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := map[string][]float32{}
			for _, s := range []string{"q", "k", "v", "proj_out"} {
				// Large weights make the softmax peaked, which tests its
				// max-subtraction as well.
				p["a."+s+".weight"] = randF32(rng, c.c*c.c, -1, 1)
				p["a."+s+".bias"] = randF32(rng, c.c, -1, 1)
			}
			p["a.norm.weight"] = randF32(rng, c.c, 0.5, 1.5)
			p["a.norm.bias"] = randF32(rng, c.c, -0.5, 0.5)
			blk := (&builder{src: &mapSource{params: p}}).attn("a", c.c)
			x := refFromF32(c.c, c.h, c.w, randF32(rng, c.c*c.h*c.w, -2, 2))
			want := (&refNet{p: p}).attn(x, "a")
			var got act
			withBandBudget(c.budget, func() { got = blk.forward(&workspace{}, hwcAct(x)) })
			// Scores reach the hundreds here, so the float32 error is
			// judged relative to the output scale.
			d, scale := maxAbsDiff(chwOf(got), want.f32()), maxAbs(want.f32())
			t.Logf("max |Δ| = %.3g (values up to %.3g, relative %.3g)", d, scale, d/scale)
			if d > 1e-4*math.Max(1, scale/10) {
				t.Errorf("max abs error %.3g > 1e-4·max(1, scale/10)", d)
			}
		})
	}
}

func TestExp32(t *testing.T) {
	var worst float64
	var at float32
	check := func(x float32) {
		want := math.Exp(float64(x))
		got := float64(exp32(x))
		if want == 0 || math.IsInf(want, 0) {
			return
		}
		if want < 0x1p-126 { // subnormal result: absolute error
			if math.Abs(got-want) > 0x1p-149 {
				t.Errorf("exp32(%v) = %v, want %v", x, got, want)
			}
			return
		}
		if r := math.Abs(got-want) / want; r > worst {
			worst, at = r, x
		}
	}
	for x := float32(-103); x < 88.7; x += 0.00731 {
		check(x)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 200000; i++ {
		check(float32(rng.Float64()*30 - 15))
	}
	t.Logf("max relative error %.3g (%.2f ulp) at x = %v", worst, worst/0x1p-24, at)
	if worst > 3*0x1p-24 {
		t.Errorf("max relative error %.3g > 3·2⁻²⁴", worst)
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {float32(math.Inf(-1)), 0}, {-200, 0}, {89, float32(math.Inf(1))}, {float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := exp32(c.x); got != c.want {
			t.Errorf("exp32(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if nan := exp32(float32(math.NaN())); nan == nan {
		t.Errorf("exp32(NaN) = %v, want NaN", nan)
	}
}

// TestQuantizeExactAndTies checks the nearest-code search against a float64
// brute force, including duplicated codes (ties go to the lowest id) and
// near-ties far below float32 resolution of the distances.
func TestQuantizeExactAndTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const K, E, P = 300, 16, 40
	cb := randF32(rng, K*E, -1, 1)
	copy(cb[200*E:201*E], cb[17*E:18*E]) // 200 duplicates 17
	copy(cb[250*E:251*E], cb[17*E:18*E]) // and so does 250
	// 120 is 17 nudged by one ulp in one coordinate.
	copy(cb[120*E:121*E], cb[17*E:18*E])
	cb[120*E+3] = math.Nextafter32(cb[120*E+3], 2)
	z := randF32(rng, P*E, -1, 1)
	copy(z[:E], cb[17*E:18*E]) // position 0 sits exactly on codes 17, 200, 250
	for i := 0; i < E; i++ {   // position 1 is a tiny step from code 200's twins toward 120
		z[E+i] = cb[17*E+i]
	}
	z[E+3] = math.Nextafter32(z[E+3], 2)
	m := &model{codebook: cb, codeNorms: make([]float64, K)}
	for j := 0; j < K; j++ {
		var s float64
		for _, v := range cb[j*E : (j+1)*E] {
			s += float64(v) * float64(v)
		}
		m.codeNorms[j] = s
		m.maxCodeNorm = math.Max(m.maxCodeNorm, math.Sqrt(s))
	}
	codes := make([]int, P)
	margins := make([]float64, P)
	withBandBudget(K*7, func() { m.quantize(&workspace{}, z, P, E, codes, margins) })
	ref := &refNet{cfg: Config{QuantizedEmbedDim: E, NumEmbeddings: K}, p: map[string][]float32{"quantize.embedding.weight": cb}}
	want, wantMargins := ref.quantize(refFromF32(E, 1, P, transposeF32(z, P, E)))
	for p := range want {
		if codes[p] != want[p] {
			t.Errorf("position %d: code %d, want %d", p, codes[p], want[p])
		}
		if math.Abs(margins[p]-wantMargins[p]) > 1e-5 {
			t.Errorf("position %d: margin %.3g, want %.3g", p, margins[p], wantMargins[p])
		}
	}
	if codes[0] != 17 || codes[1] != 120 {
		t.Errorf("ties: codes %d, %d, want 17 (lowest of three equal codes) and 120 (nearer by one ulp)", codes[0], codes[1])
	}
	t.Logf("codes[0] = %d (margin %.3g), codes[1] = %d (margin %.3g)", codes[0], margins[0], codes[1], margins[1])
}

// transposeF32 turns [P, E] rows into [E, P] planes.
func transposeF32(v []float32, P, E int) []float32 {
	out := make([]float32, len(v))
	for p := 0; p < P; p++ {
		for e := 0; e < E; e++ {
			out[e*P+p] = v[p*E+e]
		}
	}
	return out
}

// TestSiLURow checks the inlined SiLU of the normalisation loop against
// float64 over ordinary and extreme arguments.
func TestSiLURow(t *testing.T) {
	var ys []float32
	for y := float32(-120); y <= 120; y += 0.0137 {
		ys = append(ys, y)
	}
	ys = append(ys, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 87, -87, 88, -88, 89, -89, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)))
	n := len(ys)
	zero, one := make([]float32, n), make([]float32, n)
	for i := range one {
		one[i] = 1
	}
	got := make([]float32, n)
	normSiLURow(got, ys, zero, zero, one, zero)
	var worst float64
	for i, y := range ys {
		want := float64(y) / (1 + math.Exp(-float64(y)))
		if math.IsInf(float64(y), -1) {
			want = 0 // −∞·0: the limit
		}
		d := math.Abs(float64(got[i]) - want)
		tol := 3e-7*math.Abs(want) + 1e-35
		if math.IsInf(want, 0) {
			if float64(got[i]) != want {
				t.Errorf("silu(%v) = %v, want %v", y, got[i], want)
			}
			continue
		}
		if d > tol && !(math.IsNaN(float64(got[i])) && math.IsInf(float64(y), -1)) {
			t.Errorf("silu(%v) = %v, want %v", y, got[i], want)
		}
		if math.Abs(want) > 1e-30 {
			worst = math.Max(worst, d/math.Abs(want))
		}
	}
	t.Logf("max relative error %.3g over %d arguments (where |silu| > 1e-30; below, absolute error < 1e-35)", worst, n)
	nan := float32(math.NaN())
	normSiLURow(got[:1], []float32{nan}, zero, zero, one, zero)
	if got[0] == got[0] {
		t.Errorf("silu(NaN) = %v, want NaN", got[0])
	}
}
