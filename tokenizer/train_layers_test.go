package tokenizer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// trFDCheck compares an analytic gradient with central finite differences
// of a scalar function of x at up to maxProbe coordinates (all of them when
// x is no longer), failing where |fd − analytic| > atol + rtol·|analytic|.
// A probe where f returns NaN is skipped. It logs the worst errors and
// returns the worst absolute one.
func trFDCheck(t *testing.T, name string, x, analytic []float32, f func() float64, maxProbe int, eps, atol, rtol float64) float64 {
	t.Helper()
	r := rand.New(rand.NewPCG(1, uint64(len(x))))
	worst, worstRel := 0.0, 0.0
	for n := 0; n < min(maxProbe, len(x)); n++ {
		i := n
		if len(x) > maxProbe {
			i = r.IntN(len(x))
		}
		old := x[i]
		x[i] = old + float32(eps)
		fp := f()
		x[i] = old - float32(eps)
		fm := f()
		x[i] = old
		if math.IsNaN(fp) || math.IsNaN(fm) {
			continue
		}
		fd := (fp - fm) / (2 * eps)
		err := math.Abs(fd - float64(analytic[i]))
		worst = math.Max(worst, err)
		if a := math.Abs(float64(analytic[i])); a > 1e-3 {
			worstRel = math.Max(worstRel, err/a)
		}
		if err > atol+rtol*math.Abs(float64(analytic[i])) {
			t.Errorf("%s[%d]: finite difference %.6g, analytic %.6g", name, i, fd, analytic[i])
		}
	}
	t.Logf("%s: worst |fd − analytic| %.3g (relative %.3g where |g| > 1e-3)", name, worst, worstRel)
	return worst
}

func trRandVec(r *rand.Rand, n int, s float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * s)
	}
	return v
}

// trDot is Σ w·y in float64: the scalar whose gradient with respect to y is w.
func trDot(w, y []float32) float64 {
	var s float64
	for i := range y {
		s += float64(w[i]) * float64(y[i])
	}
	return s
}

// refTrainConv is the reference convolution: a direct float64 loop over
// channels-last images with PyTorch-layout weights.
func refTrainConv(in, w, bias []float32, s trShape, cout, k int, g trConvGeom) []float32 {
	stride, pad := g.stridePad(k)
	o := trConvOut(s, cout, g)
	out := make([]float32, o.size())
	for n := 0; n < s.b; n++ {
		for oy := 0; oy < o.h; oy++ {
			for ox := 0; ox < o.w; ox++ {
				for co := 0; co < cout; co++ {
					acc := float64(bias[co])
					for ci := 0; ci < s.c; ci++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								y, x := oy*stride+ky-pad, ox*stride+kx-pad
								if y < 0 || y >= s.h || x < 0 || x >= s.w {
									continue
								}
								acc += float64(in[((n*s.h+y)*s.w+x)*s.c+ci]) * float64(w[((co*s.c+ci)*k+ky)*k+kx])
							}
						}
					}
					out[((n*o.h+oy)*o.w+ox)*cout+co] = float32(acc)
				}
			}
		}
	}
	return out
}

type trConvCase struct {
	name  string
	s     trShape
	cout  int
	k     int
	g     trConvGeom
	bands bool // force one image per band
}

var trConvCases = []trConvCase{
	{"conv3x3", trShape{2, 5, 6, 3}, 4, 3, trSame, false},
	{"conv3x3-banded", trShape{3, 4, 4, 2}, 3, 3, trSame, true},
	{"conv1x1", trShape{2, 3, 4, 5}, 3, 1, trSame, false},
	{"conv1x1-banded", trShape{3, 2, 2, 4}, 2, 1, trSame, true},
	{"downsample", trShape{2, 6, 4, 3}, 4, 3, trDown, false},
	{"downsample-banded", trShape{2, 4, 4, 2}, 2, 3, trDown, true},
}

// TestTrainConvMatchesReference checks the im2col + GEMM convolution
// against the direct loop, for every geometry, with and without bands.
func TestTrainConvMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range trConvCases {
		t.Run(c.name, func(t *testing.T) {
			if c.bands {
				defer trWithBandBudget(1)()
			}
			in := trRandVec(r, c.s.size(), 1)
			w := trRandVec(r, c.cout*c.s.c*c.k*c.k, 0.5)
			b := trRandVec(r, c.cout, 0.5)
			out := make([]float32, trConvOut(c.s, c.cout, c.g).size())
			trConvForward(out, in, w, b, c.s, c.cout, c.k, c.g, &trScratch{})
			want := refTrainConv(in, w, b, c.s, c.cout, c.k, c.g)
			if d := trMaxDiff(out, want); d > 1e-5 {
				t.Errorf("max |conv − reference| = %.3g", d)
			}
		})
	}
}

