package lvm

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

// Version is the version of this module's API and numerics.
const Version = "0.1.0-dev"

// TokensPerImage and MaxPositions are the numbers of the released LVMs:
// a 256×256 image is 16×16 = 256 codes, and a visual sentence holds at most
// 4096 tokens (15 prompt images plus the one being generated).
const (
	TokensPerImage = 256
	MaxPositions   = 4096
)

// DefaultContextImages is the sliding window of the official code: after
// each generated image, the last 15 images become the new prompt.
const DefaultContextImages = 15

// Pipeline wires a Tokenizer and a Model into the LVM's image-in, image-out
// loop: visual sentence → model → sampler → tokens → image. Callers compose
// it from the parts they loaded, so either part can be swapped or shared.
//
// A Pipeline is immutable and safe for concurrent use (the model and the
// tokenizer are; every call makes its own states and samplers).
type Pipeline struct {
	tok   *tokenizer.Tokenizer
	model *transformer.Model

	// prefills counts prompt prefills, for tests of candidate sharing.
	prefills func()
}

// NewPipeline checks that tok and model fit together: the tokenizer's
// codebook must lie inside the model's vocabulary, and the model must hold
// at least one prompt image plus the image being generated.
func NewPipeline(tok *tokenizer.Tokenizer, model *transformer.Model) (*Pipeline, error) {
	if tok == nil || model == nil {
		return nil, errors.New("lvm: NewPipeline needs a tokenizer and a model")
	}
	cfg := model.Config()
	if k := tok.CodebookSize(); k > cfg.VocabSize {
		return nil, fmt.Errorf("lvm: tokenizer codebook (%d codes) is larger than the model vocabulary (%d ids): they were not trained together", k, cfg.VocabSize)
	}
	if tpi := tok.TokensPerImage(); 2*tpi > cfg.MaxPositions {
		return nil, fmt.Errorf("lvm: the model's %d positions cannot hold a prompt image and an answer of %d tokens each", cfg.MaxPositions, tpi)
	}
	return &Pipeline{tok: tok, model: model}, nil
}

// Tokenizer returns the pipeline's tokenizer.
func (p *Pipeline) Tokenizer() *tokenizer.Tokenizer { return p.tok }

// Model returns the pipeline's model.
func (p *Pipeline) Model() *transformer.Model { return p.model }

// NewSentence returns an empty visual sentence with the tokenizer's grid.
func (p *Pipeline) NewSentence() *sentence.VisualSentence {
	g := p.tok.GridSize()
	s, _ := sentence.New(g, g)
	return s
}

// Encode is the tokenizer's Encode: the image's row-major code grid.
func (p *Pipeline) Encode(img image.Image) ([]int, error) { return p.tok.Encode(img) }

// Options controls Generate. The zero value generates one image, one
// candidate, with the official sampling defaults.
type Options struct {
	// Images is the number of new images per candidate (default 1).
	Images int
	// Candidates is the number of independent continuations (default 1).
	// They share one prefill of the prompt and decode together.
	Candidates int
	// Sampling chooses each token. The zero value means sampling.Default()
	// (temperature 1, top-k 50, top-p 1). Its suppressed range is replaced
	// by the ids the tokenizer cannot decode, [K, V). Candidate c uses seed
	// Sampling.Seed + c.
	Sampling sampling.Config
	// ContextImages is the sliding window: when a new image would not fit
	// after this many images, only the last ContextImages images are kept
	// and the cache is recomputed from position 0, as the official code
	// does. Default DefaultContextImages, reduced when the model's positions
	// hold fewer.
	ContextImages int
	// Progress, if set, is called after every generated token with the
	// number of tokens done and the total (over all candidates).
	Progress func(done, total int)
}

// Candidate is one continuation of a prompt.
type Candidate struct {
	// Tokens holds each generated image's code grid, in order.
	Tokens [][]int
	// Images holds the decoded images (nil from GenerateTokens).
	Images []image.Image
}

