package tokenizer

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/internal/optim"
)

// trTinyConfig is the smallest config of the official structure: 8×8
// images, two levels of width 32 (one GroupNorm channel per group), a 4×4
// grid of codes from 16.
func trTinyConfig() Config {
	return Config{Resolution: 8, NumChannels: 3, HiddenChannels: 32, ChannelMult: []int{1, 1}, NumResBlocks: 1,
		AttnResolutions: []int{}, NoAttnMidBlock: true, ZChannels: 4, NumEmbeddings: 16, QuantizedEmbedDim: 4,
		ResampleWithConv: true, CommitmentCost: 0.25}
}

// trAttnConfig adds every optional part: a mid attention block, level
// attention blocks at 4×4 (applied in both the encoder, with two blocks,
// and the decoder), width changes (nin_shortcut) and resampling without
// convolutions.
func trAttnConfig() Config {
	c := trTinyConfig()
	c.ChannelMult = []int{1, 2}
	c.NumResBlocks = 2
	c.AttnResolutions = []int{4}
	c.NoAttnMidBlock = false
	c.ResampleWithConv = false
	return c
}

// trPalette holds the colours of trImages.
var trPalette = [][3]float32{{0.9, 0.1, 0.1}, {0.1, 0.7, 0.2}, {0.15, 0.25, 0.9}, {0.95, 0.85, 0.1}, {0.05, 0.05, 0.05}, {0.95, 0.95, 0.95}}

// trImages draws b simple images C×R×R in [0, 1]: a two-tone background
// (split at a random row) and a disc or a square, in colours from
// trPalette.
func trImages(r *rand.Rand, b, R int) []float32 {
	pix := make([]float32, b*3*R*R)
	for n := 0; n < b; n++ {
		bg0, bg1, fg := trPalette[r.IntN(len(trPalette))], trPalette[r.IntN(len(trPalette))], trPalette[r.IntN(len(trPalette))]
		split := r.IntN(R + 1)
		cx, cy := float64(r.IntN(R)), float64(r.IntN(R))
		rad := 1.5 + r.Float64()*float64(R)/4
		disc := r.IntN(2) == 0
		for y := 0; y < R; y++ {
			for x := 0; x < R; x++ {
				col := bg0
				if y >= split {
					col = bg1
				}
				dx, dy := float64(x)-cx, float64(y)-cy
				if (disc && dx*dx+dy*dy <= rad*rad) || (!disc && math.Abs(dx) <= rad && math.Abs(dy) <= rad) {
					col = fg
				}
				for c := 0; c < 3; c++ {
					pix[((n*3+c)*R+y)*R+x] = col[c]
				}
			}
		}
	}
	return pix
}

// trPerturb adds noise to every parameter so that no gradient is
// degenerate (GroupNorm weights 1 and biases 0 make some vanish).
func trPerturb(tm *TrainVQGAN, seed uint64, s float64) {
	r := rand.New(rand.NewPCG(seed, 99))
	for _, p := range tm.params {
		for i := range p.Value {
			p.Value[i] += float32(r.NormFloat64() * s)
		}
	}
}