// TestTrainConvGradient checks every convolution geometry's input, weight
// and bias gradients against finite differences.
func TestTrainConvGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range trConvCases {
		t.Run(c.name, func(t *testing.T) {
			if c.bands {
				defer trWithBandBudget(1)()
			}
			sc := &trScratch{}
			o := trConvOut(c.s, c.cout, c.g)
			in := trRandVec(r, c.s.size(), 1)
			w := trRandVec(r, c.cout*c.s.c*c.k*c.k, 0.5)
			b := trRandVec(r, c.cout, 0.5)
			proj := trRandVec(r, o.size(), 1)
			out := make([]float32, o.size())
			f := func() float64 {
				trConvForward(out, in, w, b, c.s, c.cout, c.k, c.g, sc)
				return trDot(proj, out)
			}
			dx, dw, db := make([]float32, len(in)), make([]float32, len(w)), make([]float32, len(b))
			trConvBackward(dx, dw, db, proj, in, w, c.s, c.cout, c.k, c.g, sc)
			trFDCheck(t, "dx", in, dx, f, 40, 1e-2, 1e-3, 1e-3)
			trFDCheck(t, "dw", w, dw, f, 40, 1e-2, 1e-3, 1e-3)
			trFDCheck(t, "db", b, db, f, 40, 1e-2, 1e-3, 1e-3)
		})
	}
}

func trWithBandBudget(n int) func() {
	old := trBandBudget
	trBandBudget = n
	return func() { trBandBudget = old }
}

func trMaxDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// TestTrainGroupNormGradient checks GroupNorm (2 channels per group, so the
// group statistics couple channels) against finite differences, and its
// forward against a float64 reference.
func TestTrainGroupNormGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	s := trShape{2, 3, 3, 64}
	x := trRandVec(r, s.size(), 1)
	for i := range x {
		x[i] += 3 // a mean far from 0
	}
	gamma, beta, proj := trRandVec(r, s.c, 1), trRandVec(r, s.c, 1), trRandVec(r, s.size(), 1)
	y := make([]float32, s.size())
	mean, rstd := make([]float32, s.b*trGroups), make([]float32, s.b*trGroups)
	f := func() float64 {
		trGroupNormForward(y, mean, rstd, x, gamma, beta, s, &trScratch{})
		return trDot(proj, y)
	}
	f()
	// Reference forward in float64.
	P, cg := s.h*s.w, s.c/trGroups
	worst := 0.0
	for n := 0; n < s.b; n++ {
		for g := 0; g < trGroups; g++ {
			var sum, sq float64
			for p := 0; p < P; p++ {
				for c := g * cg; c < (g+1)*cg; c++ {
					sum += float64(x[(n*P+p)*s.c+c])
				}
			}
			m := sum / float64(P*cg)
			for p := 0; p < P; p++ {
				for c := g * cg; c < (g+1)*cg; c++ {
					d := float64(x[(n*P+p)*s.c+c]) - m
					sq += d * d
				}
			}
			rs := 1 / math.Sqrt(sq/float64(P*cg)+trNormEps)
			for p := 0; p < P; p++ {
				for c := g * cg; c < (g+1)*cg; c++ {
					i := (n*P+p)*s.c + c
					want := (float64(x[i])-m)*rs*float64(gamma[c]) + float64(beta[c])
					worst = math.Max(worst, math.Abs(want-float64(y[i])))
				}
			}
		}
	}
	if worst > 1e-5 {
		t.Errorf("GroupNorm forward differs from float64 reference by %.3g", worst)
	}
	dx, dg, dbt := make([]float32, len(x)), make([]float32, s.c), make([]float32, s.c)
	trGroupNormBackward(dx, dg, dbt, proj, x, mean, rstd, gamma, s, &trScratch{})
	trFDCheck(t, "groupnorm dx", x, dx, f, 60, 1e-2, 2e-3, 1e-2)
	trFDCheck(t, "groupnorm dgamma", gamma, dg, f, 64, 1e-2, 2e-3, 1e-2)
	trFDCheck(t, "groupnorm dbeta", beta, dbt, f, 64, 1e-2, 2e-3, 1e-2)
}

func TestTrainSiLUGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x, proj := trRandVec(r, 50, 3), trRandVec(r, 50, 1)
	y := make([]float32, len(x))
	f := func() float64 { trSiLUForward(y, x); return trDot(proj, y) }
	dx := make([]float32, len(x))
	trSiLUBackward(dx, proj, x)
	trFDCheck(t, "silu dx", x, dx, f, 50, 1e-3, 1e-3, 1e-2)
	// The variant that keeps σ agrees with the one that recomputes it.
	y2, sig, dx2 := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
	trSiLUForwardKeep(y2, sig, x)
	trSiLUForward(y, x)
	trSiLUBackwardFromOutput(dx2, proj, y2, sig)
	if d := trMaxDiff(y, y2); d != 0 {
		t.Errorf("SiLU with kept σ: forward differs by %g", d)
	}
	if d := trMaxDiff(dx, dx2); d > 1e-6 {
		t.Errorf("SiLU backward from the output differs by %g", d)
	}
}

// TestTrainExp checks the float32 exponential against math.Exp.
func TestTrainExp(t *testing.T) {
	worst := 0.0
	for x := -87.0; x <= 88.7; x += 0.0137 {
		got, want := float64(trExp(float32(x))), math.Exp(float64(float32(x)))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 4e-7 {
		t.Errorf("trExp relative error %.3g", worst)
	}
	if trExp(100) != float32(math.Inf(1)) || trExp(-100) != 0 || !math.IsNaN(float64(trExp(float32(math.NaN())))) {
		t.Errorf("trExp limits: %v %v %v", trExp(100), trExp(-100), trExp(float32(math.NaN())))
	}
	// σ over the whole range, with its limits and NaN.
	var xs []float32
	for x := -100.0; x <= 100; x += 0.0113 {
		xs = append(xs, float32(x))
	}
	xs = append(xs, -1000, 1000, float32(math.NaN()))
	sg := make([]float32, len(xs))
	trSigmoidRow(sg, xs)
	worst = 0
	for i, x := range xs[:len(xs)-3] {
		want := 1 / (1 + math.Exp(-float64(x)))
		if want > 1e-37 {
			worst = math.Max(worst, math.Abs(float64(sg[i])-want)/want)
		}
	}
	if worst > 5e-7 {
		t.Errorf("trSigmoidRow relative error %.3g", worst)
	}
	if n := len(xs); sg[n-3] > 1e-38 || sg[n-2] != 1 || !math.IsNaN(float64(sg[n-1])) {
		t.Errorf("σ(−1000), σ(1000), σ(NaN) = %v, %v, %v", sg[n-3], sg[n-2], sg[n-1])
	}
}

func TestTrainResampleGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	s := trShape{2, 3, 2, 3}
	x := trRandVec(r, s.size(), 1)
	up := make([]float32, 4*s.size())
	proj := trRandVec(r, len(up), 1)
	f := func() float64 { trUpsampleForward(up, x, s); return trDot(proj, up) }
	f()
	if up[0] != x[0] || up[3] != x[0] || up[(2*s.w)*s.c] != x[0] || up[((2*2+1)*2*s.w+3)*s.c+1] != x[(2*s.w+1)*s.c+1] {
		t.Errorf("nearest upsampling copies the wrong pixels")
	}
	dx := make([]float32, len(x))
	trUpsampleBackward(dx, proj, s)
	trFDCheck(t, "upsample dx", x, dx, f, len(x), 1e-2, 1e-4, 1e-4)

	s2 := trShape{2, 4, 6, 3}
	x2 := trRandVec(r, s2.size(), 1)
	pool := make([]float32, s2.size()/4)
	proj2 := trRandVec(r, len(pool), 1)
	g := func() float64 { trAvgPoolForward(pool, x2, s2); return trDot(proj2, pool) }
	g()
	if want := (x2[0] + x2[3] + x2[6*3] + x2[6*3+3]) / 4; pool[0] != want {
		t.Errorf("avg pool: %v, want %v", pool[0], want)
	}
	dx2 := make([]float32, len(x2))
	trAvgPoolBackward(dx2, proj2, s2)
	trFDCheck(t, "avgpool dx", x2, dx2, g, len(x2), 1e-2, 1e-4, 1e-4)
}

func TestTrainAttentionGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	s := trShape{2, 3, 2, 5}
	P := s.h * s.w
	q, k, v := trRandVec(r, s.size(), 1), trRandVec(r, s.size(), 1), trRandVec(r, s.size(), 1)
	proj := trRandVec(r, s.size(), 1)
	o, p := make([]float32, s.size()), make([]float32, s.b*P*P)
	sc := &trScratch{}
	f := func() float64 { trAttentionForward(o, p, q, k, v, s, sc); return trDot(proj, o) }
	f()
	// Reference: direct softmax attention in float64.
	worst := 0.0
	for n := 0; n < s.b; n++ {
		for i := 0; i < P; i++ {
			sc := make([]float64, P)
			m := math.Inf(-1)
			for j := 0; j < P; j++ {
				var d float64
				for c := 0; c < s.c; c++ {
					d += float64(q[(n*P+i)*s.c+c]) * float64(k[(n*P+j)*s.c+c])
				}
				sc[j] = d / math.Sqrt(float64(s.c))
				m = math.Max(m, sc[j])
			}
			var sum float64
			for j := range sc {
				sc[j] = math.Exp(sc[j] - m)
				sum += sc[j]
			}
			for c := 0; c < s.c; c++ {
				var acc float64
				for j := 0; j < P; j++ {
					acc += sc[j] / sum * float64(v[(n*P+j)*s.c+c])
				}
				worst = math.Max(worst, math.Abs(acc-float64(o[(n*P+i)*s.c+c])))
			}
		}
	}
	if worst > 1e-5 {
		t.Errorf("attention differs from the float64 reference by %.3g", worst)
	}
	dq, dk, dv := make([]float32, s.size()), make([]float32, s.size()), make([]float32, s.size())
	trAttentionBackward(dq, dk, dv, proj, p, q, k, v, s, sc)
	trFDCheck(t, "attention dq", q, dq, f, 40, 1e-2, 2e-3, 1e-2)
	trFDCheck(t, "attention dk", k, dk, f, 40, 1e-2, 2e-3, 1e-2)
	trFDCheck(t, "attention dv", v, dv, f, 40, 1e-2, 2e-3, 1e-2)
}

func TestTrainMSEGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	pred, target := trRandVec(r, 30, 1), trRandVec(r, 30, 1)
	f := func() float64 { return 3 * trMSE(pred, target) }
	d := make([]float32, len(pred))
	trMSEBackward(d, pred, target, 3)
	trFDCheck(t, "mse dpred", pred, d, f, 30, 1e-2, 1e-4, 1e-3)
}

// TestTrainQuantizer checks the nearest-code search against brute force
// (ties to the lowest index) and the quantiser's straight-through,
// codebook and commitment gradients against finite differences of the loss
// with the stop-gradient operands held fixed.
func TestTrainQuantizer(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	n, k, e := 40, 9, 4
	z, cb := trRandVec(r, n*e, 1), trRandVec(r, k*e, 1)
	copy(cb[5*e:6*e], cb[2*e:3*e]) // code 5 duplicates code 2: ties must pick 2
	copy(z[3*e:4*e], cb[5*e:6*e])
	zq, codes, margins := make([]float32, n*e), make([]int, n), make([]float64, n)
	trQuantizeForward(zq, codes, margins, z, cb, n, k, e, &trScratch{})
	for i := 0; i < n; i++ {
		best, bestD := -1, math.Inf(1)
		for j := 0; j < k; j++ {
			var d float64
			for c := 0; c < e; c++ {
				t := float64(z[i*e+c]) - float64(cb[j*e+c])
				d += t * t
			}
			if d < bestD {
				best, bestD = j, d
			}
		}
		if codes[i] != best {
			t.Errorf("row %d: code %d, brute force %d", i, codes[i], best)
		}
		if trMaxDiff(zq[i*e:(i+1)*e], cb[best*e:(best+1)*e]) != 0 {
			t.Errorf("row %d: zq is not the codebook row", i)
		}
	}
	if codes[3] != 2 || margins[3] != 0 {
		t.Errorf("tie: code %d margin %v, want code 2 margin 0", codes[3], margins[3])
	}
	used, ppl := trCodeStats(codes, k, make([]int, k))
	if used < 2 || ppl < 1 || ppl > float64(used)+1e-9 {
		t.Errorf("code stats: %d used, perplexity %v", used, ppl)
	}
	if u, p := trCodeStats([]int{1, 1, 1, 1}, 3, make([]int, 3)); u != 1 || p != 1 {
		t.Errorf("one code: used %d perplexity %v", u, p)
	}
	if u, p := trCodeStats([]int{0, 1, 2, 0, 1, 2}, 3, make([]int, 3)); u != 3 || math.Abs(p-3) > 1e-12 {
		t.Errorf("uniform: used %d perplexity %v", u, p)
	}

	// Gradients. With the codes and the stop-gradient operands frozen at
	// z0, e0, the loss is
	//   Σ w·(z + e0 − z0) + mean((z0 − e)²) + β·mean((z − e0)²).
	const beta = 0.25
	w := trRandVec(r, n*e, 1)
	z0, e0 := append([]float32(nil), z...), append([]float32(nil), zq...)
	loss := func() float64 {
		var s, cbl, com float64
		for i := 0; i < n; i++ {
			for c := 0; c < e; c++ {
				j := i*e + c
				s += float64(w[j]) * (float64(z[j]) + float64(e0[j]) - float64(z0[j]))
				d := float64(z0[j]) - float64(cb[codes[i]*e+c])
				cbl += d * d
				d = float64(z[j]) - float64(e0[j])
				com += d * d
			}
		}
		return s + cbl/float64(n*e) + beta*com/float64(n*e)
	}
	dz, dcb := make([]float32, n*e), make([]float32, k*e)
	trQuantizeBackward(dz, dcb, w, z, zq, codes, e, beta)
	trFDCheck(t, "quantizer dz", z, dz, loss, 60, 1e-2, 1e-4, 1e-3)
	trFDCheck(t, "quantizer dcodebook", cb, dcb, loss, k*e, 1e-2, 1e-4, 1e-3)
}

