package transformer

import (
	"context"
	"fmt"
	"math"
)

// Example is one perplexity example: target tokens scored given prompt
// tokens (REFERENCE §4: the codes of the prompt images, then those of the
// target image).
type Example struct {
	Prompt []int
	Target []int
}

// Perplexity returns exp(−mean log p(target[i] | prompt, target[:i])) from
// one forward pass over prompt+target in a fresh state, with log-softmax
// over all V logits (no suppression), as the paper measures it. The prompt
// and the target must be non-empty and fit in MaxPositions together.
func (m *Model) Perplexity(ctx context.Context, prompt, target []int) (float64, error) {
	nll, err := m.TargetNLL(ctx, prompt, target)
	if err != nil {
		return 0, err
	}
	return math.Exp(nll), nil
}

// TargetNLL returns the mean negative log-likelihood (natural log) of the
// target tokens, the logarithm of Perplexity.
func (m *Model) TargetNLL(ctx context.Context, prompt, target []int) (float64, error) {
	if err := m.checkExample(prompt, target); err != nil {
		return 0, err
	}
	return m.targetNLL(ctx, m.NewStateCap(len(prompt)+len(target)), prompt, target)
}

// checkExample validates the lengths of a perplexity example.
func (m *Model) checkExample(prompt, target []int) error {
	if len(prompt) == 0 {
		return fmt.Errorf("%w: perplexity needs a prompt (the first target token must be predicted)", ErrEmptyInput)
	}
	if len(target) == 0 {
		return fmt.Errorf("%w: perplexity needs a target", ErrEmptyInput)
	}
	if n := len(prompt) + len(target); n > m.cfg.MaxPositions {
		return fmt.Errorf("%w: prompt %d + target %d tokens > %d max positions", ErrCacheFull, len(prompt), len(target), m.cfg.MaxPositions)
	}
	return nil
}

// targetNLL is TargetNLL in st, which it resets first; st must have room
// for prompt and target.
func (m *Model) targetNLL(ctx context.Context, st *State, prompt, target []int) (float64, error) {
	st.Reset()
	n := len(prompt) + len(target)
	seq := make([]int, 0, n)
	seq = append(append(seq, prompt...), target...)
	if err := m.checkTokens(st, seq); err != nil {
		return 0, err
	}
	// Row i of the logits predicts seq[i+1]: the target is predicted by rows
	// len(prompt)−1 … n−2 (the last row's logits are computed but unused).
	var sum float64
	err := m.forward(ctx, st, seq, len(prompt)-1, func(i int, logits []float32) {
		if i+1 < n {
			sum += logSoftmaxAt(logits, seq[i+1])
		}
	})
	if err != nil {
		return 0, err
	}
	return -sum / float64(len(target)), nil
}

// MeanPerplexity returns the mean of the per-example perplexities, the
// dataset figure of the paper. One state, sized for the longest example,
// is reused for all of them. The error names the failing example.
func (m *Model) MeanPerplexity(ctx context.Context, examples []Example) (float64, error) {
	if len(examples) == 0 {
		return 0, fmt.Errorf("%w: no examples", ErrEmptyInput)
	}
	longest := 0
	for i, ex := range examples {
		if err := m.checkExample(ex.Prompt, ex.Target); err != nil {
			return 0, fmt.Errorf("example %d: %w", i, err)
		}
		longest = max(longest, len(ex.Prompt)+len(ex.Target))
	}
	st := m.NewStateCap(longest)
	var sum float64
	for i, ex := range examples {
		nll, err := m.targetNLL(ctx, st, ex.Prompt, ex.Target)
		if err != nil {
			return 0, fmt.Errorf("example %d: %w", i, err)
		}
		sum += math.Exp(nll)
	}
	return sum / float64(len(examples)), nil
}

// logSoftmaxAt returns log softmax(logits)[id], computed in float64 with
// the maximum subtracted.
func logSoftmaxAt(logits []float32, id int) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		if float64(v) > mx {
			mx = float64(v)
		}
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return float64(logits[id]) - mx - math.Log(s)
}