// Generate continues the prompt with opts.Images new images for each of
// opts.Candidates candidates, and decodes them.
func (p *Pipeline) Generate(ctx context.Context, prompt *sentence.VisualSentence, opts Options) ([]Candidate, error) {
	cands, err := p.GenerateTokens(ctx, prompt, opts)
	if err != nil {
		return nil, err
	}
	for ci := range cands {
		imgs, err := p.tok.DecodeBatch(cands[ci].Tokens)
		if err != nil {
			return nil, fmt.Errorf("lvm: decoding candidate %d: %w", ci, err)
		}
		cands[ci].Images = imgs
	}
	return cands, nil
}

// checkPrompt validates a prompt sentence against the tokenizer and model.
func (p *Pipeline) checkPrompt(s *sentence.VisualSentence, what string, maxImages int) error {
	if s != nil && s.Len() > 0 && s.TokensPerImage() != p.tok.TokensPerImage() {
		r, c := s.GridSize()
		g := p.tok.GridSize()
		return fmt.Errorf("lvm: the %s has %d×%d token grids, the tokenizer makes %d×%d", what, r, c, g, g)
	}
	return checkSentence(s, what, maxImages, p.tok.CodebookSize())
}

// checkSentence validates a sentence's size and ids against a codebook.
func checkSentence(s *sentence.VisualSentence, what string, maxImages, codebook int) error {
	if s == nil || s.Len() == 0 {
		return fmt.Errorf("lvm: the %s is empty: give at least one image", what)
	}
	if maxImages > 0 && s.Len() > maxImages {
		return fmt.Errorf("lvm: the %s has %d images; at most %d fit with the image to generate", what, s.Len(), maxImages)
	}
	tpi := s.TokensPerImage()
	for i, id := range s.Tokens() {
		if id >= codebook {
			return fmt.Errorf("lvm: the %s's image %d, position %d: token %d is not a code of the tokenizer (codebook %d)", what, i/tpi, i%tpi, id, codebook)
		}
	}
	return nil
}

// GenerateTokens is Generate without decoding: each candidate's new images
// as code grids.
func (p *Pipeline) GenerateTokens(ctx context.Context, prompt *sentence.VisualSentence, opts Options) ([]Candidate, error) {
	if err := p.checkPrompt(prompt, "prompt", 0); err != nil {
		return nil, err
	}
	return generate(ctx, p.model, prompt, p.tok.CodebookSize(), opts, p.prefills)
}

// GenerateTokens continues prompt with model alone, in token mode: each new
// image is prompt.TokensPerImage() ids drawn from [0, codebook), and the
// loop is the Pipeline's (shared prefill of candidates, sliding window,
// progress, cancellation). codebook must not exceed the model's vocabulary.
func GenerateTokens(ctx context.Context, model *transformer.Model, prompt *sentence.VisualSentence, codebook int, opts Options) ([]Candidate, error) {
	if model == nil {
		return nil, errors.New("lvm: GenerateTokens needs a model")
	}
	if v := model.Config().VocabSize; codebook <= 0 || codebook > v {
		return nil, fmt.Errorf("lvm: codebook %d is not in [1, vocabulary %d]", codebook, v)
	}
	return generate(ctx, model, prompt, codebook, opts, nil)
}

