package pretrained

import (
	"embed"
	"fmt"
	"sync"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

// Resolution is the side in pixels of the images the embedded model
// reads and writes; a synth.Generator of this side draws its world.
const Resolution = 32

// TokensPerImage is the number of codes of one image: an 8×8 grid.
const TokensPerImage = 64

// The directories of the embedded checkpoints inside files.
const (
	tokenizerDir = "synth32/tokenizer"
	modelDir     = "synth32/model"
)

//go:embed synth32/tokenizer synth32/model
var files embed.FS

var (
	loadTokenizer = sync.OnceValues(func() (*tokenizer.Tokenizer, error) {
		tok, err := tokenizer.LoadFS(files, tokenizerDir)
		if err != nil {
			return nil, fmt.Errorf("pretrained: %w", err)
		}
		if tok.Resolution() != Resolution || tok.TokensPerImage() != TokensPerImage {
			return nil, fmt.Errorf("pretrained: embedded tokenizer reads %d×%d images as %d tokens, want %d×%d as %d",
				tok.Resolution(), tok.Resolution(), tok.TokensPerImage(), Resolution, Resolution, TokensPerImage)
		}
		return tok, nil
	})
	loadModel = sync.OnceValues(func() (*transformer.Model, error) {
		m, err := transformer.LoadFS(files, modelDir)
		if err != nil {
			return nil, fmt.Errorf("pretrained: %w", err)
		}
		return m, nil
	})
	loadPipeline = sync.OnceValues(func() (*lvm.Pipeline, error) {
		tok, err := loadTokenizer()
		if err != nil {
			return nil, err
		}
		m, err := loadModel()
		if err != nil {
			return nil, err
		}
		p, err := lvm.NewPipeline(tok, m)
		if err != nil {
			return nil, fmt.Errorf("pretrained: %w", err)
		}
		return p, nil
	})
)

// Tokenizer returns the embedded VQGAN tokenizer (Resolution×Resolution
// images, TokensPerImage codes each). It is decoded from the embedded
// files on the first call; later calls return the same Tokenizer.
func Tokenizer() (*tokenizer.Tokenizer, error) { return loadTokenizer() }

// Model returns the embedded transformer, float16 weights. It is built on
// the first call; later calls return the same Model. Its Close does
// nothing (the weights are in the program's memory) and need not be
// called.
func Model() (*transformer.Model, error) { return loadModel() }

// Pipeline returns the embedded tokenizer and model composed into one
// Pipeline, loading them on the first call; later calls return the same
// Pipeline.
func Pipeline() (*lvm.Pipeline, error) { return loadPipeline() }
