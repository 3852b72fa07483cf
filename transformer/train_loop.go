package transformer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lvm-go/lvm/internal/optim"
)

// RowSource yields packed training rows of T+1 tokens (inputs are the
// first T, targets the last T), as sentence.Packer makes them.
type RowSource interface {
	NextRow() ([]int, error)
}

// TrainOptions is the recipe of a Trainer. Zero fields take the defaults
// noted.
type TrainOptions struct {
	Rows        int     // B, rows per micro-batch (default 8)
	RowLen      int     // T, input tokens per row (default: the model's max positions)
	Accumulate  int     // micro-batches per optimizer step (default 1)
	Steps       int     // optimizer steps (required)
	PeakLR      float64 // after warmup (default 1.5e-4, the official recipe)
	EndLR       float64 // at the end of the cosine (default PeakLR/5)
	Warmup      int     // warmup steps (default Steps/20)
	WeightDecay float64 // AdamW weight decay (default 0.1)
	ClipNorm    float64 // global gradient-norm clip (default 1)

	// Progress, if set, is called after every optimizer step.
	Progress func(TrainProgress)
	// Checkpoint, if set, is called every CheckpointEvery steps and after
	// the last with the model and its optimizer state ready to save
	// (TrainModel.Save, Trainer.SaveOptimizer).
	Checkpoint      func(step int) error
	CheckpointEvery int
}

// TrainProgress reports one optimizer step.
type TrainProgress struct {
	Step, Steps int
	Loss        float64 // mean over the step's micro-batches
	GradNorm    float64 // before clipping
	LR          float64
	TokensPerS  float64 // over the run so far
	Left        time.Duration
}

func (o *TrainOptions) defaults(c Config) error {
	if o.Steps <= 0 {
		return errors.New("transformer: TrainOptions.Steps must be positive")
	}
	if o.Rows <= 0 {
		o.Rows = 8
	}
	if o.RowLen <= 0 {
		o.RowLen = c.MaxPositions
	}
	if o.RowLen > c.MaxPositions {
		return fmt.Errorf("transformer: rows of %d tokens exceed %d max positions", o.RowLen, c.MaxPositions)
	}
	if o.Accumulate <= 0 {
		o.Accumulate = 1
	}
	if o.PeakLR == 0 {
		o.PeakLR = 1.5e-4
	}
	if o.EndLR == 0 {
		o.EndLR = o.PeakLR / 5
	}
	if o.Warmup == 0 {
		o.Warmup = max(1, o.Steps/20)
	}
	if o.WeightDecay == 0 {
		o.WeightDecay = 0.1
	}
	if o.ClipNorm == 0 {
		o.ClipNorm = 1
	}
	return nil
}

// Trainer runs the transformer stage of the LVM recipe (REFERENCE §5):
// next-token cross-entropy over packed rows, AdamW (β 0.9/0.95, ε 1e-8,
// weight decay on all parameters), global-norm clipping, warmup then cosine
// decay, gradient accumulation. Given the same model, data and options it
// is deterministic, and a run resumed with LoadOptimizer continues
// bit-identically given the rows the uninterrupted run would have seen
// next. A Trainer is not safe for concurrent use.
type Trainer struct {
	Model *TrainModel
	opt   *optim.AdamW
	opts  TrainOptions
	sched optim.Schedule
}

// NewTrainer prepares a run of opts over tm.
func NewTrainer(tm *TrainModel, opts TrainOptions) (*Trainer, error) {
	if err := opts.defaults(tm.cfg); err != nil {
		return nil, err
	}
	return &Trainer{Model: tm, opt: optim.NewAdamW(opts.WeightDecay), opts: opts,
		sched: optim.Schedule{Peak: opts.PeakLR, End: opts.EndLR, Warmup: opts.Warmup, Total: opts.Steps}}, nil
}

// Step is the number of optimizer steps done so far, counting those of a
// run restored by LoadOptimizer.
func (tr *Trainer) Step() int { return tr.opt.Steps() }

// SaveOptimizer writes what resuming needs besides the model (Save) to
// path as safetensors: the AdamW step (in the metadata) and both moments
// of every parameter ("m.<name>", "v.<name>").
func (tr *Trainer) SaveOptimizer(path string) error { return tr.Model.saveOptimizer(path, tr.opt) }

// LoadOptimizer restores a state written by SaveOptimizer, and so the step
// count of an interrupted run: Run then continues exactly as if it had not
// stopped, given the rows the uninterrupted run would have seen next
// (Step()·Accumulate·Rows rows in). The Model must be the one saved with
// it (LoadTrainModel).
func (tr *Trainer) LoadOptimizer(path string) error { return tr.Model.loadOptimizer(path, tr.opt) }

// Run trains until opts.Steps optimizer steps are done (counting those of a
// restored optimizer) or ctx ends, and returns the last step's loss.
func (tr *Trainer) Run(ctx context.Context, data RowSource) (float64, error) {
	o := tr.opts
	b, t := o.Rows, o.RowLen
	tokens, targets := make([]int, b*t), make([]int, b*t)
	params := tr.Model.params
	start, startStep := time.Now(), tr.opt.Steps()
	var loss float64
	for step := startStep; step < o.Steps; step++ {
		optim.ZeroGrads(params)
		loss = 0
		for a := 0; a < o.Accumulate; a++ {
			if err := ctx.Err(); err != nil {
				return loss, err
			}
			for r := 0; r < b; r++ {
				row, err := data.NextRow()
				if err != nil {
					return loss, fmt.Errorf("transformer: training data: %w", err)
				}
				if len(row) != t+1 {
					return loss, fmt.Errorf("transformer: training row of %d tokens, want %d (RowLen+1)", len(row), t+1)
				}
				copy(tokens[r*t:], row[:t])
				copy(targets[r*t:], row[1:])
			}
			l, err := tr.Model.Forward(tokens, targets, b, t)
			if err != nil {
				return loss, err
			}
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return loss, fmt.Errorf("transformer: loss is %v at step %d", l, step)
			}
			loss += l / float64(o.Accumulate)
			if err := tr.Model.Backward(); err != nil {
				return loss, err
			}
		}
		if o.Accumulate > 1 {
			s := 1 / float32(o.Accumulate)
			for _, p := range params {
				for i := range p.Grad {
					p.Grad[i] *= s
				}
			}
		}
		norm := optim.ClipGlobalNorm(params, o.ClipNorm)
		lr := tr.sched.LR(step)
		if err := tr.opt.Step(params, lr); err != nil {
			return loss, err
		}
		done := step + 1
		if o.Progress != nil {
			el := time.Since(start)
			n := done - startStep
			o.Progress(TrainProgress{Step: done, Steps: o.Steps, Loss: loss, GradNorm: norm, LR: lr,
				TokensPerS: float64(n*o.Accumulate*b*t) / el.Seconds(),
				Left:       time.Duration(float64(el) / float64(n) * float64(o.Steps-done))})
		}
		if o.Checkpoint != nil && (done == o.Steps || (o.CheckpointEvery > 0 && done%o.CheckpointEvery == 0)) {
			if err := o.Checkpoint(done); err != nil {
				return loss, err
			}
		}
	}
	return loss, nil
}
