package transformer

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/internal/weights"
)

// loadGoldenQ8 loads the golden fp16 checkpoint quantised to Q8.
func loadGoldenQ8(t testing.TB) *Model {
	t.Helper()
	m, err := LoadWith(goldenDir, LoadOptions{Quantize: Q8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestQ8GoldenPerplexity is the acceptance test of the 8-bit weights: the
// golden fixture (fp16) loaded with Quantize: Q8 scores the golden target
// with a perplexity within 1 % of the fp16 model's, and its logits and
// argmax stay close to the reference.
func TestQ8GoldenPerplexity(t *testing.T) {
	g := readGolden(t)
	ctx := context.Background()
	m16 := loadGoldenModel(t)
	m8 := loadGoldenQ8(t)
	ppl16, err := m16.Perplexity(ctx, g.Prompt, g.Target)
	if err != nil {
		t.Fatal(err)
	}
	ppl8, err := m8.Perplexity(ctx, g.Prompt, g.Target)
	if err != nil {
		t.Fatal(err)
	}
	rel := (ppl8 - ppl16) / ppl16
	t.Logf("perplexity: fp16 %.6f, q8 %.6f (change %+.3f %%; reference %.6f)", ppl16, ppl8, 100*rel, g.Perplexity)
	if math.Abs(rel) >= 0.01 {
		t.Errorf("q8 perplexity %v moves %.3g %% from fp16 %v (limit 1 %%)", ppl8, 100*rel, ppl16)
	}

	seq := g.sequence()
	v := m8.Config().VocabSize
	all16, err := m16.PrefillAll(ctx, m16.NewState(), seq)
	if err != nil {
		t.Fatal(err)
	}
	all8, err := m8.PrefillAll(ctx, m8.NewState(), seq)
	if err != nil {
		t.Fatal(err)
	}
	l16, l8 := all16.Data().([]float32), all8.Data().([]float32)
	agreeRef, agree16 := 0, 0
	for p, want := range g.LogitsArgmax {
		a := argmax(l8[p*v : (p+1)*v])
		if a == want {
			agreeRef++
		}
		if a == argmax(l16[p*v:(p+1)*v]) {
			agree16++
		}
	}
	var d2, y2, maxd float64
	for i := range l16 {
		d := float64(l8[i]) - float64(l16[i])
		d2 += d * d
		y2 += float64(l16[i]) * float64(l16[i])
		maxd = max(maxd, math.Abs(d))
	}
	relRMS := math.Sqrt(d2 / y2)
	t.Logf("q8 logits vs fp16: relative RMS change %.3g, max abs change %.3g; argmax equal to the reference at %d/%d positions, to fp16 at %d/%d",
		relRMS, maxd, agreeRef, len(g.LogitsArgmax), agree16, len(g.LogitsArgmax))
	// The golden model's random layers have sharp softmaxes that amplify
	// any rounding (bf16 weights change the logits by 4 % RMS as well).
	if relRMS > 0.08 || agreeRef < len(g.LogitsArgmax)*8/10 {
		t.Errorf("q8 logits too far from fp16: relative RMS %g, argmax %d/%d", relRMS, agreeRef, len(g.LogitsArgmax))
	}

	// For comparison, the 8-bit weights alone (dequantised to float32,
	// activations exact): how much of the change the activations' rounding
	// adds.
	mw, err := LoadWith(goldenDir, LoadOptions{Quantize: Q8})
	if err != nil {
		t.Fatal(err)
	}
	dequantize := func(w *matrix) {
		f := make([]float32, w.rows*w.cols)
		for r := 0; r < w.rows; r++ {
			w.q8.Row(f[r*w.cols:(r+1)*w.cols], r)
		}
		w.q8, w.f32, w.dtype = nil, f, weights.F32
	}
	for l := range mw.w.layers {
		lw := &mw.w.layers[l]
		for _, mt := range []*matrix{&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.wGate, &lw.wUp, &lw.wDown} {
			dequantize(mt)
		}
	}
	dequantize(&mw.w.lmHead)
	pplW, err := mw.Perplexity(ctx, g.Prompt, g.Target)
	if err != nil {
		t.Fatal(err)
	}
	allW, err := mw.PrefillAll(ctx, mw.NewState(), seq)
	if err != nil {
		t.Fatal(err)
	}
	lw := allW.Data().([]float32)
	d2 = 0
	for i := range l16 {
		d := float64(lw[i]) - float64(l16[i])
		d2 += d * d
	}
	t.Logf("8-bit weights only (float activations): perplexity %.6f (change %+.3f %%), logits relative RMS change %.3g",
		pplW, 100*(pplW-ppl16)/ppl16, math.Sqrt(d2/y2))
}

// TestQ8Consistency checks, on the quantised golden model, that
// token-by-token decoding and uneven prefill blocks give the logits of one
// prefill (each product row is independent of how many rows go through
// together), and that DecodeBatch equals separate Decodes.
func TestQ8Consistency(t *testing.T) {
	g := readGolden(t)
	m := loadGoldenQ8(t)
	ctx := context.Background()
	v := m.Config().VocabSize
	seq := g.Prompt[:300]
	allT, err := m.PrefillAll(ctx, m.NewState(), seq)
	if err != nil {
		t.Fatal(err)
	}
	all := allT.Data().([]float32)
	st := m.NewStateCap(len(seq))
	var worst float64
	for pos, blocks := 0, []int{1, 1, 7, 64, 100, 1, 1, 125}; pos < len(seq); blocks = blocks[1:] {
		n := blocks[0]
		if n == 1 {
			err = m.Decode(ctx, st, seq[pos])
		} else {
			err = m.Prefill(ctx, st, seq[pos:pos+n])
		}
		if err != nil {
			t.Fatal(err)
		}
		pos += n
		a, _ := maxAbsRel(st.LastLogits(), all[(pos-1)*v:pos*v])
		worst = max(worst, a)
	}
	t.Logf("q8: decode and uneven prefill blocks vs one prefill: max abs diff %.3g (tolerance 1e-4)", worst)
	if worst > 1e-4 {
		t.Errorf("max abs diff %g > 1e-4", worst)
	}

	base := m.NewState()
	if err := m.Prefill(ctx, base, g.Prompt[:50]); err != nil {
		t.Fatal(err)
	}
	batch := []*State{base.Clone(), base.Clone(), base.Clone()}
	single := []*State{base.Clone(), base.Clone(), base.Clone()}
	worst = 0
	for step := 0; step < 5; step++ {
		toks := []int{g.Target[step], g.Target[step+10], 8200 + step}
		if err := m.DecodeBatch(ctx, batch, toks); err != nil {
			t.Fatal(err)
		}
		for i, s := range single {
			if err := m.Decode(ctx, s, toks[i]); err != nil {
				t.Fatal(err)
			}
			a, _ := maxAbsRel(batch[i].LastLogits(), s.LastLogits())
			worst = max(worst, a)
		}
	}
	t.Logf("q8: DecodeBatch vs Decode: max abs diff %.3g", worst)
	if worst > 1e-5 {
		t.Errorf("DecodeBatch differs from Decode by %g", worst)
	}
}

// TestQ8Options checks LoadWith, newModelWith and NewRandom with Q8: the
// checkpoint is released, the weights shrink to about 34/32 bytes per
// linear weight, bad options and unquantisable weights are errors.
func TestQ8Options(t *testing.T) {
	if _, err := LoadWith(goldenDir, LoadOptions{Quantize: "q4"}); err == nil || !strings.Contains(err.Error(), `"q4"`) {
		t.Errorf("LoadWith q4: error %v, want one naming q4", err)
	}
	if _, err := newModelWith(Config{}, memSource{}, LoadOptions{Quantize: F16}); err == nil {
		t.Error("newModelWith Quantize f16: no error")
	}
	m16 := loadGoldenModel(t)
	m8 := loadGoldenQ8(t)
	if m8.set != nil {
		t.Error("LoadWith Q8 kept the checkpoint open")
	}
	c := m8.Config()
	emb := int64(2 * c.VocabSize * c.HiddenSize)
	lin16 := m16.WeightBytes() - emb
	lin8 := m8.WeightBytes() - emb
	t.Logf("golden weights: fp16 %d bytes, q8 %d bytes (linear weights and norms: %d → %d)", m16.WeightBytes(), m8.WeightBytes(), lin16, lin8)
	// Rows of 64 and 172 values pay for padding (a group's 16 scale slots,
	// the last block): 34/32 bytes a weight only for rows of 512·n.
	if r := float64(lin8) / float64(lin16); r > 0.8 || r < 0.5 {
		t.Errorf("q8/fp16 weight bytes %.3f, want 0.5–0.8", r)
	}

	// A tiny random config: NewRandom and newModelWith agree, and the
	// WeightBytes of a model with whole blocks is 34/32 per linear weight.
	cfg := Config{HiddenSize: 512, IntermediateSize: 1024, NumLayers: 2, NumHeads: 4, NumKVHeads: 4, HeadDim: 128,
		VocabSize: 300, MaxPositions: 64, RMSNormEps: 1e-6, RopeTheta: 10000}
	mr, err := NewRandom(cfg, Q8, 3)
	if err != nil {
		t.Fatal(err)
	}
	src := memorySource{}
	for n, shape := range ParamShapes(cfg) {
		data, err := RandomTensor(n, shape, F16, 3)
		if err != nil {
			t.Fatal(err)
		}
		src[n] = &weights.Tensor{Name: n, DType: weights.F16, Shape: shape, Data: data, File: "memory"}
	}
	mw, err := newModelWith(cfg, src, LoadOptions{Quantize: Q8})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s1, s2 := mr.NewState(), mw.NewState()
	if err := mr.Prefill(ctx, s1, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := mw.Prefill(ctx, s2, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if !equal(s1.LastLogits(), s2.LastLogits()) {
		t.Error("NewRandom(Q8) and newModelWith(Q8) of the same f16 weights differ")
	}
	// f32 and bf16 sources quantise too (row by row through float32).
	for _, dt := range []DType{F32, BF16} {
		srcDT := memorySource{}
		for n, shape := range ParamShapes(cfg) {
			data, err := RandomTensor(n, shape, dt, 3)
			if err != nil {
				t.Fatal(err)
			}
			wdt := map[DType]weights.DType{F32: weights.F32, BF16: weights.BF16}[dt]
			srcDT[n] = &weights.Tensor{Name: n, DType: wdt, Shape: shape, Data: data, File: "memory"}
		}
		mq, err := newModelWith(cfg, srcDT, LoadOptions{Quantize: Q8})
		if err != nil {
			t.Fatalf("%s source: %v", dt, err)
		}
		sq := mq.NewState()
		if err := mq.Prefill(ctx, sq, []int{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		a, _ := maxAbsRel(sq.LastLogits(), s1.LastLogits())
		t.Logf("q8 from %s vs q8 from f16: logits max abs diff %.3g", dt, a)
		if !(a < 0.5) {
			t.Errorf("q8 from %s: logits differ from q8 from f16 by %g", dt, a)
		}
	}

	d, i, l, v := int64(512), int64(1024), int64(2), int64(300)
	want := 2*v*d + v*d*34/32 + l*(4*d*d+3*d*i)*34/32 + 4*d*(2*l+1)
	if got := mr.WeightBytes(); got != want {
		t.Errorf("WeightBytes %d, want %d", got, want)
	}

	// A NaN weight cannot be quantised: the error names the tensor.
	bad := src["model.layers.1.mlp.up_proj.weight"]
	bad.Data = append([]byte(nil), bad.Data...)
	bad.Data[2*(512+7)], bad.Data[2*(512+7)+1] = 0x00, 0x7e // binary16 NaN in row 1
	if _, err := newModelWith(cfg, src, LoadOptions{Quantize: Q8}); err == nil || !strings.Contains(err.Error(), "model.layers.1.mlp.up_proj.weight row 1") {
		t.Errorf("NaN weight: error %v, want one naming the tensor and row 1", err)
	}
}

// TestQ8DecodeAllocs checks that a Q8 decode step allocates nothing on one
// thread once the state's buffers exist.
func TestQ8DecodeAllocs(t *testing.T) {
	m := loadGoldenQ8(t)
	ctx := context.Background()
	old := kernels.Threads()
	defer kernels.SetThreads(old)
	kernels.SetThreads(1)
	st := m.NewState()
	if err := m.Prefill(ctx, st, []int{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := m.Decode(ctx, st, 5); err != nil {
		t.Fatal(err)
	}
	i := 0
	allocs := testing.AllocsPerRun(20, func() {
		if err := m.Decode(ctx, st, i%50); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("q8 decode step allocates %.1f times on one thread", allocs)
	}
}
