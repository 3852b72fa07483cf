package lvm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

// TestTensorDependencyStarts guards the go.mod pin of
// go4.org/unsafe/assume-no-moving-gc: with the version gorgonia.org/tensor
// v0.9.24 asks for, every program importing tensor panics at start-up on
// Go 1.26, so this test binary would not even reach this line.
func TestTensorDependencyStarts(t *testing.T) {
	d := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	if got := d.Shape(); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("shape = %v, want (2, 3)", got)
	}
	v, err := d.At(1, 2)
	if err != nil || v.(float32) != 6 {
		t.Fatalf("At(1,2) = %v, %v; want 6", v, err)
	}
}

// goldenPipeline composes the two golden fixtures: a 64×64 VQGAN with a
// 4×4 grid (16 tokens per image, codebook 512) and a 2-layer LLaMA with the
// LVM vocabulary. The weights are random, so generated images are noise,
// but every step of the loop is the real one.
func goldenPipeline(t testing.TB) *Pipeline {
	t.Helper()
	tok, err := tokenizer.Load("testdata/vqgan")
	require.NoError(t, err)
	model, err := transformer.Load("testdata/llama")
	require.NoError(t, err)
	t.Cleanup(func() { model.Close() })
	p, err := NewPipeline(tok, model)
	require.NoError(t, err)
	return p
}

// promptOf builds a sentence of n images with deterministic codes < 512.
func promptOf(t testing.TB, p *Pipeline, n int) *sentence.VisualSentence {
	s := p.NewSentence()
	for i := 0; i < n; i++ {
		g := make([]int, s.TokensPerImage())
		for j := range g {
			g[j] = (i*131 + j*37 + 5) % 512
		}
		require.NoError(t, s.Append(g))
	}
	return s
}

// referenceGreedy generates images the slow, obvious way: for every image,
// a fresh state over the last w images of the sentence, then one Decode per
// token, arg-max over the tokenizer's codes.
func referenceGreedy(t *testing.T, p *Pipeline, prompt *sentence.VisualSentence, images, w int) [][]int {
	ctx := context.Background()
	s := prompt.Clone()
	var out [][]int
	for i := 0; i < images; i++ {
		ctxSent := s.Window(w)
		st := p.model.NewState()
		require.NoError(t, p.model.Prefill(ctx, st, ctxSent.Tokens()))
		grid := make([]int, s.TokensPerImage())
		for j := range grid {
			if j > 0 {
				require.NoError(t, p.model.Decode(ctx, st, grid[j-1]))
			}
			grid[j] = sampling.Argmax(st.LastLogits(), p.tok.CodebookSize(), math.MaxInt)
		}
		out = append(out, grid)
		require.NoError(t, s.Append(grid))
	}
	return out
}

func TestGenerateGreedyMatchesReference(t *testing.T) {
	p := goldenPipeline(t)
	ctx := context.Background()
	for _, c := range []struct {
		name         string
		promptImages int
		images, w    int
		wantPrefills int
	}{
		{"no slide", 3, 3, 15, 1},
		{"slide every image", 2, 4, 2, 4}, // the prompt, then images 2..4 recompute the window
	} {
		t.Run(c.name, func(t *testing.T) {
			prompt := promptOf(t, p, c.promptImages)
			want := referenceGreedy(t, p, prompt, c.images, c.w)
			prefills := 0
			q := *p
			q.prefills = func() { prefills++ }
			got, err := q.GenerateTokens(ctx, prompt, Options{Images: c.images, ContextImages: c.w, Sampling: sampling.GreedyConfig()})
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Tokens)
			assert.Equal(t, c.wantPrefills, prefills, "prompt prefills")
			for _, g := range got[0].Tokens {
				for _, id := range g {
					assert.Less(t, id, p.tok.CodebookSize())
				}
			}
		})
	}
}

