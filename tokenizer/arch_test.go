package tokenizer

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// archCases are configurations of the released structure with other widths,
// depths, codebooks, resampling and attention settings, run end to end on
// random weights against the naive reference in ref_test.go.
var archCases = []struct {
	name string
	cfg  Config
	h, w int // input size (a multiple of the factor; need not be square)
}{
	{
		// Mid-block attention on, 3 levels, level attention at 16×16 (two
		// blocks per encoder level, so open-muse applies it), nin shortcuts.
		name: "mid-attn/3-levels/level-attn",
		cfg: Config{Resolution: 32, NumChannels: 3, HiddenChannels: 32, ChannelMult: []int{1, 2, 2},
			NumResBlocks: 2, AttnResolutions: []int{16}, NoAttnMidBlock: false, ZChannels: 8,
			NumEmbeddings: 64, QuantizedEmbedDim: 8, ResampleWithConv: true, CommitmentCost: 0.25},
		h: 32, w: 32,
	},
	{
		// resample_with_conv false (average pool / plain nearest), one
		// block per encoder level (so its level attention exists but is not
		// run), a non-square input and an odd codebook.
		name: "avgpool/2-levels/one-block/non-square",
		cfg: Config{Resolution: 16, NumChannels: 3, HiddenChannels: 32, ChannelMult: []int{1, 2},
			NumResBlocks: 1, AttnResolutions: []int{8, 16}, NoAttnMidBlock: true, ZChannels: 4,
			NumEmbeddings: 37, QuantizedEmbedDim: 5, ResampleWithConv: false},
		h: 16, w: 24,
	},
}

func TestArchitecturesMatchReference(t *testing.T) {
	for ci, c := range archCases {
		t.Run(c.name, func(t *testing.T) {
			seed := uint64(100 + ci)
			params := randomParams(c.cfg, seed)
			tk, err := New(c.cfg, params)
			if err != nil {
				t.Fatal(err)
			}
			ref := &refNet{cfg: c.cfg, p: params}
			rng := rand.New(rand.NewPCG(seed, 7))
			C, f, E := c.cfg.NumChannels, c.cfg.Factor(), c.cfg.QuantizedEmbedDim
			pix := make([]float32, C*c.h*c.w)
			for i := range pix {
				pix[i] = rng.Float32()
			}
			gh, gw := c.h/f, c.w/f

			// Encoder + quant_conv.
			lat, err := tk.Latent(tensor.New(tensor.WithShape(1, C, c.h, c.w), tensor.WithBacking(pix)))
			if err != nil {
				t.Fatal(err)
			}
			if got := []int(lat.Shape()); !equalShape(got, []int{1, E, gh, gw}) {
				t.Fatalf("latent shape %v, want [1 %d %d %d]", got, E, gh, gw)
			}
			refLat := ref.latent(refFromF32(C, c.h, c.w, pix))
			got := lat.Data().([]float32)
			d, scale := maxAbsDiff(got, refLat.f32()), maxAbs(refLat.f32())
			t.Logf("latent: max |Δ| = %.3g (values up to %.3g)", d, scale)
			if d > 1e-4 {
				t.Errorf("latent max abs error %.3g > 1e-4", d)
			}

			// Quantizer: exact nearest codes.
			refCodes, margins := ref.quantize(refLat)
			codesT, err := tk.Quantize(lat)
			if err != nil {
				t.Fatal(err)
			}
			checkTokens(t, codesT.Data().([]int), refCodes, margins)
			if gh == gw {
				ids, err := tk.EncodePixels(pix, c.h, c.w)
				if err != nil {
					t.Fatal(err)
				}
				checkTokens(t, ids, refCodes, margins)
			}

			// Decoder on the reference codes.
			refOut := ref.decode(refCodes, gh, gw)
			zq := make([]float32, E*gh*gw)
			cb := params["quantize.embedding.weight"]
			for p, id := range refCodes {
				for e := 0; e < E; e++ {
					zq[e*gh*gw+p] = cb[id*E+e]
				}
			}
			out, err := tk.DecodeLatent(tensor.New(tensor.WithShape(1, E, gh, gw), tensor.WithBacking(zq)))
			if err != nil {
				t.Fatal(err)
			}
			if got := []int(out.Shape()); !equalShape(got, []int{1, C, c.h, c.w}) {
				t.Fatalf("decoded shape %v", got)
			}
			d, scale = maxAbsDiff(out.Data().([]float32), refOut.f32()), maxAbs(refOut.f32())
			t.Logf("decoder: max |Δ| = %.3g (values up to %.3g)", d, scale)
			if d > 1e-4 {
				t.Errorf("decoder max abs error %.3g > 1e-4", d)
			}
			if gh == gw && gh == c.cfg.GridSize() {
				raw, err := tk.DecodePixels(refCodes)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(raw, refOut.f32()); d > 1e-4 {
					t.Errorf("DecodePixels max abs error %.3g > 1e-4", d)
				}
			}

			// NewRandom makes the same model as New(randomParams).
			tr, err := NewRandom(c.cfg, seed)
			if err != nil {
				t.Fatal(err)
			}
			lat2, err := tr.Latent(tensor.New(tensor.WithShape(1, C, c.h, c.w), tensor.WithBacking(pix)))
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(lat2.Data().([]float32), got); d != 0 {
				t.Errorf("NewRandom and New(randomParams) differ by %.3g", d)
			}
		})
	}
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}