// TestTrainVQGANGradient checks the whole model's gradient, every
// parameter tensor, against finite differences of the loss. The
// quantiser's discrete choice and stop-gradient operands are frozen at the
// unperturbed values (trFrozenVQ), which makes the loss smooth and its
// gradient the straight-through one.
func TestTrainVQGANGradient(t *testing.T) {
	for _, c := range []struct {
		name   string
		cfg    Config
		probes int // per tensor, doubled for biases and the layers around the quantiser
	}{{"tiny", trTinyConfig(), 3}, {"attention+noconv", trAttnConfig(), 1}} {
		t.Run(c.name, func(t *testing.T) {
			tm, err := NewTrainVQGAN(c.cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			trPerturb(tm, 2, 0.05)
			r := rand.New(rand.NewPCG(3, 4))
			b := 2
			pix := trImages(r, b, c.cfg.Resolution)
			if _, err := tm.Forward(pix, b); err != nil {
				t.Fatal(err)
			}
			tm.frozen = &trFrozenVQ{codes: tm.Codes(), z0: append([]float32(nil), tm.z...), e0: append([]float32(nil), tm.zq...)}
			f := func() float64 {
				st, err := tm.Forward(pix, b)
				if err != nil {
					t.Fatal(err)
				}
				return st.Loss
			}
			f()
			optim.ZeroGrads(tm.params)
			if err := tm.Backward(); err != nil {
				t.Fatal(err)
			}
			grads := map[string][]float32{}
			for _, p := range tm.params {
				grads[p.Name] = append([]float32(nil), p.Grad...)
			}
			worst := 0.0
			for _, p := range tm.params {
				probes := c.probes
				if strings.HasSuffix(p.Name, ".bias") || strings.Contains(p.Name, "quant") || strings.Contains(p.Name, "conv_") {
					probes *= 2
				}
				worst = math.Max(worst, trFDCheck(t, p.Name, p.Value, grads[p.Name], f, probes, 3e-3, 3e-4, 2e-2))
			}
			t.Logf("%d tensors: worst |fd − analytic| over all probes %.3g", len(tm.params), worst)
		})
	}
}

// TestTrainModulesGradient checks each composite module (ResnetBlock with
// and without nin_shortcut — the residual connections —, attention block,
// the four resampling steps, GroupNorm+SiLU) against finite differences,
// for its input and every parameter.
func TestTrainModulesGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	mk := func(n int, mean, s float64) *trParam {
		p := &trParam{w: trRandVec(r, n, s), g: make([]float32, n)}
		for i := range p.w {
			p.w[i] += float32(mean)
		}
		return p
	}
	conv := func(cout, cin, k int, g trConvGeom) trConv {
		return trConv{w: mk(cout*cin*k*k, 0, 1/math.Sqrt(float64(cin*k*k))), b: mk(cout, 0, 0.1), cout: cout, cin: cin, k: k, g: g}
	}
	norm := func(silu bool) trNormAct { return trNormAct{gamma: mk(64, 1, 0.2), beta: mk(64, 0, 0.2), silu: silu} }
	params := func(ps ...*trParam) []*trParam { return ps }
	convPs := func(c trConv) []*trParam { return params(c.w, c.b) }
	s := trShape{2, 4, 4, 64}
	nin := conv(64, 64, 1, trSame)
	type modCase struct {
		name string
		m    trModule
		ps   []*trParam
	}
	rb := &trResBlock{norm1: norm(true), norm2: norm(true), conv1: conv(64, 64, 3, trSame), conv2: conv(64, 64, 3, trSame)}
	rbNin := &trResBlock{norm1: norm(true), norm2: norm(true), conv1: conv(64, 64, 3, trSame), conv2: conv(64, 64, 3, trSame), nin: &nin}
	at := &trAttnBlock{norm: norm(false), q: conv(64, 64, 1, trSame), k: conv(64, 64, 1, trSame), v: conv(64, 64, 1, trSame), proj: conv(64, 64, 1, trSame)}
	down, up := conv(64, 64, 3, trDown), conv(64, 64, 3, trSame)
	na := norm(true)
	cases := []modCase{
		{"resblock", rb, append(append(params(rb.norm1.gamma, rb.norm1.beta, rb.norm2.gamma, rb.norm2.beta), convPs(rb.conv1)...), convPs(rb.conv2)...)},
		{"resblock+nin", rbNin, append(convPs(rbNin.conv1), convPs(nin)...)},
		{"attention", at, append(append(append(append(params(at.norm.gamma, at.norm.beta), convPs(at.q)...), convPs(at.k)...), convPs(at.v)...), convPs(at.proj)...)},
		{"downsample-conv", &trResample{conv: &down}, convPs(down)},
		{"downsample-avgpool", &trResample{}, nil},
		{"upsample-conv", &trResample{conv: &up, up: true}, convPs(up)},
		{"upsample-nearest", &trResample{up: true}, nil},
		{"groupnorm+silu", &na, params(na.gamma, na.beta)},
	}
	tm := &TrainVQGAN{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := trRandVec(r, s.size(), 1)
			var proj []float32
			f := func() float64 {
				out, _ := c.m.forward(tm, x, s)
				if proj == nil {
					proj = trRandVec(r, len(out), 1)
				}
				return trDot(proj, out)
			}
			f()
			for _, p := range c.ps {
				clear(p.g)
			}
			dx := c.m.backward(tm, proj)
			trFDCheck(t, "dx", x, dx, f, 30, 1e-2, 2e-3, 1e-2)
			for i, p := range c.ps {
				g := append([]float32(nil), p.g...)
				trFDCheck(t, "param "+string(rune('0'+i)), p.w, g, f, 12, 1e-2, 2e-3, 1e-2)
			}
		})
	}
}

