package lvm_test

import (
	"context"
	"fmt"
	"log"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

// A Pipeline is composed from a tokenizer and a model; an analogy prompt
// x1, y1, x2, y2, xq asks it for yq. (The models here are the small
// random-weight test fixtures, so the answer itself is noise.)
func ExamplePipeline() {
	tok, err := tokenizer.Load("testdata/vqgan")
	if err != nil {
		log.Fatal(err)
	}
	model, err := transformer.Load("testdata/llama")
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	pipe, err := lvm.NewPipeline(tok, model)
	if err != nil {
		log.Fatal(err)
	}

	x1, y1 := loadImage("testdata/vqgan/exact.png"), loadImage("testdata/vqgan/exact.decoded.png")
	x2, y2 := loadImage("testdata/vqgan/resize.png"), loadImage("testdata/vqgan/resize.decoded.png")
	prompt, err := sentence.AnalogyImages(context.Background(), tok,
		[]sentence.ImagePair{{X: x1, Y: y1}, {X: x2, Y: y2}}, x1)
	if err != nil {
		log.Fatal(err)
	}
	cands, err := pipe.Generate(context.Background(), prompt, lvm.Options{Sampling: sampling.GreedyConfig()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("prompt: %d images, %d tokens\n", prompt.Len(), prompt.NumTokens())
	fmt.Printf("answer: %d tokens, a %v image\n", len(cands[0].Tokens[0]), cands[0].Images[0].Bounds().Size())
	// Output:
	// prompt: 5 images, 80 tokens
	// answer: 16 tokens, a (64,64) image
}

// Options choose the number of images and candidates, the sampler and a
// progress callback; candidates share one prefill of the prompt.
func ExampleOptions() {
	tok, _ := tokenizer.Load("testdata/vqgan")
	model, _ := transformer.Load("testdata/llama")
	defer model.Close()
	pipe, _ := lvm.NewPipeline(tok, model)

	frames := pipe.NewSentence()
	for i := 0; i < 3; i++ {
		grid := make([]int, tok.TokensPerImage())
		for j := range grid {
			grid[j] = (i + j) % tok.CodebookSize()
		}
		frames.Append(grid)
	}
	opts := lvm.Options{
		Images:     2,
		Candidates: 3,
		Sampling:   sampling.Config{Temperature: 0.8, TopK: 20, TopP: 0.9, Seed: 1},
		Progress: func(done, total int) {
			if done == total {
				fmt.Printf("%d/%d tokens\n", done, total)
			}
		},
	}
	cands, err := pipe.GenerateTokens(context.Background(), frames, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d candidates × %d images\n", len(cands), len(cands[0].Tokens))
	// Output:
	// 96/96 tokens
	// 3 candidates × 2 images
}

// Candidate holds each continuation's code grids and, from Generate, the
// decoded images.
func ExampleCandidate() {
	model, _ := transformer.Load("testdata/llama")
	defer model.Close()
	// Token mode needs no tokenizer: grids of 1×16 ids, codes below 512.
	prompt, _ := sentence.New(1, 16)
	prompt.Append(make([]int, 16))
	cands, _ := lvm.GenerateTokens(context.Background(), model, prompt, 512, lvm.Options{Images: 2})
	c := cands[0]
	fmt.Println(len(c.Tokens), len(c.Tokens[0]), c.Images == nil)
	// Output: 2 16 true
}