func TestCandidatesShareOnePrefill(t *testing.T) {
	p := goldenPipeline(t)
	ctx := context.Background()
	prompt := promptOf(t, p, 4)
	prefills := 0
	q := *p
	q.prefills = func() { prefills++ }
	var progress []int
	opts := Options{Images: 2, Candidates: 4, Sampling: sampling.Default(), Progress: func(done, total int) {
		require.Equal(t, 2*16*4, total)
		progress = append(progress, done)
	}}
	opts.Sampling.Seed = 7
	got, err := q.Generate(ctx, prompt, opts)
	require.NoError(t, err)
	assert.Equal(t, 1, prefills, "4 candidates must share one prefill")
	assert.Equal(t, 32, len(progress))
	assert.Equal(t, 2*16*4, progress[len(progress)-1])
	require.Len(t, got, 4)
	distinct := map[string]bool{}
	for _, c := range got {
		require.Len(t, c.Tokens, 2)
		require.Len(t, c.Images, 2)
		assert.Equal(t, 64, c.Images[0].Bounds().Dx())
		distinct[fmt.Sprint(c.Tokens[0])] = true
	}
	assert.Greater(t, len(distinct), 1, "candidates with different seeds should differ")

	// Candidate c with seed s+c equals a single-candidate run with that seed.
	for c := 0; c < 4; c++ {
		o := opts
		o.Candidates, o.Progress = 1, nil
		o.Sampling.Seed = 7 + uint64(c)
		one, err := p.GenerateTokens(ctx, prompt, o)
		require.NoError(t, err)
		assert.Equal(t, got[c].Tokens, one[0].Tokens, "candidate %d", c)
	}
	// Same seed, same images.
	again, err := p.GenerateTokens(ctx, prompt, Options{Images: 2, Candidates: 4, Sampling: opts.Sampling})
	require.NoError(t, err)
	for c := range again {
		assert.Equal(t, got[c].Tokens, again[c].Tokens)
	}
}

func TestPipelineErrors(t *testing.T) {
	p := goldenPipeline(t)
	ctx := context.Background()
	sixteen := promptOf(t, p, 16)
	_, err := p.GenerateTokens(ctx, sixteen, Options{})
	assert.ErrorContains(t, err, "16 images; at most 15")

	_, err = p.GenerateTokens(ctx, p.NewSentence(), Options{})
	assert.ErrorContains(t, err, "empty")
	_, err = p.GenerateTokens(ctx, nil, Options{})
	assert.ErrorContains(t, err, "empty")

	bad := p.NewSentence()
	g := make([]int, 16)
	g[5] = 600
	require.NoError(t, bad.Append(g))
	_, err = p.GenerateTokens(ctx, bad, Options{})
	assert.ErrorContains(t, err, "token 600 is not a code of the tokenizer (codebook 512)")

	other, _ := sentence.New(2, 2)
	require.NoError(t, other.Append([]int{1, 2, 3, 4}))
	_, err = p.GenerateTokens(ctx, other, Options{})
	assert.ErrorContains(t, err, "2×2 token grids, the tokenizer makes 4×4")

	_, err = p.GenerateTokens(ctx, promptOf(t, p, 1), Options{Sampling: sampling.Config{Temperature: -1}})
	assert.ErrorContains(t, err, "temperature")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.GenerateTokens(cancelled, promptOf(t, p, 2), Options{})
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)

	_, err = NewPipeline(nil, p.model)
	assert.Error(t, err)
}

func TestPipelineMismatchedCodebook(t *testing.T) {
	// A tokenizer whose codebook is larger than the model's vocabulary.
	cfg, err := tokenizer.LoadConfig("testdata/vqgan/config.json")
	require.NoError(t, err)
	cfg.NumEmbeddings = 9000
	names, shapes, err := tokenizer.ParamNames(cfg)
	require.NoError(t, err)
	params := map[string][]float32{}
	for i, n := range names {
		size := 1
		for _, d := range shapes[i] {
			size *= d
		}
		params[n] = make([]float32, size)
	}
	tok, err := tokenizer.New(cfg, params)
	require.NoError(t, err)
	model, err := transformer.Load("testdata/llama")
	require.NoError(t, err)
	defer model.Close()
	_, err = NewPipeline(tok, model)
	assert.ErrorContains(t, err, "codebook (9000 codes) is larger than the model vocabulary (8292 ids)")
}

func TestPipelinePerplexity(t *testing.T) {
	p := goldenPipeline(t)
	ctx := context.Background()
	prompt, target := promptOf(t, p, 3), promptOf(t, p, 1)
	got, err := p.Perplexity(ctx, prompt, target)
	require.NoError(t, err)
	want, err := p.model.Perplexity(ctx, prompt.Tokens(), target.Tokens())
	require.NoError(t, err)
	assert.Equal(t, want, got)
	t.Logf("perplexity of 1 target image given 3: %.2f", got)
	_, err = p.Perplexity(ctx, p.NewSentence(), target)
	assert.ErrorContains(t, err, "prompt is empty")
}