// trTrainSteps runs n AdamW steps on batches drawn by r and returns the
// stats of each step and the number of dead codes restarted in all.
func trTrainSteps(t testing.TB, tm *TrainVQGAN, opt *optim.AdamW, r *rand.Rand, n, b int, lr float64) (out []TrainStats, restarts int) {
	for i := 0; i < n; i++ {
		pix := trImages(r, b, tm.cfg.Resolution)
		st, err := tm.Forward(pix, b)
		if err != nil {
			t.Fatal(err)
		}
		optim.ZeroGrads(tm.params)
		if err := tm.Backward(); err != nil {
			t.Fatal(err)
		}
		optim.ClipGlobalNorm(tm.params, 1)
		if err := opt.Step(tm.params, lr); err != nil {
			t.Fatal(err)
		}
		restarts += tm.restartDeadCodes(opt)
		out = append(out, st)
	}
	return out, restarts
}

// TestTrainVQGANMatchesInference trains a few steps, then checks that the
// inference Tokenizer built from the trained parameters (New) chooses the
// training forward's codes and decodes them to its reconstruction.
func TestTrainVQGANMatchesInference(t *testing.T) {
	cfg16 := trTinyConfig()
	cfg16.Resolution = 16
	cfg16.ChannelMult = []int{1, 2}
	cfg16.NumResBlocks = 2
	for _, c := range []struct {
		name string
		cfg  Config
	}{{"16x16", cfg16}, {"attention+noconv", trAttnConfig()}} {
		t.Run(c.name, func(t *testing.T) {
			tm, err := NewTrainVQGAN(c.cfg, 7)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(8, 9))
			trTrainSteps(t, tm, optim.NewAdamW(0), r, 3, 2, 1e-3)
			b, R, C := 3, c.cfg.Resolution, c.cfg.NumChannels
			pix := trImages(r, b, R)
			if _, err := tm.Forward(pix, b); err != nil {
				t.Fatal(err)
			}
			codes, recon := tm.Codes(), tm.Reconstruction()
			tok, err := tm.Tokenizer()
			if err != nil {
				t.Fatal(err)
			}
			T := c.cfg.TokensPerImage()
			worst, mismatches := 0.0, 0
			for n := 0; n < b; n++ {
				ids, err := tok.EncodePixels(pix[n*C*R*R:(n+1)*C*R*R], R, R)
				if err != nil {
					t.Fatal(err)
				}
				for i, id := range ids {
					if id != codes[n*T+i] {
						mismatches++
						// Only a near-tie may differ (the two forwards round
						// differently).
						if m := tm.margins[n*T+i]; m > 1e-5 {
							t.Errorf("image %d position %d: inference code %d, training %d (margin %.3g)", n, i, id, codes[n*T+i], m)
						}
					}
				}
				out, err := tok.DecodePixels(codes[n*T : (n+1)*T])
				if err != nil {
					t.Fatal(err)
				}
				worst = math.Max(worst, trMaxDiff(out, recon[n*C*R*R:(n+1)*C*R*R]))
			}
			t.Logf("%d codes, %d differ (near-ties); reconstruction max |Δ| = %.3g", b*T, mismatches, worst)
			if worst > 1e-4 {
				t.Errorf("decoder reconstruction differs from inference by %.3g", worst)
			}
		})
	}
}

// TestTrainVQGANAccumulation checks that the batch is processed image by
// image: the gradient of a batch of two is the mean of the gradients of its
// two halves accumulated by two Forward/Backward pairs.
func TestTrainVQGANAccumulation(t *testing.T) {
	tm, err := NewTrainVQGAN(trTinyConfig(), 41)
	if err != nil {
		t.Fatal(err)
	}
	trPerturb(tm, 42, 0.05)
	pix := trImages(rand.New(rand.NewPCG(43, 44)), 2, 8)
	half := len(pix) / 2
	grads := func(batches ...[]float32) []float32 {
		optim.ZeroGrads(tm.params)
		for _, b := range batches {
			if _, err := tm.Forward(b, len(b)/half); err != nil {
				t.Fatal(err)
			}
			if err := tm.Backward(); err != nil {
				t.Fatal(err)
			}
		}
		var g []float32
		for _, p := range tm.params {
			g = append(g, p.Grad...)
		}
		return g
	}
	full := grads(pix)
	acc := grads(pix[:half], pix[half:])
	worst, scale := 0.0, 0.0
	for i := range full {
		worst = math.Max(worst, math.Abs(float64(full[i])-float64(acc[i])/2))
		scale = math.Max(scale, math.Abs(float64(full[i])))
	}
	t.Logf("max |g(batch) − mean g(halves)| = %.3g (max |g| %.3g)", worst, scale)
	if worst > 1e-5*scale {
		t.Errorf("batch gradient differs from the accumulated halves by %.3g (max |g| %.3g)", worst, scale)
	}
}

