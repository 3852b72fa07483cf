package main

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/lvm-go/lvm/internal/demo"
	"github.com/lvm-go/lvm/synth"
	"github.com/lvm-go/lvm/tokenizer"
)

func init() {
	register("synth", "draw synthetic visual sentences: trainer JSON lines (with --tokenizer) and a contact sheet", runSynth)
}

// runSynth implements "lvm synth [--tokenizer DIR --out FILE.jsonl]
// [--sheet FILE.png] --sentences N --seed S --split train|heldout".
func runSynth(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("synth", stderr)
	tokDir := fs.String("tokenizer", "", "tokenizer `DIR` that encodes the images for --out")
	out := fs.String("out", "", "`FILE` for the sentences in the official trainer's JSON lines (needs --tokenizer)")
	sheet := fs.String("sheet", "", "PNG `FILE` showing the first 24 sentences")
	n := fs.Int("sentences", 1000, "number of sentences")
	seed := fs.Uint64("seed", 1, "world seed")
	splitName := fs.String("split", "train", "train or heldout (disjoint seed streams)")
	side := fs.Int("side", synth.DefaultSide, "image side in pixels (the tokenizer's resolution when --tokenizer is given)")
	maxImages := fs.Int("max-images", synth.MaxImages, "most images per sentence")
	exact := fs.Bool("exact", false, "every sentence exactly --max-images images (a multiple of 6), so packed rows hold one sentence each")
	mixFlag := fs.String("mix", "0.3,0.5,0.2", "relative weights of sequential,analogy,composite sentences")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm synth [--tokenizer DIR --out FILE.jsonl] [--sheet FILE.png] [--sentences N] [--seed S] [--split train|heldout]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*out == "" && *sheet == "") || (*out != "" && *tokDir == "") || *n <= 0 || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --out with --tokenizer, or --sheet", errUsage)
	}
	split := synth.Train
	switch *splitName {
	case "train":
	case "heldout":
		split = synth.HeldOut
	default:
		return fmt.Errorf("%w: --split %q: want train or heldout", errUsage, *splitName)
	}
	var tok *tokenizer.Tokenizer
	if *tokDir != "" {
		var err error
		if tok, err = tokenizer.Load(*tokDir); err != nil {
			return err
		}
		*side = tok.Resolution()
	}
	g, err := synth.NewGenerator(*seed, *side, split)
	if err != nil {
		return err
	}
	mix, err := parseMixture(*mixFlag)
	if err != nil {
		return err
	}
	mix.MaxImages = *maxImages
	mix.Exact = *exact
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var w *bufio.Writer
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = bufio.NewWriter(f)
	}
	var rows [][]image.Image
	images := 0
	for i := 0; i < *n; i++ {
		s, err := g.Sample(mix)
		if err != nil {
			return err
		}
		images += len(s.Images)
		if len(rows) < 24 {
			rows = append(rows, s.Images)
		}
		if w != nil {
			if err := synth.WriteJSONL(ctx, w, tok, s); err != nil {
				return fmt.Errorf("sentence %d: %w", i, err)
			}
		}
	}
	if w != nil {
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d sentences (%d images) to %s\n", *n, images, *out)
	}
	if *sheet != "" {
		if err := demo.WritePNG(*sheet, synth.Sheet(rows, 2, 2)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *sheet)
	}
	return nil
}

// parseMixture reads --mix: three comma-separated weights.
func parseMixture(s string) (synth.Mixture, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return synth.Mixture{}, fmt.Errorf("%w: --mix %q: want three weights sequential,analogy,composite", errUsage, s)
	}
	var w [3]float64
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) {
			return synth.Mixture{}, fmt.Errorf("%w: --mix %q: weight %q is not a finite number ≥ 0", errUsage, s, p)
		}
		w[i] = v
	}
	if w[0]+w[1]+w[2] == 0 {
		return synth.Mixture{}, fmt.Errorf("%w: --mix %q: the weights are all 0", errUsage, s)
	}
	return synth.Mixture{Sequential: w[0], Analogy: w[1], Composite: w[2]}, nil
}
