// Command analogy shows in-context learning by analogy: the prompt is three
// example pairs (x, f(x)) of one task f and a query x_q, and the model
// answers with f(x_q). Here f is a horizontal flip of simple shapes; any
// task works the same way, since only the images tell the model what to do.
//
//	go run ./examples/analogy --model DIR --tokenizer DIR [--out DIR]
//
// It writes answer.png and overview.png (prompt | answer) into --out.
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
		fmt.Fprintln(os.Stderr, "analogy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("analogy", flag.ContinueOnError)
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

	// The task, shown by example: x → its mirror image.
	n := tok.Resolution()
	bg := color.NRGBA{240, 240, 230, 255}
	colours := []color.NRGBA{{200, 30, 30, 255}, {30, 120, 200, 255}, {40, 160, 60, 255}, {220, 160, 20, 255}}
	var pairs []sentence.ImagePair
	for i := 0; i < 3; i++ {
		x := demo.Square(n, n/8+i*n/10, n/4, n/4, colours[i], bg)
		pairs = append(pairs, sentence.ImagePair{X: x, Y: demo.FlipH(x)})
	}
	query := demo.Square(n, n/10, n/2, n/3, colours[3], bg)

	prompt, err := sentence.AnalogyImages(ctx, tok, pairs, query)
	if err != nil {
		return err
	}
	opts := lvm.Options{Sampling: sampling.Default()}
	opts.Sampling.Seed = mf.Seed
	cands, err := pipe.Generate(ctx, prompt, opts)
	if err != nil {
		return err
	}
	answer := cands[0].Images[0]

	promptImgs := []image.Image{}
	for _, p := range pairs {
		promptImgs = append(promptImgs, p.X, p.Y)
	}
	promptImgs = append(promptImgs, query)
	if err := os.MkdirAll(mf.Out, 0o755); err != nil {
		return err
	}
	for name, img := range map[string]image.Image{
		"answer.png":   answer,
		"overview.png": demo.Overview(promptImgs, [][]image.Image{{answer}}, n),
	} {
		if err := demo.WritePNG(filepath.Join(mf.Out, name), img); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(mf.Out, "answer.png"), filepath.Join(mf.Out, "overview.png"))
	return nil
}
