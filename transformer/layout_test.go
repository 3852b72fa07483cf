package transformer

import (
	"context"
	"testing"

	"github.com/lvm-go/lvm/internal/weights"
)

// TestLayouts checks the layouts of fp16 linear weights: Load keeps the
// golden fp16 checkpoint mapped (LayoutAuto is stored), LayoutTiled tiles
// it and closes it, and the two give the same logits bit for bit in prefill, decode
// and DecodeBatch; NewRandom tiles in place (and declines shapes that need
// padding by copying), newModelWith follows its options, and f32 models
// are left as they are.
func TestLayouts(t *testing.T) {
	g := readGolden(t)
	ctx := context.Background()
	tiled, err := LoadWith(goldenDir, LoadOptions{Layout: LayoutTiled})
	if err != nil {
		t.Fatal(err)
	}
	stored := loadGoldenModel(t)
	if tiled.set != nil || tiled.w.layers[0].wq.f16t == nil || tiled.w.lmHead.f16t == nil || tiled.w.layers[1].wDown.u16 != nil {
		t.Fatal("LayoutTiled of the fp16 golden checkpoint: weights not tiled, or checkpoint still open")
	}
	if stored.set == nil || stored.w.layers[0].wq.f16t != nil {
		t.Fatal("Load (LayoutAuto): weights tiled")
	}
	if _, err := LoadWith(goldenDir, LoadOptions{Layout: 7}); err == nil {
		t.Error("unknown layout: no error")
	}
	t.Logf("golden weights: stored %d bytes, tiled %d bytes", stored.WeightBytes(), tiled.WeightBytes())

	st, ss := tiled.NewState(), stored.NewState()
	if err := tiled.Prefill(ctx, st, g.Prompt[:40]); err != nil {
		t.Fatal(err)
	}
	if err := stored.Prefill(ctx, ss, g.Prompt[:40]); err != nil {
		t.Fatal(err)
	}
	if !equal(st.LastLogits(), ss.LastLogits()) {
		t.Fatal("prefill: tiled and stored logits differ")
	}
	bt := []*State{st.Clone(), st.Clone(), st.Clone()}
	bs := []*State{ss.Clone(), ss.Clone(), ss.Clone()}
	for step := 0; step < 5; step++ {
		tok := g.Target[step]
		if err := tiled.Decode(ctx, st, tok); err != nil {
			t.Fatal(err)
		}
		if err := stored.Decode(ctx, ss, tok); err != nil {
			t.Fatal(err)
		}
		if !equal(st.LastLogits(), ss.LastLogits()) {
			t.Fatalf("decode step %d: tiled and stored logits differ", step)
		}
		toks := []int{tok, g.Target[step+10], g.Target[step+20]}
		if err := tiled.DecodeBatch(ctx, bt, toks); err != nil {
			t.Fatal(err)
		}
		if err := stored.DecodeBatch(ctx, bs, toks); err != nil {
			t.Fatal(err)
		}
		for i := range bt {
			if !equal(bt[i].LastLogits(), bs[i].LastLogits()) {
				t.Fatalf("DecodeBatch step %d, state %d: tiled and stored logits differ", step, i)
			}
		}
	}

	// NewRandom and newModelWith of the same fp16 weights: tiled in place
	// (dimensions of multiples of 4 and 32) or copied (a vocabulary of 301
	// rows), tied or not, always the same logits as the stored weights.
	for _, c := range []struct {
		vocab int
		tied  bool
	}{{300, false}, {301, false}, {300, true}} {
		vocab := c.vocab
		cfg := Config{HiddenSize: 128, IntermediateSize: 256, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 32,
			VocabSize: vocab, MaxPositions: 64, RMSNormEps: 1e-6, RopeTheta: 10000, TieWordEmbeddings: c.tied}
		mr, err := newRandom(cfg, F16, 5, LayoutTiled)
		if err != nil {
			t.Fatal(err)
		}
		src := memorySource{}
		for n, shape := range ParamShapes(cfg) {
			data, err := RandomTensor(n, shape, F16, 5)
			if err != nil {
				t.Fatal(err)
			}
			src[n] = &weights.Tensor{Name: n, DType: weights.F16, Shape: shape, Data: data, File: "memory"}
		}
		ms, err := newModelWith(cfg, src, LoadOptions{Layout: LayoutStored})
		if err != nil {
			t.Fatal(err)
		}
		mt, err := newModelWith(cfg, src, LoadOptions{Layout: LayoutTiled})
		if err != nil {
			t.Fatal(err)
		}
		if mr.w.lmHead.f16t == nil || mt.w.layers[0].wUp.f16t == nil || ms.w.layers[0].wUp.f16t != nil {
			t.Fatalf("vocab %d: layouts not as asked", vocab)
		}
		var want []float32
		for i, m := range []*Model{ms, mr, mt} {
			s := m.NewState()
			if err := m.Prefill(ctx, s, []int{1, 2, 3, 4, 5}); err != nil {
				t.Fatal(err)
			}
			if err := m.Decode(ctx, s, 7); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				want = append([]float32(nil), s.LastLogits()...)
			} else if !equal(s.LastLogits(), want) {
				t.Errorf("vocab %d, model %d: logits differ from the stored weights'", vocab, i)
			}
		}
	}

	// f32 weights are not tiled.
	cfg := Config{HiddenSize: 64, IntermediateSize: 128, NumLayers: 1, NumHeads: 2, NumKVHeads: 2, HeadDim: 32,
		VocabSize: 100, MaxPositions: 16, RMSNormEps: 1e-6, RopeTheta: 10000}
	m32, err := NewRandom(cfg, F32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m32.w.layers[0].wq.f16t != nil || m32.w.layers[0].wq.f32 == nil {
		t.Error("f32 model: weights tiled")
	}
}
