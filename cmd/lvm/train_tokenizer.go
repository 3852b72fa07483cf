package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/internal/optim"
	"github.com/lvm-go/lvm/synth"
	"github.com/lvm-go/lvm/tokenizer"
)

func init() {
	register("train-tokenizer", "train a VQGAN tokenizer on images of the synthetic world", runTrainTokenizer)
}

// runTrainTokenizer implements "lvm train-tokenizer --config config.json
// --out DIR --steps N": reconstruction + codebook + commitment training
// with dead-code restarts, on fresh images of the synthetic world at the
// config's resolution, checkpointing to DIR (tokenizer.Load reads it).
func runTrainTokenizer(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train-tokenizer", stderr)
	cfgPath := fs.String("config", "", "VQGAN config.json `PATH` (open-muse keys)")
	out := fs.String("out", "", "checkpoint `DIR`")
	resume := fs.Bool("resume", false, "continue the run checkpointed in --out")
	steps := fs.Int("steps", 0, "optimizer steps")
	batch := fs.Int("batch", 16, "images per step")
	lr := fs.Float64("lr", 1e-3, "peak learning rate")
	warmup := fs.Int("warmup", 0, "warmup steps (default steps/20)")
	every := fs.Int("checkpoint-every", 200, "steps between checkpoints")
	seed := fs.Uint64("seed", 1, "initialisation and world seed")
	threads := fs.Int("threads", 0, "compute threads (0: one per core)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm train-tokenizer --config config.json --out DIR --steps N [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *steps <= 0 || *batch <= 0 || (*cfgPath == "" && !*resume) || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --out, --steps and --config (or --resume)", errUsage)
	}
	kernels.SetThreads(*threads)
	var tv *tokenizer.TrainVQGAN
	var err error
	if *resume {
		tv, err = tokenizer.LoadTrainVQGAN(*out)
	} else {
		var cfg tokenizer.Config
		if cfg, err = tokenizer.LoadConfig(*cfgPath); err == nil {
			tv, err = tokenizer.NewTrainVQGAN(cfg, *seed)
		}
	}
	if err != nil {
		return err
	}
	cfg := tv.Config()
	opt := optim.NewAdamW(0)
	optPath := filepath.Join(*out, "optimizer.safetensors")
	if *resume {
		if err := tv.LoadOptimizer(optPath, opt); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "resuming at step %d\n", opt.Steps())
	}
	w := *warmup
	if w == 0 {
		w = max(1, *steps/20)
	}
	sched := optim.Schedule{Peak: *lr, End: *lr / 10, Warmup: w, Total: *steps}
	g, err := synth.NewGenerator(*seed, cfg.Resolution, synth.Train)
	if err != nil {
		return err
	}
	g.Seek(uint64(opt.Steps() * *batch)) // a resumed run sees new images
	save := func() error {
		if err := tv.Save(*out); err != nil {
			return err
		}
		return tv.SaveOptimizer(optPath, opt)
	}
	fmt.Fprintf(stderr, "VQGAN %d×%d, %d×%d grid, codebook %d, %d parameters; batch %d\n",
		cfg.Resolution, cfg.Resolution, cfg.GridSize(), cfg.GridSize(), cfg.NumEmbeddings, tv.NumParams(), *batch)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r := cfg.Resolution
	pix := make([]float32, *batch*3*r*r)
	params := tv.Params()
	start, first := time.Now(), opt.Steps()
	var st tokenizer.TrainStats
	for step := opt.Steps(); step < *steps; step++ {
		if err := ctx.Err(); err != nil {
			fmt.Fprintln(stderr, "interrupted: saving the checkpoint")
			if err := save(); err != nil {
				return err
			}
			return err
		}
		for i := 0; i < *batch; i++ {
			if err := imageCHW(pix[i*3*r*r:(i+1)*3*r*r], g.Image(), r); err != nil {
				return err
			}
		}
		if st, err = tv.Forward(pix, *batch); err != nil {
			return err
		}
		if math.IsNaN(st.Loss) {
			return errors.New("loss is NaN")
		}
		optim.ZeroGrads(params)
		if err := tv.Backward(); err != nil {
			return err
		}
		optim.ClipGlobalNorm(params, 1)
		if err := opt.Step(params, sched.LR(step)); err != nil {
			return err
		}
		restarted := tv.RestartDeadCodes(opt)
		done := step + 1
		el := time.Since(start)
		n := done - first
		fmt.Fprintf(stderr, "step %d/%d  loss %.5f  recon %.5f  codes %d  perplexity %.1f  restarts %d  %.1f img/s  left %s\n",
			done, *steps, st.Loss, st.Recon, st.CodesUsed, st.Perplexity, restarted,
			float64(n**batch)/el.Seconds(), (time.Duration(float64(el) / float64(n) * float64(*steps-done))).Round(time.Second))
		if done == *steps || (*every > 0 && done%*every == 0) {
			if err := save(); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stdout, "trained %d steps, reconstruction MSE %.5f (PSNR %.2f dB), checkpoint in %s\n",
		*steps, st.Recon, 10*math.Log10(1/st.Recon), *out)
	return nil
}

// imageCHW writes img (side r, opaque) as CHW float32 in [0,1].
func imageCHW(dst []float32, img image.Image, r int) error {
	chw, err := tokenizer.Preprocess(img, r)
	if err != nil {
		return err
	}
	copy(dst, chw)
	return nil
}
