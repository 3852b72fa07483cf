package demo

import (
	"flag"
	"fmt"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

// ModelFlags are the flags every example takes to find its checkpoints.
type ModelFlags struct {
	Model, Tokenizer, Out string
	Seed                  uint64
}

// Register adds --model, --tokenizer, --out and --seed to fs.
func (f *ModelFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Model, "model", "", "transformer checkpoint directory")
	fs.StringVar(&f.Tokenizer, "tokenizer", "", "VQGAN tokenizer directory")
	fs.StringVar(&f.Out, "out", ".", "output directory")
	fs.Uint64Var(&f.Seed, "seed", 0, "sampling seed")
}

// Load opens the tokenizer and the model and composes their Pipeline; call
// close when done with it.
func (f *ModelFlags) Load() (p *lvm.Pipeline, close func() error, err error) {
	if f.Model == "" || f.Tokenizer == "" {
		return nil, nil, fmt.Errorf("need --model and --tokenizer")
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
