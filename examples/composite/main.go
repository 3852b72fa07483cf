// Command composite shows a composite prompt that chains two tasks in one
// visual sentence: each example is a chain x, f(x), g(f(x)) of held-out
// synth scenes, with f a horizontal flip and g a conversion to grey by
// default, and the query chain gives only x_q, so the model is asked for
// f(x_q) and then g(f(x_q)).
//
//	go run ./examples/composite [--f hflip] [--g grayscale] [--chains 2] [--scene N] [--sample [--seed S]] [--out DIR]
//	go run ./examples/composite --model DIR --tokenizer DIR [flags]
//
// With neither --model nor --tokenizer it runs the small model embedded in
// package pretrained. It writes step_0.png (f), step_1.png (g∘f) and
// overview.png into --out (default: the current directory) and prints the
// steps' PSNR against the true f(x_q) and g(f(x_q)).
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
		fmt.Fprintln(os.Stderr, "composite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("composite", flag.ContinueOnError)
	var mf demo.ModelFlags
	mf.Register(fs)
	fName := fs.String("f", "hflip", "the first task f (a synth task: mask, hflip, vflip, recolour, invert, grayscale, outline, shift)")
	gName := fs.String("g", "grayscale", "the second task g, applied to f(x)")
	nChains := fs.Int("chains", 2, "example chains before the query (1..4)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fk, err := synth.ParseTaskKind(*fName)
	if err != nil {
		return err
	}
	gk, err := synth.ParseTaskKind(*gName)
	if err != nil {
		return err
	}
	pipe, closeModel, err := mf.Load()
	if err != nil {
		return err
	}
	defer closeModel()
	tok := pipe.Tokenizer()

	// Chains x, f(x), g(f(x)), then x_q; the true f(x_q), g(f(x_q)) last.
	world, err := demo.World(tok.Resolution(), mf.Scene)
	if err != nil {
		return err
	}
	s, err := world.Composite(fk, gk, *nChains)
	if err != nil {
		return err
	}
	var chains [][]image.Image
	for i := 0; i < s.Examples(); i++ {
		chains = append(chains, s.Images[3*i:3*i+3])
	}
	query := s.Images[3*s.Examples()]

	prompt, err := sentence.CompositeImages(ctx, tok, chains, []image.Image{query})
	if err != nil {
		return err
	}
	opts := lvm.Options{Images: 2, Sampling: mf.Sampling()} // f(x_q), then g(f(x_q))
	cands, err := pipe.Generate(ctx, prompt, opts)
	if err != nil {
		return err
	}
	steps := cands[0].Images
	if err := os.MkdirAll(mf.Out, 0o755); err != nil {
		return err
	}
	var paths []string
	for i, img := range steps {
		paths = append(paths, filepath.Join(mf.Out, fmt.Sprintf("step_%d.png", i)))
		if err := demo.WritePNG(paths[i], img); err != nil {
			return err
		}
	}
	paths = append(paths, filepath.Join(mf.Out, "overview.png"))
	if err := demo.WritePNG(paths[len(paths)-1], demo.Overview(s.Prompt(), [][]image.Image{steps}, demo.Cell(tok.Resolution()))); err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, "wrote", p)
	}
	if line, ok := demo.Score(steps, s.Answers(), query); ok {
		fmt.Fprintf(stdout, "%s then %s, %d chains: %s\n", s.Tasks[0], s.Tasks[1], s.Examples(), line)
	}
	return nil
}
