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
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sequential:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sequential", flag.ContinueOnError)
	var mf demo.ModelFlags
	mf.Register(fs)
	nFrames := fs.Int("frames", 4, "prompt frames")
	nNext := fs.Int("next", 2, "frames to predict")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pipe, closeModel, err := mf.Load()
	if err != nil {
		return err
	}
	defer closeModel()
	tok := pipe.Tokenizer()

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
	opts.Sampling.Seed = mf.Seed
	cands, err := pipe.Generate(ctx, prompt, opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(mf.Out, 0o755); err != nil {
		return err
	}
	for i, img := range cands[0].Images {
		if err := demo.WritePNG(filepath.Join(mf.Out, fmt.Sprintf("next_%d.png", i)), img); err != nil {
			return err
		}
	}
	if err := demo.WritePNG(filepath.Join(mf.Out, "overview.png"), demo.Overview(frames, [][]image.Image{cands[0].Images}, n)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d predicted frames and overview.png into %s\n", len(cands[0].Images), mf.Out)
	return nil
}
