package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/internal/eval"
	"github.com/lvm-go/lvm/pretrained"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("eval", "evaluate a small LVM on held-out synthetic sentences (tables in Markdown)", runEval)
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", stderr)
	model := fs.String("model", "", "transformer checkpoint `DIR` (default: the embedded synth32 model)")
	tokDir := fs.String("tokenizer", "", "tokenizer `DIR` (default: the embedded synth32 tokenizer)")
	seed := fs.Uint64("seed", 1, "held-out world seed")
	perTask := fs.Int("per-task", 8, "sentences per task and example count")
	pairs := fs.String("pairs", "1,3,5", "example counts, comma-separated")
	images := fs.Int("images", 64, "images for the tokenizer figures")
	pplPerK := fs.Int("ppl-sentences", 16, "sentences per point of the perplexity curve")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*model == "") != (*tokDir == "") || fs.NArg() != 0 {
		return fmt.Errorf("%w: give both --model and --tokenizer, or neither for the embedded model", errUsage)
	}
	var ks []int
	for _, f := range strings.Split(*pairs, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 0 {
			return fmt.Errorf("%w: --pairs %q", errUsage, *pairs)
		}
		ks = append(ks, k)
	}
	var p *lvm.Pipeline
	if *model == "" {
		var err error
		if p, err = pretrained.Pipeline(); err != nil {
			return err
		}
	} else {
		tok, err := tokenizer.Load(*tokDir)
		if err != nil {
			return err
		}
		m, err := transformer.Load(*model)
		if err != nil {
			return err
		}
		defer m.Close()
		if p, err = lvm.NewPipeline(tok, m); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bar := newProgress(stderr, false)
	rep, err := eval.Run(ctx, p, eval.Options{Seed: *seed, Images: *images, PerTask: *perTask, Pairs: ks, PPLPerK: *pplPerK, Progress: bar.update})
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Markdown())
	for _, k := range ks {
		w, n := rep.Summary(k, 0.1)
		fmt.Fprintf(stdout, "\n%d pairs: the model beats both baselines by ≥ 10%% on %d of %d tasks", k, w, n)
	}
	fmt.Fprintln(stdout)
	return nil
}
