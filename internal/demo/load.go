package demo

import (
	"errors"
	"flag"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/pretrained"
	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

// ModelFlags are the flags every example takes: its checkpoints, where to
// write, the sampling seed and which synth sentence is the prompt.
type ModelFlags struct {
	Model, Tokenizer, Out string
	Seed                  uint64
	Scene                 uint64 // the draw number of the prompt in World
	Sample                bool   // sample (official defaults) instead of greedy decoding
}

// Register adds --model, --tokenizer, --out, --sample, --seed and --scene
// to fs.
func (f *ModelFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Model, "model", "", "transformer checkpoint `DIR` (default: the embedded synth32 model; give --tokenizer too)")
	fs.StringVar(&f.Tokenizer, "tokenizer", "", "VQGAN tokenizer `DIR` (default: the embedded synth32 tokenizer; give --model too)")
	fs.StringVar(&f.Out, "out", ".", "output `DIR`")
	fs.BoolVar(&f.Sample, "sample", false, "sample with the official defaults (temperature 1, top-k 50) instead of greedy decoding")
	fs.Uint64Var(&f.Seed, "seed", 0, "sampling seed (with --sample)")
	fs.Uint64Var(&f.Scene, "scene", 0, "which held-out synth sentence is the prompt (`N`th draw)")
}

// Embedded reports whether Load uses the embedded model (neither --model
// nor --tokenizer given).
func (f *ModelFlags) Embedded() bool { return f.Model == "" && f.Tokenizer == "" }

// Load opens the tokenizer and the model and composes their Pipeline; call
// close when done with it. With neither --model nor --tokenizer it returns
// the embedded model, pretrained.Pipeline; a checkpoint of one but not the
// other is an error, since a model only reads its own tokenizer's codes.
func (f *ModelFlags) Load() (p *lvm.Pipeline, close func() error, err error) {
	switch {
	case f.Embedded():
		p, err := pretrained.Pipeline()
		if err != nil {
			return nil, nil, err
		}
		return p, func() error { return nil }, nil
	case f.Tokenizer == "":
		return nil, nil, errors.New("--model is given without --tokenizer: give both, or neither for the embedded synth32 model")
	case f.Model == "":
		return nil, nil, errors.New("--tokenizer is given without --model: give both, or neither for the embedded synth32 model")
	}
	tok, err := tokenizer.Load(f.Tokenizer)
	if err != nil {
		return nil, nil, err
	}
	model, err := transformer.Load(f.Model)
	if err != nil {
		return nil, nil, err
	}
	if p, err = lvm.NewPipeline(tok, model); err != nil {
		model.Close()
		return nil, nil, err
	}
	return p, model.Close, nil
}

// Sampling returns the decoding the flags ask for: greedy by default (the
// embedded model's evaluation decodes greedily), or the official sampling
// defaults with Seed under --sample.
func (f *ModelFlags) Sampling() sampling.Config {
	if !f.Sample {
		return sampling.GreedyConfig()
	}
	c := sampling.Default()
	c.Seed = f.Seed
	return c
}
