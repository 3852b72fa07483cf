// Package eval measures a small LVM on held-out sentences of the synthetic
// world (issue 6's protocol): tokenizer reconstruction, analogy answers
// against two no-context baselines, and perplexity against the number of
// context examples.
package eval

import (
	"context"
	"fmt"
	"image"
	"math"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/synth"
)

// Options sets the size of an evaluation. Zero fields take the defaults.
type Options struct {
	Seed     uint64 // world seed of the held-out split (default 1)
	Images   int    // images for the tokenizer figures (default 64)
	PerTask  int    // sentences per task and example count (default 8)
	Pairs    []int  // example counts for analogies (default 1, 3, 5)
	PPLPerK  int    // sentences per point of the perplexity curve (default 16)
	Progress func(done, total int)
}

// Report holds every figure.
type Report struct {
	PSNR         float64 // mean reconstruction PSNR in dB (encode → decode)
	CodesUsed    int     // distinct codes over the evaluation images
	CodebookSize int
	// CodeStability is the fraction of code positions that a second round
	// trip keeps: encode(decode(encode(x))) against encode(x). Below 1 the
	// codebook holds interchangeable codes, so an answer's codes are not a
	// function of its pixels, which the transformer has to learn around.
	CodeStability float64
	Analogy       []AnalogyScore
	PerplexityByK []KPerplexity
}

// AnalogyScore compares the model's answers for one task and example count
// with the two baselines that use no in-context learning.
type AnalogyScore struct {
	Task              string
	Pairs             int
	Metric            string // "mask IoU" (higher is better) or "MSE" (lower is better)
	Model, Copy, Mean float64
	// Ceiling is the score of the true answer after a round trip through
	// the tokenizer (encode, decode): the best a model can reach.
	Ceiling float64
}

// HigherIsBetter reports the direction of the metric.
func (a AnalogyScore) HigherIsBetter() bool { return a.Metric == "mask IoU" }

// Beats reports whether the model is better than both baselines by at least
// margin (a fraction of the better baseline's distance to perfect).
func (a AnalogyScore) Beats(margin float64) bool {
	if a.HigherIsBetter() {
		best := math.Max(a.Copy, a.Mean)
		return a.Model >= best+margin*(1-best)
	}
	best := math.Min(a.Copy, a.Mean)
	return a.Model <= best*(1-margin)
}

// KPerplexity is the mean perplexity of the answer image with K examples.
type KPerplexity struct {
	K          int
	Perplexity float64
}

func (o *Options) defaults() {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Images <= 0 {
		o.Images = 64
	}
	if o.PerTask <= 0 {
		o.PerTask = 8
	}
	if len(o.Pairs) == 0 {
		o.Pairs = []int{1, 3, 5}
	}
	if o.PPLPerK <= 0 {
		o.PPLPerK = 16
	}
}

