package tokenizer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"time"

	"github.com/lvm-go/lvm/internal/optim"
)

// ImageSource yields training images. Each is fitted to the model's
// resolution as Preprocess does (bicubic resize of its RGB values).
type ImageSource interface {
	NextImage() (image.Image, error)
}

// ImageFunc adapts a function to ImageSource; for a synth.Generator g:
//
//	tokenizer.ImageFunc(func() (image.Image, error) { return g.Image(), nil })
type ImageFunc func() (image.Image, error)

// NextImage returns f().
func (f ImageFunc) NextImage() (image.Image, error) { return f() }

// TrainOptions is the recipe of a Trainer. Zero fields take the defaults
// noted.
type TrainOptions struct {
	Batch       int     // images per step (default 16)
	Steps       int     // AdamW steps (required)
	PeakLR      float64 // after warmup (default 1e-3)
	EndLR       float64 // at the end of the cosine (default PeakLR/10)
	Warmup      int     // warmup steps (default Steps/20, at least 1)
	WeightDecay float64 // AdamW weight decay (default 0: none)
	ClipNorm    float64 // global gradient-norm clip (default 1; negative: no clipping)

	// Images supplies the training images, Batch per step, in order
	// (required).
	Images ImageSource

	// Progress, if set, is called after every step.
	Progress func(TrainProgress)
	// Checkpoint, if set, is called every CheckpointEvery steps and after
	// the last with the model and its AdamW state ready to save (Save,
	// SaveOptimizer).
	Checkpoint      func(step int) error
	CheckpointEvery int
}

// TrainProgress reports one step.
type TrainProgress struct {
	Step, Steps int
	Stats       TrainStats // of the step's batch, before the update
	GradNorm    float64    // before clipping
	LR          float64
	Restarted   int     // dead codes re-initialised after the update
	ImagesPerS  float64 // over the run so far
	Left        time.Duration
}

func (o *TrainOptions) defaults() error {
	if o.Steps <= 0 {
		return errors.New("tokenizer: TrainOptions.Steps must be positive")
	}
	if o.Images == nil {
		return errors.New("tokenizer: TrainOptions.Images is nil")
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
	if o.PeakLR == 0 {
		o.PeakLR = 1e-3
	}
	if o.EndLR == 0 {
		o.EndLR = o.PeakLR / 10
	}
	if o.Warmup == 0 {
		o.Warmup = max(1, o.Steps/20)
	}
	if o.ClipNorm == 0 {
		o.ClipNorm = 1
	}
	return nil
}

// Trainer runs the tokenizer stage of the LVM recipe (REFERENCE §2, §5):
// reconstruction + codebook + commitment loss (TrainVQGAN), AdamW (β
// 0.9/0.95, ε 1e-8), global-norm clipping, warmup then cosine decay, and
// after each update the dead-code restart (TrainVQGAN.DeadCodeSteps); with
// TrainVQGAN.FreezeEncoder, the decoder side alone and no restart. Given
// the same model, images and options it is deterministic, and a run resumed
// with LoadOptimizer continues bit-identically. A Trainer is not safe for
// concurrent use.
type Trainer struct {
	Model *TrainVQGAN
	opt   *optim.AdamW
	opts  TrainOptions
	sched optim.Schedule
	pix   []float32
}

// NewTrainer prepares a run of opts over tv, which must take RGB images
// (num_channels 3).
func NewTrainer(tv *TrainVQGAN, opts TrainOptions) (*Trainer, error) {
	if tv == nil {
		return nil, errors.New("tokenizer: NewTrainer: nil model")
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if c := tv.cfg.NumChannels; c != 3 {
		return nil, fmt.Errorf("tokenizer: training works on RGB images but the model has num_channels = %d", c)
	}
	return &Trainer{Model: tv, opt: optim.NewAdamW(opts.WeightDecay), opts: opts,
		sched: optim.Schedule{Peak: opts.PeakLR, End: opts.EndLR, Warmup: opts.Warmup, Total: opts.Steps}}, nil
}

// Step is the number of steps done so far, counting those of a run
// restored by LoadOptimizer.
func (tr *Trainer) Step() int { return tr.opt.Steps() }

// SaveOptimizer writes what resuming needs besides the model (Save) to
// path as safetensors: the AdamW step and both moments of every parameter
// ("m.<name>", "v.<name>") — of the decoder side only with FreezeEncoder —,
// the dead-code idle counts ("vq.since_used") and, in the metadata, the
// dead-code generator's state, DeadCodeSteps, DeadCodeRule and
// FreezeEncoder.
func (tr *Trainer) SaveOptimizer(path string) error { return tr.Model.saveOptimizer(path, tr.opt) }

// LoadOptimizer restores a state written by SaveOptimizer, and so the step
// count of an interrupted run: Run then continues exactly as if it had not
// stopped, given the images the uninterrupted run would have seen next
// (Step()·Batch images in).
func (tr *Trainer) LoadOptimizer(path string) error { return tr.Model.loadOptimizer(path, tr.opt) }

// Run trains until opts.Steps steps are done (counting those of a restored
// state) or ctx ends. On ctx's end it returns ctx.Err() after finishing the
// current step; saving is the caller's (Save, SaveOptimizer).
func (tr *Trainer) Run(ctx context.Context) error {
	o, tm := tr.opts, tr.Model
	b, r := o.Batch, tm.cfg.Resolution
	n := 3 * r * r
	if len(tr.pix) != b*n {
		tr.pix = make([]float32, b*n)
	}
	params := tm.trainable()
	start, first := time.Now(), tr.opt.Steps()
	for step := first; step < o.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i := 0; i < b; i++ {
			img, err := o.Images.NextImage()
			if err != nil {
				return fmt.Errorf("tokenizer: training images: %w", err)
			}
			chw, err := Preprocess(img, r)
			if err != nil {
				return fmt.Errorf("tokenizer: training image %d of step %d: %w", i, step, err)
			}
			copy(tr.pix[i*n:(i+1)*n], chw)
		}
		st, err := tm.Forward(tr.pix, b)
		if err != nil {
			return err
		}
		if math.IsNaN(st.Loss) || math.IsInf(st.Loss, 0) {
			return fmt.Errorf("tokenizer: loss is %v at step %d", st.Loss, step)
		}
		optim.ZeroGrads(params)
		if err := tm.Backward(); err != nil {
			return err
		}
		norm := optim.ClipGlobalNorm(params, o.ClipNorm)
		lr := tr.sched.LR(step)
		if err := tr.opt.Step(params, lr); err != nil {
			return err
		}
		restarted := 0
		if !tm.FreezeEncoder {
			restarted = tm.restartDeadCodes(tr.opt)
		}
		done := step + 1
		if o.Progress != nil {
			el := time.Since(start)
			k := done - first
			o.Progress(TrainProgress{Step: done, Steps: o.Steps, Stats: st, GradNorm: norm, LR: lr,
				Restarted: restarted, ImagesPerS: float64(k*b) / el.Seconds(),
				Left: time.Duration(float64(el) / float64(k) * float64(o.Steps-done))})
		}
		if o.Checkpoint != nil && (done == o.Steps || (o.CheckpointEvery > 0 && done%o.CheckpointEvery == 0)) {
			if err := o.Checkpoint(done); err != nil {
				return err
			}
		}
	}
	return nil
}
