// Command sequential shows next-frame prediction: the prompt is a few
// frames of a disc moving to the right, and the model continues the
// sequence with the next frames.
//
//	go run ./examples/sequential --model DIR --tokenizer DIR [--frames 4] [--next 2] [--out DIR]
//
// It writes next_0.png, next_1.png, … and overview.png (frames | prediction).
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"path/filepath"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/internal/demo"
	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sequential:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sequential", flag.ContinueOnError)
	modelDir := fs.String("model", "", "transformer checkpoint directory")
	tokDir := fs.String("tokenizer", "", "VQGAN tokenizer directory")
	out := fs.String("out", ".", "output directory")
	nFrames := fs.Int("frames", 4, "prompt frames")
	nNext := fs.Int("next", 2, "frames to predict")
	seed := fs.Uint64("seed", 0, "sampling seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelDir == "" || *tokDir == "" {
		return fmt.Errorf("need --model and --tokenizer")
	}
	tok, err := tokenizer.Load(*tokDir)
	if err != nil {
		return err
	}
	model, err := transformer.Load(*modelDir)
	if err != nil {
		return err
	}
	defer model.Close()
	pipe, err := lvm.NewPipeline(tok, model)
	if err != nil {
		return err
	}

	// Frames 1..k: a disc moving right by a constant step.
	n := tok.Resolution()
	step := float64(n) / 10
	var frames []image.Image
	for i := 0; i < *nFrames; i++ {
		frames = append(frames, demo.Disc(n, float64(n)/6+float64(i)*step, float64(n)/2, float64(n)/8,
			color.NRGBA{210, 60, 40, 255}, color.NRGBA{235, 235, 245, 255}))
	}
	prompt, err := sentence.SequentialImages(ctx, tok, frames...)
	if err != nil {
		return err
	}
	opts := lvm.Options{Images: *nNext, Sampling: sampling.Default()}
	opts.Sampling.Seed = *seed
	cands, err := pipe.Generate(ctx, prompt, opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for i, img := range cands[0].Images {
		if err := demo.WritePNG(filepath.Join(*out, fmt.Sprintf("next_%d.png", i)), img); err != nil {
			return err
		}
	}
	if err := demo.WritePNG(filepath.Join(*out, "overview.png"), demo.Overview(frames, [][]image.Image{cands[0].Images}, n)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d predicted frames and overview.png into %s\n", len(cands[0].Images), *out)
	return nil
}