// Run evaluates p on held-out sentences. Generation is greedy, so the
// figures depend only on the models and the options.
func Run(ctx context.Context, p *lvm.Pipeline, o Options) (*Report, error) {
	o.defaults()
	tok := p.Tokenizer()
	g, err := synth.NewGenerator(o.Seed, tok.Resolution(), synth.HeldOut)
	if err != nil {
		return nil, err
	}
	rep := &Report{CodebookSize: tok.CodebookSize()}
	maxPairs := 0
	for _, k := range o.Pairs {
		maxPairs = max(maxPairs, k)
	}
	kinds := synth.TaskKinds()
	total := o.Images + len(kinds)*o.PerTask*len(o.Pairs) + o.PPLPerK*len(o.Pairs)
	done := 0
	tick := func() {
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}

	// Tokenizer: PSNR of encode → decode, and codebook usage.
	used := map[int]bool{}
	var psnr float64
	kept, positions := 0, 0
	for i := 0; i < o.Images; i++ {
		img := g.Image()
		ids, err := tok.Encode(img)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			used[id] = true
		}
		back, err := tok.Decode(ids)
		if err != nil {
			return nil, err
		}
		v, err := synth.PSNR(img, back)
		if err != nil {
			return nil, err
		}
		psnr += math.Min(v, 100) / float64(o.Images)
		again, err := tok.Encode(back)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			if again[i] == id {
				kept++
			}
		}
		positions += len(ids)
		tick()
	}
	rep.PSNR, rep.CodesUsed = psnr, len(used)
	if positions > 0 {
		rep.CodeStability = float64(kept) / float64(positions)
	}

	// Analogies: the same held-out sentences shortened to each example count.
	greedy := lvm.Options{Sampling: sampling.GreedyConfig()}
	for _, kind := range kinds {
		sents := make([]synth.Sentence, o.PerTask)
		metric := "MSE"
		if kind == synth.TaskMask {
			metric = "mask IoU"
		}
		// The answer is the same at every example count: its tokenizer
		// round trip is scored once per sentence.
		var ceiling float64
		for i := range sents {
			if sents[i], err = g.Analogy(kind, maxPairs); err != nil {
				return nil, err
			}
			truth := sents[i].Answers()[0]
			ids, err := tok.Encode(truth)
			if err != nil {
				return nil, err
			}
			roundTrip, err := tok.Decode(ids)
			if err != nil {
				return nil, err
			}
			v, err := score(metric, roundTrip, truth)
			if err != nil {
				return nil, err
			}
			ceiling += v / float64(len(sents))
		}
		for _, k := range o.Pairs {
			sc := AnalogyScore{Task: kind.String(), Pairs: k, Metric: metric, Ceiling: ceiling}
			for _, full := range sents {
				s, err := full.Shorten(k)
				if err != nil {
					return nil, err
				}
				prompt := p.NewSentence()
				if err := prompt.AppendImages(ctx, tok, s.Prompt()...); err != nil {
					return nil, err
				}
				cands, err := p.Generate(ctx, prompt, greedy)
				if err != nil {
					return nil, err
				}
				truth := s.Answers()[0]
				copyB, err := synth.CopyBaseline(s)
				if err != nil {
					return nil, err
				}
				meanB, err := synth.MeanBaseline(s)
				if err != nil {
					return nil, err
				}
				for j, pred := range []image.Image{cands[0].Images[0], copyB[0], meanB[0]} {
					v, err := score(sc.Metric, pred, truth)
					if err != nil {
						return nil, err
					}
					v /= float64(len(sents))
					switch j {
					case 0:
						sc.Model += v
					case 1:
						sc.Copy += v
					case 2:
						sc.Mean += v
					}
				}
				tick()
			}
			rep.Analogy = append(rep.Analogy, sc)
		}
	}

	// Perplexity of the answer against the number of examples (Fig. 7).
	sents := make([]synth.Sentence, o.PPLPerK)
	for i := range sents {
		if sents[i], err = g.Analogy(kinds[i%len(kinds)], maxPairs); err != nil {
			return nil, err
		}
	}
	for _, k := range o.Pairs {
		var sum float64
		for _, full := range sents {
			s, err := full.Shorten(k)
			if err != nil {
				return nil, err
			}
			prompt, target := p.NewSentence(), p.NewSentence()
			if err := prompt.AppendImages(ctx, tok, s.Prompt()...); err != nil {
				return nil, err
			}
			if err := target.AppendImages(ctx, tok, s.Answers()[0]); err != nil {
				return nil, err
			}
			ppl, err := p.Perplexity(ctx, prompt, target)
			if err != nil {
				return nil, err
			}
			sum += ppl
			tick()
		}
		rep.PerplexityByK = append(rep.PerplexityByK, KPerplexity{K: k, Perplexity: sum / float64(len(sents))})
	}
	return rep, nil
}

func score(metric string, pred, truth image.Image) (float64, error) {
	if metric == "mask IoU" {
		return synth.MaskIoU(pred, truth, 0.5)
	}
	return synth.MSE(pred, truth)
}

// Summary counts the tasks on which the model beats both baselines by
// margin at the given example count.
func (r *Report) Summary(pairs int, margin float64) (wins, tasks int) {
	for _, a := range r.Analogy {
		if a.Pairs != pairs {
			continue
		}
		tasks++
		if a.Beats(margin) {
			wins++
		}
	}
	return wins, tasks
}

// Markdown renders the report as the tables of the README.
func (r *Report) Markdown() string {
	s := fmt.Sprintf("Tokenizer: reconstruction PSNR %.2f dB, %d of %d codes used, %.1f %% of codes kept by a second round trip.\n\n",
		r.PSNR, r.CodesUsed, r.CodebookSize, 100*r.CodeStability)
	s += "| task | pairs | metric | model | copy query | mean of examples | tokenizer ceiling | beats both by 10 % |\n|---|---|---|---|---|---|---|---|\n"
	for _, a := range r.Analogy {
		s += fmt.Sprintf("| %s | %d | %s | %.4f | %.4f | %.4f | %.4f | %v |\n", a.Task, a.Pairs, a.Metric, a.Model, a.Copy, a.Mean, a.Ceiling, a.Beats(0.1))
	}
	s += "\n| examples | answer perplexity |\n|---|---|\n"
	for _, k := range r.PerplexityByK {
		s += fmt.Sprintf("| %d | %.2f |\n", k.K, k.Perplexity)
	}
	return s
}