// FuzzTrainConvAdjoint checks, for random shapes and geometries, that the
// convolution matches the direct reference and that col2im is the adjoint
// of im2col: ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩.
func FuzzTrainConvAdjoint(f *testing.F) {
	f.Add(uint8(2), uint8(5), uint8(6), uint8(3), uint8(4), uint8(3), false, uint64(1))
	f.Add(uint8(1), uint8(4), uint8(8), uint8(2), uint8(2), uint8(3), true, uint64(2))
	f.Add(uint8(3), uint8(1), uint8(1), uint8(1), uint8(1), uint8(1), false, uint64(3))
	f.Fuzz(func(t *testing.T, b, h, w, cin, cout, k uint8, down bool, seed uint64) {
		s := trShape{int(b%3) + 1, int(h%7) + 1, int(w%7) + 1, int(cin%5) + 1}
		kk := []int{1, 3}[int(k)%2]
		g := trSame
		if down {
			g, kk = trDown, 3
			s.h, s.w = 2*((s.h+1)/2), 2*((s.w+1)/2)
		}
		co := int(cout%4) + 1
		r := rand.New(rand.NewPCG(seed, 7))
		x := trRandVec(r, s.size(), 1)
		wt := trRandVec(r, co*s.c*kk*kk, 1)
		bias := trRandVec(r, co, 1)
		out := make([]float32, trConvOut(s, co, g).size())
		trConvForward(out, x, wt, bias, s, co, kk, g, &trScratch{})
		if d := trMaxDiff(out, refTrainConv(x, wt, bias, s, co, kk, g)); d > 1e-4 {
			t.Fatalf("%+v k=%d geom %d: conv differs from reference by %g", s, kk, g, d)
		}
		o := trConvOut(s, 0, g)
		K := kk * kk * s.c
		cols := make([]float32, s.b*o.h*o.w*K)
		trIm2col(cols, x, s, kk, g, 0, s.b)
		y := trRandVec(r, len(cols), 1)
		back := make([]float32, len(x))
		trCol2im(back, y, s, kk, g, 0, s.b)
		lhs, rhs := trDot(y, cols), trDot(x, back)
		if math.Abs(lhs-rhs) > 1e-4*(1+math.Abs(lhs)) {
			t.Fatalf("%+v k=%d geom %d: ⟨im2col x, y⟩ = %g, ⟨x, col2im y⟩ = %g", s, kk, g, lhs, rhs)
		}
		// The transposed patches in weight order hold the same values.
		xT := make([]float32, len(x))
		trTranspose(xT, x, s.pixels(), s.c)
		colsT := make([]float32, len(cols))
		trIm2colT(colsT, xT, s, kk, g)
		rows := s.b * o.h * o.w
		for row := 0; row < rows; row++ {
			for ci := 0; ci < s.c; ci++ {
				for p := 0; p < kk*kk; p++ {
					if a, b := cols[row*K+p*s.c+ci], colsT[(ci*kk*kk+p)*rows+row]; a != b {
						t.Fatalf("%+v k=%d geom %d: im2colT[%d][%d] = %v, im2col %v", s, kk, g, ci*kk*kk+p, row, b, a)
					}
				}
			}
		}
	})
}
