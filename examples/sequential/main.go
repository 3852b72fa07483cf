// Command sequential shows next-frame prediction: the prompt is the first
// frames of a held-out synth sequence whose objects all follow one motion
// (moving and bouncing off the borders by default), and the model
// continues the sequence with the next frames.
//
//	go run ./examples/sequential [--motion move] [--frames 4] [--next 2] [--scene N] [--sample [--seed S]] [--out DIR]
//	go run ./examples/sequential --model DIR --tokenizer DIR [flags]
//
// With neither --model nor --tokenizer it runs the small model embedded in
// package pretrained. It writes next_0.png, next_1.png, … and overview.png
// (frames | prediction) into --out (default: the current directory) and
// prints the prediction's PSNR against the true next frames.
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/internal/demo"
	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/synth"
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
	motionName := fs.String("motion", "move", "the motion: move, grow, rotate or colour")
	nFrames := fs.Int("frames", 4, "prompt frames")
	nNext := fs.Int("next", 2, "frames to predict")
	if err := fs.Parse(args); err != nil {
		return err
	}
	motion, err := synth.ParseMotion(*motionName)
	if err != nil {
		return err
	}
	if *nFrames < 1 || *nNext < 1 || *nFrames+*nNext > synth.MaxImages {
		return fmt.Errorf("--frames %d and --next %d: want each ≥ 1 and at most %d in all", *nFrames, *nNext, synth.MaxImages)
	}
	pipe, closeModel, err := mf.Load()
	if err != nil {
		return err
	}
	defer closeModel()
	tok := pipe.Tokenizer()

	// One sequence of frames+next frames: the prompt, then the truth.
	world, err := demo.World(tok.Resolution(), mf.Scene)
	if err != nil {
		return err
	}
	s, err := world.Sequential(motion, *nFrames+*nNext)
	if err != nil {
		return err
	}
	frames, truth := s.Images[:*nFrames], s.Images[*nFrames:]

	prompt, err := sentence.SequentialImages(ctx, tok, frames...)
	if err != nil {
		return err
	}
	opts := lvm.Options{Images: *nNext, Sampling: mf.Sampling()}
	cands, err := pipe.Generate(ctx, prompt, opts)
	if err != nil {
		return err
	}
	next := cands[0].Images
	if err := os.MkdirAll(mf.Out, 0o755); err != nil {
		return err
	}
	var paths []string
	for i, img := range next {
		paths = append(paths, filepath.Join(mf.Out, fmt.Sprintf("next_%d.png", i)))
		if err := demo.WritePNG(paths[i], img); err != nil {
			return err
		}
	}
	paths = append(paths, filepath.Join(mf.Out, "overview.png"))
	if err := demo.WritePNG(paths[len(paths)-1], demo.Overview(frames, [][]image.Image{next}, demo.Cell(tok.Resolution()))); err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, "wrote", p)
	}
	if line, ok := demo.Score(next, truth, frames[len(frames)-1]); ok {
		fmt.Fprintf(stdout, "%s, %d frames: %s\n", s.Motion, len(frames), line)
	}
	return nil
}