// TestTrainVQGANThreadIndependent checks that training does not depend on
// the number of threads: every reduction has a fixed order.
func TestTrainVQGANThreadIndependent(t *testing.T) {
	run := func(threads int) []float32 {
		kernels.SetThreads(threads)
		defer kernels.SetThreads(0)
		cfg := trTinyConfig()
		cfg.Resolution = 16
		tm, err := NewTrainVQGAN(cfg, 51)
		if err != nil {
			t.Fatal(err)
		}
		trTrainSteps(t, tm, optim.NewAdamW(0.01), rand.New(rand.NewPCG(52, 53)), 2, 4, 1e-3)
		var w []float32
		for _, p := range tm.params {
			w = append(w, p.Value...)
		}
		return w
	}
	a, b := run(1), run(3)
	if d := trMaxDiff(a, b); d != 0 {
		t.Errorf("parameters after 2 steps differ between 1 and 3 threads by %g", d)
	}
}

// TestTrainVQGANDeadCodes checks the dead-code restart under both rules:
// codes unused for DeadCodeSteps steps become encoder outputs of the last
// batch, distinct rows, deterministically for the seed.
func TestTrainVQGANDeadCodes(t *testing.T) {
	for _, rule := range []RestartRule{RestartRandom, RestartFar} {
		t.Run(rule.String(), func(t *testing.T) { testDeadCodes(t, rule) })
	}
}

func testDeadCodes(t *testing.T, rule RestartRule) {
	run := func() (*TrainVQGAN, []int) {
		tm, err := NewTrainVQGAN(trTinyConfig(), 21)
		if err != nil {
			t.Fatal(err)
		}
		tm.DeadCodeSteps = 3
		tm.DeadCodeRule = rule
		r := rand.New(rand.NewPCG(22, 23))
		pix := trImages(r, 2, 8)
		var restarted []int
		for step := 0; step < 3; step++ {
			if _, err := tm.Forward(pix, 2); err != nil {
				t.Fatal(err)
			}
			restarted = append(restarted, tm.restartDeadCodes(nil))
		}
		return tm, restarted
	}
	tm, restarted := run()
	used := map[int]bool{}
	for _, c := range tm.codes {
		used[c] = true
	}
	want := tm.cfg.NumEmbeddings - len(used)
	if restarted[0] != 0 || restarted[1] != 0 || restarted[2] != want {
		t.Fatalf("restarts per step %v, want [0 0 %d] (%d codes used)", restarted, want, len(used))
	}
	E := tm.cfg.QuantizedEmbedDim
	rows := map[int]bool{}
	for j := 0; j < tm.cfg.NumEmbeddings; j++ {
		if used[j] {
			continue
		}
		found := -1
		for i := 0; i < len(tm.codes); i++ {
			if trMaxDiff(tm.codebook.w[j*E:(j+1)*E], tm.z[i*E:(i+1)*E]) == 0 {
				found = i
				break
			}
		}
		if found < 0 || rows[found] {
			t.Fatalf("restarted code %d is not a distinct encoder output (row %d)", j, found)
		}
		rows[found] = true
	}
	tm2, _ := run()
	if trMaxDiff(tm.codebook.w, tm2.codebook.w) != 0 {
		t.Errorf("dead-code restarts are not deterministic for the seed")
	}
	// After the restart every latent can pick up a fresh code: the batch
	// now uses more codes.
	st, err := tm.Forward(trImages(rand.New(rand.NewPCG(22, 23)), 2, 8), 2)
	if err != nil {
		t.Fatal(err)
	}
	if st.CodesUsed <= len(used) {
		t.Errorf("codes used %d after restart, %d before", st.CodesUsed, len(used))
	}
}

