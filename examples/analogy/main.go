// Command analogy shows in-context learning by analogy: the prompt is a few
// example pairs (x, f(x)) of one task f and a query x_q, and the model
// answers with f(x_q). The images are scenes of the held-out split of the
// synth world and f is one of its tasks, colour inversion by default (the
// task the embedded model learns most clearly from its examples: one pair
// leaves it ambiguous, three identify it); only the images tell the model
// what to do.
//
//	go run ./examples/analogy [--task invert] [--pairs 3] [--scene N] [--sample [--seed S]] [--out DIR]
//	go run ./examples/analogy --model DIR --tokenizer DIR [flags]
//
// With neither --model nor --tokenizer it runs the small model embedded in
// package pretrained. It writes answer.png and overview.png (prompt |
// answer) into --out (default: the current directory) and prints the
// answer's PSNR against the true f(x_q).
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
		fmt.Fprintln(os.Stderr, "analogy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("analogy", flag.ContinueOnError)
	var mf demo.ModelFlags
	mf.Register(fs)
	taskName := fs.String("task", "invert", "the task f: mask, hflip, vflip, recolour, invert, grayscale, outline or shift")
	nPairs := fs.Int("pairs", 3, "example pairs before the query (1..7)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	task, err := synth.ParseTaskKind(*taskName)
	if err != nil {
		return err
	}
	pipe, closeModel, err := mf.Load()
	if err != nil {
		return err
	}
	defer closeModel()
	tok := pipe.Tokenizer()

	// x1, f(x1), …, xk, f(xk), x_q and the true f(x_q), from the world.
	world, err := demo.World(tok.Resolution(), mf.Scene)
	if err != nil {
		return err
	}
	s, err := world.Analogy(task, *nPairs)
	if err != nil {
		return err
	}
	var pairs []sentence.ImagePair
	for i := 0; i < s.Examples(); i++ {
		pairs = append(pairs, sentence.ImagePair{X: s.Images[2*i], Y: s.Images[2*i+1]})
	}
	query := s.Images[2*s.Examples()]

	prompt, err := sentence.AnalogyImages(ctx, tok, pairs, query)
	if err != nil {
		return err
	}
	opts := lvm.Options{Sampling: mf.Sampling()}
	cands, err := pipe.Generate(ctx, prompt, opts)
	if err != nil {
		return err
	}
	answer := cands[0].Images[0]

	if err := os.MkdirAll(mf.Out, 0o755); err != nil {
		return err
	}
	n := tok.Resolution()
	for _, f := range []struct {
		name string
		img  image.Image
	}{
		{"answer.png", answer},
		{"overview.png", demo.Overview(s.Prompt(), [][]image.Image{{answer}}, demo.Cell(n))},
	} {
		path := filepath.Join(mf.Out, f.name)
		if err := demo.WritePNG(path, f.img); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	if line, ok := demo.Score([]image.Image{answer}, s.Answers(), query); ok {
		fmt.Fprintf(stdout, "%s, %d pairs: %s\n", s.Tasks[0], s.Examples(), line)
	}
	return nil
}
