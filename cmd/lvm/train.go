package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("train", "train the transformer on visual sentences (trainer JSON lines)", runTrain)
}

// runTrain implements "lvm train --data FILE.jsonl --config NAME|config.json
// --out DIR --steps N": next-token training over packed rows of the
// sentences in the official trainer's format, checkpointing to DIR (which
// Load reads) and resuming from it with --resume.
func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", stderr)
	data := fs.String("data", "", "training sentences, JSON lines of {\"tokens\": base64 int32} (comma-separated files)")
	cfgArg := fs.String("config", "", "model preset ("+strings.Join(transformer.PresetNames(), ", ")+") or a config.json `PATH`")
	out := fs.String("out", "", "checkpoint `DIR` (config.json, model.safetensors, optimizer.safetensors)")
	resume := fs.Bool("resume", false, "continue the run checkpointed in --out")
	from := fs.String("from", "", "start a new run (step 0, new schedule, new optimizer) from the weights in `DIR` instead of --config")
	steps := fs.Int("steps", 0, "optimizer steps")
	rows := fs.Int("rows", 8, "rows per micro-batch (B)")
	rowLen := fs.Int("row-len", 0, "tokens per row (T; default the model's max positions)")
	accum := fs.Int("accumulate", 1, "micro-batches per optimizer step")
	lr := fs.Float64("lr", 1.5e-4, "peak learning rate")
	endLR := fs.Float64("end-lr", 0, "final learning rate (default lr/5)")
	warmup := fs.Int("warmup", 0, "warmup steps (default steps/20)")
	wd := fs.Float64("weight-decay", 0.1, "AdamW weight decay")
	clip := fs.Float64("clip", 1, "global gradient-norm clip")
	every := fs.Int("checkpoint-every", 500, "steps between checkpoints")
	seed := fs.Uint64("seed", 0, "initialisation seed")
	threads := fs.Int("threads", 0, "compute threads (0: one per core)")
	until := fs.Int("until", 0, "stop and checkpoint after step `N` (< --steps); the schedule still spans --steps, and --resume continues it exactly")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm train --data FILE.jsonl --config NAME|PATH --out DIR --steps N [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || *out == "" || *steps <= 0 || !oneStart(*cfgArg, *from, *resume) ||
		*until < 0 || *until > *steps || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --data, --out, --steps, one of --config, --from and --resume, and --until ≤ --steps", errUsage)
	}
	kernels.SetThreads(*threads)
	var tm *transformer.TrainModel
	var err error
	switch {
	case *resume:
		tm, err = transformer.LoadTrainModel(*out)
	case *from != "":
		tm, err = transformer.LoadTrainModel(*from)
	default:
		var cfg transformer.Config
		if cfg, err = parseModelConfig(*cfgArg); err == nil {
			tm, err = transformer.NewTrainModel(cfg, *seed)
		}
	}
	if err != nil {
		return err
	}
	opts := transformer.TrainOptions{Rows: *rows, RowLen: *rowLen, Accumulate: *accum, Steps: *steps,
		PeakLR: *lr, EndLR: *endLR, Warmup: *warmup, WeightDecay: *wd, ClipNorm: *clip, CheckpointEvery: *every}
	if opts.RowLen == 0 {
		opts.RowLen = tm.Config().MaxPositions
	}
	src, err := newJSONLRows(strings.Split(*data, ","), opts.RowLen, tm.Config().VocabSize)
	if err != nil {
		return err
	}
	optPath := filepath.Join(*out, "optimizer.safetensors")
	var tr *transformer.Trainer
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, stopAt := context.WithCancel(ctx)
	defer stopAt()
	var last float64
	opts.Progress = func(p transformer.TrainProgress) {
		fmt.Fprintf(stderr, "step %d/%d  loss %.4f  grad-norm %.3f  lr %.3g  %.0f tok/s  left %s\n",
			p.Step, p.Steps, p.Loss, p.GradNorm, p.LR, p.TokensPerS, p.Left.Round(1e9))
		last = p.Loss
		if *until > 0 && p.Step >= *until {
			stopAt()
		}
	}
	opts.Checkpoint = func(step int) error {
		if err := tm.Save(*out); err != nil {
			return err
		}
		return tr.SaveOptimizer(optPath)
	}
	if tr, err = transformer.NewTrainer(tm, opts); err != nil {
		return err
	}
	if *resume {
		if err := tr.LoadOptimizer(optPath); err != nil {
			return err
		}
		src.skip(tr.Step() * opts.Rows * opts.Accumulate)
		fmt.Fprintf(stderr, "resuming at step %d\n", tr.Step())
	}
	fmt.Fprintf(stderr, "model: %s; data: %d sentences, %d tokens\n", tm.Config(), src.sentences, len(src.stream))
	loss, err := tr.Run(ctx, src)
	if *until > 0 && tr.Step() >= *until && errors.Is(err, context.Canceled) {
		if err := opts.Checkpoint(tr.Step()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stopped after step %d of %d (--until), loss %.4f, checkpoint in %s\n", tr.Step(), *steps, last, *out)
		return nil
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "interrupted: saving the checkpoint")
		if err := opts.Checkpoint(tr.Step()); err != nil {
			return err
		}
		return context.Canceled
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trained %d steps, final loss %.4f, checkpoint in %s\n", *steps, loss, *out)
	return nil
}

// parseModelConfig reads a preset name or a config.json path.
func parseModelConfig(arg string) (transformer.Config, error) {
	if c, err := transformer.Preset(arg); err == nil {
		return c, nil
	}
	return transformer.ReadConfig(arg)
}

// jsonlRows packs the sentences of trainer JSON-lines files into rows of
// T+1 tokens (sentence.Packer), cycling through the data in file order.
type jsonlRows struct {
	stream    []int // every sentence, concatenated
	sentences int
	t, pos    int
}

func newJSONLRows(paths []string, t, vocab int) (*jsonlRows, error) {
	r := &jsonlRows{t: t}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		all, err := sentence.ReadJSONL(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for i, s := range all {
			for j, id := range s {
				if id < 0 || id >= vocab {
					return nil, fmt.Errorf("%s: sentence %d, token %d: id %d outside the vocabulary %d", path, i+1, j, id, vocab)
				}
			}
			r.stream = append(r.stream, s...)
		}
		r.sentences += len(all)
	}
	if len(r.stream) < t+1 {
		return nil, fmt.Errorf("training data has %d tokens, fewer than one row of %d", len(r.stream), t+1)
	}
	return r, nil
}

// NextRow returns stream[pos : pos+T+1] and advances by T, wrapping to the
// start (a new epoch) when the rest is shorter than a row.
func (r *jsonlRows) NextRow() ([]int, error) {
	if r.pos+r.t+1 > len(r.stream) {
		r.pos = 0
	}
	row := r.stream[r.pos : r.pos+r.t+1]
	r.pos += r.t
	return row, nil
}

func (r *jsonlRows) skip(rows int) {
	for i := 0; i < rows; i++ {
		r.NextRow()
	}
}
