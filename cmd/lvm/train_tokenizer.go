package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/lvm-go/lvm/internal/kernels"
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
	from := fs.String("from", "", "start a new run (step 0, new schedule) from the trained tokenizer in `DIR` instead of --config")
	codebook := fs.Int("codebook", 0, "with --from: grow the codebook to `N` codes first (tokenizer.TrainVQGAN.WithCodebook; then lvm remap-vocab moves a transformer to the new codes)")
	decoderOnly := fs.Bool("decoder-only", false, "train post_quant_conv and the decoder alone: the encoder and codebook stay bit-identical, so every image keeps its codes (a fine-tune of --from; a resumed run keeps its checkpoint's mode)")
	steps := fs.Int("steps", 0, "optimizer steps")
	batch := fs.Int("batch", 16, "images per step")
	lr := fs.Float64("lr", 1e-3, "peak learning rate")
	endLR := fs.Float64("end-lr", 0, "learning rate at the end of the cosine (default --lr/10)")
	warmup := fs.Int("warmup", 0, "warmup steps (default steps/20)")
	every := fs.Int("checkpoint-every", 200, "steps between checkpoints")
	seed := fs.Uint64("seed", 1, "initialisation and world seed")
	threads := fs.Int("threads", 0, "compute threads (0: one per core)")
	restart := fs.String("restart", "random", "dead-code restart `rule`: random (uniform encoder outputs) or far (k-means++ seeds: where the codebook quantises worst); a resumed run keeps its checkpoint's rule unless this is given")
	until := fs.Int("until", 0, "stop and checkpoint after step `N` (< --steps); the schedule still spans --steps, and --resume continues it exactly")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm train-tokenizer --config config.json --out DIR --steps N [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *steps <= 0 || *batch <= 0 || !oneStart(*cfgPath, *from, *resume) ||
		*until < 0 || *until > *steps || *endLR < 0 || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --out, --steps and one of --config, --from and --resume", errUsage)
	}
	if *codebook != 0 && *from == "" {
		return fmt.Errorf("%w: --codebook grows the tokenizer of --from", errUsage)
	}
	if *decoderOnly && *resume {
		return fmt.Errorf("%w: --decoder-only starts a run; a resumed run keeps its checkpoint's mode", errUsage)
	}
	rule, err := tokenizer.ParseRestartRule(*restart)
	if err != nil {
		return err
	}
	restartGiven := false
	fs.Visit(func(f *flag.Flag) { restartGiven = restartGiven || f.Name == "restart" })
	kernels.SetThreads(*threads)
	var tv *tokenizer.TrainVQGAN
	switch {
	case *resume:
		tv, err = tokenizer.LoadTrainVQGAN(*out)
	case *from != "":
		if tv, err = tokenizer.LoadTrainVQGAN(*from); err == nil && *codebook != 0 {
			tv, err = tv.WithCodebook(*codebook, 1)
		}
	default:
		var cfg tokenizer.Config
		if cfg, err = tokenizer.LoadConfig(*cfgPath); err == nil {
			tv, err = tokenizer.NewTrainVQGAN(cfg, *seed)
		}
	}
	if err != nil {
		return err
	}
	if !*resume || restartGiven {
		tv.DeadCodeRule = rule
	}
	tv.FreezeEncoder = *decoderOnly
	cfg := tv.Config()
	g, err := synth.NewGenerator(*seed, cfg.Resolution, synth.Train)
	if err != nil {
		return err
	}
	optPath := filepath.Join(*out, "optimizer.safetensors")
	var tr *tokenizer.Trainer
	save := func() error {
		if err := tv.Save(*out); err != nil {
			return err
		}
		return tr.SaveOptimizer(optPath)
	}
	var st tokenizer.TrainStats
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, stopAt := context.WithCancel(ctx)
	defer stopAt()
	tr, err = tokenizer.NewTrainer(tv, tokenizer.TrainOptions{
		Batch: *batch, Steps: *steps, PeakLR: *lr, EndLR: *endLR, Warmup: *warmup,
		Images: tokenizer.ImageFunc(func() (image.Image, error) { return g.Image(), nil }),
		Progress: func(p tokenizer.TrainProgress) {
			st = p.Stats
			fmt.Fprintf(stderr, "step %d/%d  loss %.5f  recon %.5f  codes %d  perplexity %.1f  restarts %d  %.1f img/s  left %s\n",
				p.Step, p.Steps, st.Loss, st.Recon, st.CodesUsed, st.Perplexity, p.Restarted, p.ImagesPerS, p.Left.Round(time.Second))
			if *until > 0 && p.Step >= *until {
				stopAt()
			}
		},
		Checkpoint:      func(int) error { return save() },
		CheckpointEvery: *every,
	})
	if err != nil {
		return err
	}
	if *resume {
		if err := tr.LoadOptimizer(optPath); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "resuming at step %d\n", tr.Step())
	}
	g.Seek(uint64(tr.Step() * *batch)) // a resumed run sees new images
	mode := fmt.Sprintf("dead-code restarts: %v", tv.DeadCodeRule)
	if tv.FreezeEncoder {
		mode = "decoder only (encoder and codebook frozen, no restarts)"
	}
	fmt.Fprintf(stderr, "VQGAN %d×%d, %d×%d grid, codebook %d, %d parameters; batch %d; %s\n",
		cfg.Resolution, cfg.Resolution, cfg.GridSize(), cfg.GridSize(), cfg.NumEmbeddings, tv.NumParams(), *batch, mode)

	if err := tr.Run(ctx); err != nil {
		if *until > 0 && tr.Step() >= *until && errors.Is(err, context.Canceled) {
			if err := save(); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "stopped after step %d of %d (--until), reconstruction MSE %.5f, checkpoint in %s\n", tr.Step(), *steps, st.Recon, *out)
			return nil
		}
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			fmt.Fprintln(stderr, "interrupted: saving the checkpoint")
			if err := save(); err != nil {
				return err
			}
		}
		return err
	}
	fmt.Fprintf(stdout, "trained %d steps, reconstruction MSE %.5f (PSNR %.2f dB), checkpoint in %s\n",
		*steps, st.Recon, 10*math.Log10(1/st.Recon), *out)
	return nil
}