// generate is the generation loop behind both GenerateTokens; onPrefill,
// when set, is called before every prompt prefill.
func generate(ctx context.Context, model *transformer.Model, prompt *sentence.VisualSentence, codebook int, opts Options, onPrefill func()) ([]Candidate, error) {
	if prompt == nil || prompt.Len() == 0 {
		return nil, checkSentence(prompt, "prompt", 0, codebook)
	}
	tpi := prompt.TokensPerImage()
	w := opts.ContextImages
	if w <= 0 {
		w = DefaultContextImages
	}
	if fit := model.Config().MaxPositions/tpi - 1; w > fit {
		w = fit
	}
	if w < 1 {
		return nil, fmt.Errorf("lvm: the model's %d positions cannot hold a prompt image and an answer of %d tokens each", model.Config().MaxPositions, tpi)
	}
	if err := checkSentence(prompt, "prompt", w, codebook); err != nil {
		return nil, err
	}
	if opts.Images < 0 || opts.Candidates < 0 {
		return nil, fmt.Errorf("lvm: negative count (images %d, candidates %d)", opts.Images, opts.Candidates)
	}
	nImages, nCand := max(opts.Images, 1), max(opts.Candidates, 1)
	scfg := opts.Sampling
	if scfg == (sampling.Config{}) {
		scfg = sampling.Default()
	}
	scfg.SuppressFrom, scfg.SuppressTo = codebook, math.MaxInt
	samplers := make([]*sampling.Sampler, nCand)
	for c := range samplers {
		sc := scfg
		sc.Seed += uint64(c)
		s, err := sampling.New(sc)
		if err != nil {
			return nil, fmt.Errorf("lvm: %w", err)
		}
		samplers[c] = s
	}

	capacity := (w + 1) * tpi
	states := make([]*transformer.State, nCand)
	contexts := make([]*sentence.VisualSentence, nCand) // each candidate's sentence so far
	for c := range contexts {
		contexts[c] = prompt.Clone()
	}
	cands := make([]Candidate, nCand)
	next := make([]int, nCand)
	done, total := 0, nImages*tpi*nCand

	for img := 0; img < nImages; img++ {
		// (Re)build each candidate's cache: the first image shares one
		// prefill of the prompt; later ones recompute from the last w
		// images when the sentence no longer fits, as the official code
		// does, and otherwise continue the cache, which is the same
		// computation at the same positions.
		if img == 0 {
			st := model.NewStateCap(capacity)
			if err := prefill(ctx, model, st, onPrefill, prompt.Tokens()); err != nil {
				return nil, err
			}
			for c := range states {
				if c == 0 {
					states[c] = st
				} else {
					states[c] = st.Clone()
				}
			}
		} else {
			for c := range states {
				if contexts[c].Len() > w {
					contexts[c] = contexts[c].Window(w)
					states[c].Reset()
					if err := prefill(ctx, model, states[c], onPrefill, contexts[c].Tokens()); err != nil {
						return nil, err
					}
				} else if err := model.Decode(ctx, states[c], next[c]); err != nil {
					return nil, fmt.Errorf("lvm: %w", err)
				}
			}
		}
		grids := make([][]int, nCand)
		for c := range grids {
			grids[c] = make([]int, tpi)
		}
		for t := 0; t < tpi; t++ {
			if t > 0 {
				if err := model.DecodeBatch(ctx, states, next); err != nil {
					return nil, fmt.Errorf("lvm: %w", err)
				}
			}
			for c, st := range states {
				id, err := samplers[c].Sample(st.LastLogits())
				if err != nil {
					return nil, fmt.Errorf("lvm: candidate %d, image %d, token %d: %w", c, img, t, err)
				}
				next[c] = id
				grids[c][t] = id
			}
			done += nCand
			if opts.Progress != nil {
				opts.Progress(done, total)
			}
		}
		for c := range cands {
			cands[c].Tokens = append(cands[c].Tokens, grids[c])
			if err := contexts[c].Append(grids[c]); err != nil {
				return nil, err
			}
		}
	}
	return cands, nil
}

func prefill(ctx context.Context, model *transformer.Model, st *transformer.State, onPrefill func(), tokens []int) error {
	if onPrefill != nil {
		onPrefill()
	}
	if err := model.Prefill(ctx, st, tokens); err != nil {
		return fmt.Errorf("lvm: %w", err)
	}
	return nil
}

// Perplexity returns the paper's metric for target images given prompt
// images: exp(−mean log p) of the target's tokens, one forward pass, all V
// logits (no suppression).
func (p *Pipeline) Perplexity(ctx context.Context, prompt, target *sentence.VisualSentence) (float64, error) {
	if err := p.checkPrompt(prompt, "prompt", 0); err != nil {
		return 0, err
	}
	if err := p.checkPrompt(target, "target", 0); err != nil {
		return 0, err
	}
	if n, max := prompt.NumTokens()+target.NumTokens(), p.model.Config().MaxPositions; n > max {
		return 0, fmt.Errorf("lvm: prompt and target are %d tokens, the model holds %d", n, max)
	}
	ppl, err := p.model.Perplexity(ctx, prompt.Tokens(), target.Tokens())
	if err != nil {
		return 0, fmt.Errorf("lvm: %w", err)
	}
	return ppl, nil
}
