// Command composite shows a composite prompt that chains two tasks in one
// visual sentence: each example is a chain x, f(x), g(f(x)) with f a
// horizontal flip and g a conversion to grey, and the query chain gives only
// x_q, so the model is asked for f(x_q) and then g(f(x_q)).
//
//	go run ./examples/composite --model DIR --tokenizer DIR [--out DIR]
//
// It writes step_0.png (f), step_1.png (g∘f) and overview.png.
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
		fmt.Fprintln(os.Stderr, "composite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("composite", flag.ContinueOnError)
	var mf demo.ModelFlags
	mf.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	pipe, closeModel, err := mf.Load()
	if err != nil {
		return err
	}
	defer closeModel()
	tok := pipe.Tokenizer()

	n := tok.Resolution()
	bg := color.NRGBA{20, 30, 60, 255}
	chain := func(x image.Image) []image.Image {
		f := demo.FlipH(x)
		return []image.Image{x, f, demo.Gray(f)}
	}
	chains := [][]image.Image{
		chain(demo.Disc(n, float64(n)/3, float64(n)/3, float64(n)/6, color.NRGBA{250, 200, 40, 255}, bg)),
		chain(demo.Square(n, n/8, n/2, n/3, color.NRGBA{60, 200, 90, 255}, bg)),
	}
	query := []image.Image{demo.Square(n, n/6, n/6, n/4, color.NRGBA{230, 60, 160, 255}, bg)}

	prompt, err := sentence.CompositeImages(ctx, tok, chains, query)
	if err != nil {
		return err
	}
	opts := lvm.Options{Images: 2, Sampling: sampling.Default()} // f(x_q), then g(f(x_q))
	opts.Sampling.Seed = mf.Seed
	cands, err := pipe.Generate(ctx, prompt, opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(mf.Out, 0o755); err != nil {
		return err
	}
	for i, img := range cands[0].Images {
		if err := demo.WritePNG(filepath.Join(mf.Out, fmt.Sprintf("step_%d.png", i)), img); err != nil {
			return err
		}
	}
	var promptImgs []image.Image
	for _, c := range chains {
		promptImgs = append(promptImgs, c...)
	}
	promptImgs = append(promptImgs, query...)
	if err := demo.WritePNG(filepath.Join(mf.Out, "overview.png"), demo.Overview(promptImgs, [][]image.Image{cands[0].Images}, n)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote step_0.png, step_1.png and overview.png into %s\n", mf.Out)
	return nil
}
