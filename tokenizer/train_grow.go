package tokenizer

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
)

// WithCodebook returns a copy of t whose codebook has k ≥ NumEmbeddings
// codes, for growing a trained tokenizer instead of training a larger one
// from scratch. Every parameter but the codebook is copied; code j keeps
// row j for j < K (the old size) and code j ≥ K starts as row j mod K plus
// Gaussian noise of 0.05 times the codebook's root-mean-square value,
// drawn for j = K, K+1, … in order by a generator seeded with seed. So
// the grown tokenizer codes an image much as t does, a new code replacing
// its parent only where the noise brings it nearer, until training moves
// the rows apart (and the dead-code restarts place the rows that stay
// unused). The copy has t's DeadCodeSteps, DeadCodeRule,
// FreezeEncoder and dead-code generator state, and fresh idle counts.
func (t *TrainVQGAN) WithCodebook(k int, seed uint64) (*TrainVQGAN, error) {
	K, E := t.cfg.NumEmbeddings, t.cfg.QuantizedEmbedDim
	if k < K {
		return nil, fmt.Errorf("tokenizer: WithCodebook: %d codes, fewer than the model's %d", k, K)
	}
	cfg := t.Config()
	cfg.NumEmbeddings = k
	g, err := NewTrainVQGAN(cfg, 0)
	if err != nil {
		return nil, err
	}
	for i, p := range g.params {
		if p.Name != "quantize.embedding.weight" {
			copy(p.Value, t.params[i].Value)
		}
	}
	old, grown := t.codebook.w, g.codebook.w
	copy(grown, old)
	var ss float64
	for _, v := range old {
		ss += float64(v) * float64(v)
	}
	scale := 0.05 * math.Sqrt(ss/float64(len(old)))
	r := rand.New(rand.NewPCG(seed, seed+1))
	for j := K; j < k; j++ {
		src := old[(j%K)*E : (j%K+1)*E]
		for e, v := range src {
			grown[j*E+e] = v + float32(scale*r.NormFloat64())
		}
	}
	state, err := t.rngSrc.MarshalBinary()
	if err == nil {
		err = g.rngSrc.UnmarshalBinary(state)
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer: WithCodebook: %w", err)
	}
	g.DeadCodeSteps, g.DeadCodeRule, g.FreezeEncoder = t.DeadCodeSteps, t.DeadCodeRule, t.FreezeEncoder
	return g, nil
}

// ParentCodes relates the codes of two tokenizers of the same resolution
// and grid, typically one grown from the other (WithCodebook) and trained
// further: it encodes images with both and returns, for each code c of
// child, the code of parent found most often at the positions where child
// chose c (the smallest such code on a tie). A code child never chose on
// these images gets the parent code whose codebook row is nearest to its
// own (the rows of a grown codebook started as copies of the parent's).
// A transformer trained on parent's codes can then start on child's codes
// with each new code's embedding and output row copied from its parent
// (transformer.TrainModel.RemapVocab). seen counts the positions behind
// each answer.
func ParentCodes(parent, child *Tokenizer, images []image.Image) (codes, seen []int, err error) {
	if parent == nil || child == nil {
		return nil, nil, errors.New("tokenizer: ParentCodes: nil tokenizer")
	}
	pc, cc := parent.Config(), child.Config()
	if pc.Resolution != cc.Resolution || pc.GridSize() != cc.GridSize() {
		return nil, nil, fmt.Errorf("tokenizer: ParentCodes: parent codes %d×%d images as a %d×%d grid, child %d×%d as %d×%d",
			pc.Resolution, pc.Resolution, pc.GridSize(), pc.GridSize(), cc.Resolution, cc.Resolution, cc.GridSize(), cc.GridSize())
	}
	if pc.QuantizedEmbedDim != cc.QuantizedEmbedDim {
		return nil, nil, fmt.Errorf("tokenizer: ParentCodes: codebook rows of %d values (parent) and %d (child)", pc.QuantizedEmbedDim, cc.QuantizedEmbedDim)
	}
	Kp, Kc := pc.NumEmbeddings, cc.NumEmbeddings
	counts := make([]int, Kc*Kp)
	pa, err := parent.EncodeBatch(images)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenizer: ParentCodes: parent: %w", err)
	}
	ca, err := child.EncodeBatch(images)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenizer: ParentCodes: child: %w", err)
	}
	for i, b := range ca {
		for p, c := range b {
			counts[c*Kp+pa[i][p]]++
		}
	}
	codes, seen = make([]int, Kc), make([]int, Kc)
	E := pc.QuantizedEmbedDim
	pw, cw := parent.m.codebook, child.m.codebook
	for c := 0; c < Kc; c++ {
		best := 0
		for p := 0; p < Kp; p++ {
			n := counts[c*Kp+p]
			seen[c] += n
			if n > counts[c*Kp+best] {
				best = p
			}
		}
		if seen[c] == 0 {
			d := math.Inf(1)
			for p := 0; p < Kp; p++ {
				if v := sqDist(cw[c*E:(c+1)*E], pw[p*E:(p+1)*E]); v < d {
					best, d = p, v
				}
			}
		}
		codes[c] = best
	}
	return codes, seen, nil
}
