package main

import (
	"fmt"
	"image"
	"io"
	"path/filepath"

	"github.com/lvm-go/lvm/synth"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("remap-vocab", "move a trained transformer to a grown tokenizer's codes (each new code starts as its parent)", runRemapVocab)
}

// runRemapVocab is "lvm remap-vocab": it relates the codes of a tokenizer
// (--tokenizer, typically grown from --parent-tokenizer with lvm
// train-tokenizer --from … --codebook N) to those of the tokenizer a
// transformer was trained on (tokenizer.ParentCodes, on fresh Train-split
// images of the synthetic world), and writes the transformer with a
// vocabulary of the new codes, each row copied from its parent's
// (transformer.TrainModel.RemapVocab), as a float32 checkpoint for
// lvm train --from.
//
//	lvm remap-vocab --model DIR --parent-tokenizer DIR --tokenizer DIR --out DIR [--images N]
func runRemapVocab(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("remap-vocab", stderr)
	modelDir := fs.String("model", "", "transformer checkpoint `DIR` trained on --parent-tokenizer's codes")
	parentDir := fs.String("parent-tokenizer", "", "tokenizer `DIR` whose codes --model was trained on")
	childDir := fs.String("tokenizer", "", "tokenizer `DIR` whose codes the new model takes")
	out := fs.String("out", "", "`DIR` for the remapped float32 checkpoint")
	n := fs.Int("images", 4096, "Train-split images compared")
	seed := fs.Uint64("seed", 1, "world seed of the images")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm remap-vocab --model DIR --parent-tokenizer DIR --tokenizer DIR --out DIR [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelDir == "" || *parentDir == "" || *childDir == "" || *out == "" || *n <= 0 || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --model, --parent-tokenizer, --tokenizer, --out and --images > 0", errUsage)
	}
	if filepath.Clean(*out) == filepath.Clean(*modelDir) {
		return fmt.Errorf("%w: --out must not be --model", errUsage)
	}
	parent, err := tokenizer.Load(*parentDir)
	if err != nil {
		return err
	}
	child, err := tokenizer.Load(*childDir)
	if err != nil {
		return err
	}
	tm, err := transformer.LoadTrainModel(*modelDir)
	if err != nil {
		return err
	}
	if v, k := tm.Config().VocabSize, parent.Config().NumEmbeddings; v != k {
		return fmt.Errorf("%s has a vocabulary of %d tokens but %s a codebook of %d codes", *modelDir, v, *parentDir, k)
	}
	g, err := synth.NewGenerator(*seed, parent.Config().Resolution, synth.Train)
	if err != nil {
		return err
	}
	imgs := make([]image.Image, *n)
	for i := range imgs {
		imgs[i] = g.Image()
	}
	codes, seen, err := tokenizer.ParentCodes(parent, child, imgs)
	if err != nil {
		return err
	}
	unseen, children := 0, make(map[int]int)
	for c, p := range codes {
		if seen[c] == 0 {
			unseen++
		}
		children[p]++
	}
	remapped, err := tm.RemapVocab(codes)
	if err != nil {
		return err
	}
	if err := remapped.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d codes from %d: %d parent codes have children (%.1f each), %d codes unseen in %d images (nearest row); wrote %s\n",
		len(codes), tm.Config().VocabSize, len(children), float64(len(codes))/float64(len(children)), unseen, *n, *out)
	return nil
}