// TestRestartFarRows checks RestartFar's draws on a batch built by hand:
// every latent at code 0 (the origin) but row 5, far away, and row 7,
// near. The first restart must take row 5, the second row 7 (row 5's code
// does not cover it), and the rest, with every distance 0, any row.
func TestRestartFarRows(t *testing.T) {
	tm, err := NewTrainVQGAN(trTinyConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	E, n := tm.cfg.QuantizedEmbedDim, 32
	tm.z = make([]float32, n*E)
	tm.codes = make([]int, n)
	clear(tm.codebook.w[:E])
	for e := 0; e < E; e++ {
		tm.z[5*E+e], tm.z[7*E+e] = 10, 1
	}
	for seed := uint64(0); seed < 20; seed++ {
		tm.rng = rand.New(rand.NewPCG(seed, 1))
		pick := tm.farRows(E)
		if a, b := pick(0), pick(1); a != 5 || b != 7 {
			t.Fatalf("seed %d: first draws rows %d, %d; want 5 (farthest) then 7", seed, a, b)
		}
		if r := pick(2); r < 0 || r >= n {
			t.Fatalf("seed %d: third draw row %d, want one of the %d rows", seed, r, n)
		}
	}
	for _, name := range []string{"random", "far"} {
		r, err := ParseRestartRule(name)
		if err != nil || r.String() != name {
			t.Errorf("ParseRestartRule(%q) = %v, %v", name, r, err)
		}
	}
	if _, err := ParseRestartRule("nearest"); err == nil || !strings.Contains(err.Error(), `"nearest"`) {
		t.Errorf("ParseRestartRule(nearest): err = %v, want one naming the rule", err)
	}
}

func TestTrainVQGANErrors(t *testing.T) {
	cfg := trTinyConfig()
	cfg.Dropout = 0.1
	if _, err := NewTrainVQGAN(cfg, 1); err == nil || !strings.Contains(err.Error(), "dropout") {
		t.Errorf("dropout config: err = %v", err)
	}
	cfg = trTinyConfig()
	cfg.HiddenChannels = 20
	if _, err := NewTrainVQGAN(cfg, 1); err == nil || !strings.Contains(err.Error(), "hidden_channels") {
		t.Errorf("invalid config: err = %v", err)
	}
	tm, err := NewTrainVQGAN(trTinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Backward(); err == nil {
		t.Errorf("Backward before Forward succeeded")
	}
	if _, err := tm.Forward(make([]float32, 3*8*8), 2); err == nil {
		t.Errorf("short input accepted")
	}
	if _, err := tm.Forward(nil, 0); err == nil {
		t.Errorf("empty batch accepted")
	}
	pix := make([]float32, 3*8*8)
	pix[3*8*8-1] = float32(math.NaN())
	if _, err := tm.Forward(pix, 1); err == nil || !strings.Contains(err.Error(), "row 7, col 7") {
		t.Errorf("NaN input: err = %v", err)
	}
	pix[3*8*8-1] = 0
	if _, err := tm.Forward(pix, 1); err != nil {
		t.Fatal(err)
	}
	if err := tm.Backward(); err != nil {
		t.Fatal(err)
	}
	if err := tm.Backward(); err == nil {
		t.Errorf("second Backward for one Forward succeeded")
	}
	if _, err := LoadTrainVQGAN(t.TempDir()); err == nil {
		t.Errorf("loading an empty directory succeeded")
	}
}

// TestTrainVQGANParams checks names, order and initialisation.
func TestTrainVQGANParams(t *testing.T) {
	cfg := trAttnConfig()
	tm, err := NewTrainVQGAN(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	names, _, _ := ParamNames(cfg)
	if len(names) != len(tm.params) || tm.NumParams() != NumParameters(cfg) {
		t.Fatalf("%d params (%d values), ParamNames has %d (%d values)", len(tm.params), tm.NumParams(), len(names), NumParameters(cfg))
	}
	for i, p := range tm.params {
		if p.Name != names[i] {
			t.Fatalf("param %d is %s, want %s", i, p.Name, names[i])
		}
	}
	m := tm.ParamMap()
	maxAbs := func(v []float32) float64 { return trMaxDiff(v, make([]float32, len(v))) }
	check := func(name string, lo, hi float64) {
		if a := maxAbs(m[name]); a < lo || a > hi {
			t.Errorf("%s: max |value| %.4g, want in [%.4g, %.4g]", name, a, lo, hi)
		}
	}
	b := 1 / math.Sqrt(32*9)
	check("encoder.down.0.block.0.conv1.weight", 0.9*b, b)
	check("encoder.down.0.block.0.conv1.bias", 0.5*b, b)
	check("encoder.conv_in.weight", 0.8/math.Sqrt(27), 1/math.Sqrt(27))
	check("quantize.embedding.weight", 0.8/16, 1.0/16)
	check("encoder.mid.attn_1.q.weight", 0.8/math.Sqrt(64), 1/math.Sqrt(64))
	for _, v := range m["encoder.norm_out.weight"] {
		if v != 1 {
			t.Fatalf("norm weight %v, want 1", v)
		}
	}
	if maxAbs(m["decoder.mid.block_1.norm2.bias"]) != 0 {
		t.Errorf("norm bias not 0")
	}
}

// BenchmarkTrainVQGANStep times one training step (Forward, Backward,
// AdamW) of a 32×32 model (hidden 64, channel_mult [1,2,2], z 16, codebook
// 512) on a batch of 8 images and reports images/s.
func BenchmarkTrainVQGANStep(b *testing.B) {
	cfg := Config{Resolution: 32, NumChannels: 3, HiddenChannels: 64, ChannelMult: []int{1, 2, 2}, NumResBlocks: 2,
		AttnResolutions: []int{}, NoAttnMidBlock: true, ZChannels: 16, NumEmbeddings: 512, QuantizedEmbedDim: 16,
		ResampleWithConv: true, CommitmentCost: 0.25}
	tm, err := NewTrainVQGAN(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 8
	r := rand.New(rand.NewPCG(1, 2))
	pix := trImages(r, batch, cfg.Resolution)
	opt := optim.NewAdamW(0)
	step := func() {
		if _, err := tm.Forward(pix, batch); err != nil {
			b.Fatal(err)
		}
		optim.ZeroGrads(tm.params)
		if err := tm.Backward(); err != nil {
			b.Fatal(err)
		}
		if err := opt.Step(tm.params, 1e-4); err != nil {
			b.Fatal(err)
		}
		tm.restartDeadCodes(opt)
	}
	step()
	flops := trStepFlops(tm)
	b.ResetTimer()
	cpu0 := processCPUSeconds()
	for i := 0; i < b.N; i++ {
		step()
	}
	cpu := processCPUSeconds() - cpu0
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N*batch)/cpu, "images/cpu-s")
	}
}

// trStepFlops counts the multiply-adds (×2) of the convolutions and
// attention products of one training step over the last Forward's batch:
// each product once forward and twice backward (weight and input
// gradients; conv_in has no input gradient).
func trStepFlops(tm *TrainVQGAN) float64 {
	var f float64
	conv := func(c trConv, in trShape, noDx bool) {
		o := trConvOut(in, c.cout, c.g)
		n := 2 * float64(o.pixels()) * float64(c.cout) * float64(c.k*c.k*c.cin)
		f += 2 * n
		if !noDx {
			f += n
		}
	}
	var walk func(m trModule)
	walk = func(m trModule) {
		switch m := m.(type) {
		case *trConvLayer:
			conv(m.c, m.s, m.noInputGrad)
		case *trResBlock:
			conv(m.conv1, m.s, false)
			conv(m.conv2, m.s.withC(m.conv1.cout), false)
			if m.nin != nil {
				conv(*m.nin, m.s, false)
			}
		case *trAttnBlock:
			for _, c := range []trConv{m.q, m.k, m.v, m.proj} {
				conv(c, m.s, false)
			}
			P := float64(m.s.h * m.s.w)
			f += 3 * 2 * 2 * float64(m.s.b) * P * P * float64(m.s.c)
		case *trResample:
			switch {
			case m.conv != nil && m.up:
				conv(*m.conv, trShape{m.s.b, 2 * m.s.h, 2 * m.s.w, m.s.c}, false)
			case m.conv != nil:
				conv(*m.conv, m.s, false)
			}
		}
	}
	for _, m := range tm.enc {
		walk(m)
	}
	walk(tm.quantConv)
	walk(tm.postQuantConv)
	for _, m := range tm.dec {
		walk(m)
	}
	return f
}
