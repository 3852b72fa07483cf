package transformer

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/lvm-go/lvm/internal/weights"
)

// refForward is an independent, deliberately plain float64 implementation
// of LlamaForCausalLM (no cache, no chunking, no threads): the logits
// [T][V] of every position of tokens.
func refForward(t testing.TB, c Config, src memSource, tokens []int) [][]float64 {
	t.Helper()
	c = c.withDefaults()
	get := func(name string) []float64 {
		tn, err := src.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := tn.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	// linear: y[out] = W[out×in]·x
	linear := func(w, x []float64, out int) []float64 {
		in := len(x)
		y := make([]float64, out)
		for o := range y {
			for i := 0; i < in; i++ {
				y[o] += w[o*in+i] * x[i]
			}
		}
		return y
	}
	norm := func(x, w []float64) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		r := 1 / math.Sqrt(ss/float64(len(x))+c.RMSNormEps)
		y := make([]float64, len(x))
		for i := range x {
			y[i] = w[i] * x[i] * r
		}
		return y
	}
	hd, nh, nkv := c.HeadDim, c.NumHeads, c.NumKVHeads
	rope := func(x []float64, heads, pos int) {
		for h := 0; h < heads; h++ {
			v := x[h*hd : (h+1)*hd]
			for i := 0; i < hd/2; i++ {
				f := float64(pos) * math.Pow(c.RopeTheta, -float64(2*i)/float64(hd))
				a, b := v[i], v[i+hd/2]
				v[i] = a*math.Cos(f) - b*math.Sin(f)
				v[i+hd/2] = b*math.Cos(f) + a*math.Sin(f)
			}
		}
	}
	T, D := len(tokens), c.HiddenSize
	emb := get("model.embed_tokens.weight")
	x := make([][]float64, T)
	for p, tok := range tokens {
		x[p] = append([]float64(nil), emb[tok*D:(tok+1)*D]...)
	}
	for l := 0; l < c.NumLayers; l++ {
		pre := fmt.Sprintf("model.layers.%d.", l)
		wq, wk, wv, wo := get(pre+"self_attn.q_proj.weight"), get(pre+"self_attn.k_proj.weight"), get(pre+"self_attn.v_proj.weight"), get(pre+"self_attn.o_proj.weight")
		n1, n2 := get(pre+"input_layernorm.weight"), get(pre+"post_attention_layernorm.weight")
		wg, wu, wd := get(pre+"mlp.gate_proj.weight"), get(pre+"mlp.up_proj.weight"), get(pre+"mlp.down_proj.weight")
		q, k, v := make([][]float64, T), make([][]float64, T), make([][]float64, T)
		for p := range x {
			h := norm(x[p], n1)
			q[p], k[p], v[p] = linear(wq, h, nh*hd), linear(wk, h, nkv*hd), linear(wv, h, nkv*hd)
			rope(q[p], nh, p)
			rope(k[p], nkv, p)
		}
		for p := range x {
			att := make([]float64, nh*hd)
			for h := 0; h < nh; h++ {
				g := h / (nh / nkv)
				s := make([]float64, p+1)
				mx := math.Inf(-1)
				for j := 0; j <= p; j++ {
					for i := 0; i < hd; i++ {
						s[j] += q[p][h*hd+i] * k[j][g*hd+i]
					}
					s[j] /= math.Sqrt(float64(hd))
					mx = max(mx, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for j := range s {
					for i := 0; i < hd; i++ {
						att[h*hd+i] += s[j] / sum * v[j][g*hd+i]
					}
				}
			}
			o := linear(wo, att, D)
			for i := range o {
				x[p][i] += o[i]
			}
			h := norm(x[p], n2)
			gt, up := linear(wg, h, c.IntermediateSize), linear(wu, h, c.IntermediateSize)
			for i := range gt {
				gt[i] = gt[i] / (1 + math.Exp(-gt[i])) * up[i]
			}
			dn := linear(wd, gt, D)
			for i := range dn {
				x[p][i] += dn[i]
			}
		}
	}
	fn := get("model.norm.weight")
	head := "lm_head.weight"
	if c.TieWordEmbeddings {
		head = "model.embed_tokens.weight"
	}
	wh := get(head)
	out := make([][]float64, T)
	for p := range x {
		out[p] = linear(wh, norm(x[p], fn), c.VocabSize)
	}
	return out
}

// TestAgainstReference compares Model with refForward on random models
// covering the configuration space: multi-head, grouped-query and
// multi-query attention, an explicit head_dim ≠ D/H, tied embeddings, the
// three dtypes, and sequences longer than a prefill chunk and an attention
// block. Tolerance: 2e-4 absolute on logits of magnitude ~1.
func TestAgainstReference(t *testing.T) {
	base := Config{VocabSize: 97, HiddenSize: 32, IntermediateSize: 40, NumLayers: 2,
		NumHeads: 4, NumKVHeads: 4, MaxPositions: 320, RMSNormEps: 1e-5, RopeTheta: 10000}
	cases := []struct {
		name  string
		edit  func(*Config)
		dt    weights.DType
		steps int // tokens; longer than maxChunk crosses a chunk boundary
	}{
		{"mha f32", func(c *Config) {}, weights.F32, 40},
		{"gqa f16", func(c *Config) { c.NumKVHeads = 2 }, weights.F16, 40},
		{"mqa bf16", func(c *Config) { c.NumKVHeads = 1 }, weights.BF16, 40},
		{"head_dim 6, θ=500000", func(c *Config) { c.HeadDim = 6; c.RopeTheta = 5e5 }, weights.F32, 40},
		{"tied", func(c *Config) { c.TieWordEmbeddings = true }, weights.F16, 40},
		{"long gqa", func(c *Config) { c.NumKVHeads = 2; c.NumLayers = 1 }, weights.F32, 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			src := randomSource(c, tc.dt, 42)
			m, err := newModel(c, src)
			if err != nil {
				t.Fatal(err)
			}
			r := rng(7)
			toks := make([]int, tc.steps)
			for i := range toks {
				toks[i] = int(r.next() % uint64(c.VocabSize))
			}
			want := refForward(t, c, src, toks)
			all, err := m.PrefillAll(context.Background(), m.NewState(), toks)
			if err != nil {
				t.Fatal(err)
			}
			got := all.Data().([]float32)
			var worst, scale float64
			for p := range toks {
				for j, w := range want[p] {
					worst = max(worst, math.Abs(float64(got[p*c.VocabSize+j])-w))
					scale = max(scale, math.Abs(w))
				}
			}
			t.Logf("%s: max abs err %.3g (largest logit %.3g)", tc.name, worst, scale)
			if worst > 2e-4 {
				t.Errorf("max abs err %g > 2e-4", worst)
			}
		})
	}
}
