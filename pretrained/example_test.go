package pretrained_test

import (
	"context"
	"fmt"
	"log"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/pretrained"
	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/synth"
)

// An analogy of the synthetic world, answered by the embedded model: three
// pairs x, hflip(x) of held-out images, then a query x_q; the model draws
// hflip(x_q).
func ExamplePipeline() {
	pipe, err := pretrained.Pipeline()
	if err != nil {
		log.Fatal(err)
	}
	g, err := synth.NewGenerator(7, pretrained.Resolution, synth.HeldOut)
	if err != nil {
		log.Fatal(err)
	}
	s, err := g.Analogy(synth.TaskFlipH, 3) // x1, y1, x2, y2, x3, y3, xq, yq
	if err != nil {
		log.Fatal(err)
	}
	var pairs []sentence.ImagePair
	for i := 0; i < s.Examples(); i++ {
		pairs = append(pairs, sentence.ImagePair{X: s.Images[2*i], Y: s.Images[2*i+1]})
	}
	query := s.Images[2*s.Examples()]
	ctx := context.Background()
	prompt, err := sentence.AnalogyImages(ctx, pipe.Tokenizer(), pairs, query)
	if err != nil {
		log.Fatal(err)
	}
	cands, err := pipe.Generate(ctx, prompt, lvm.Options{Sampling: sampling.GreedyConfig()})
	if err != nil {
		log.Fatal(err)
	}
	answer := cands[0].Images[0] // synth.PSNR(answer, s.Answers()[0]) scores it against hflip(x_q)
	fmt.Printf("prompt: %d images of %d tokens\n", prompt.Len(), prompt.TokensPerImage())
	fmt.Printf("answer: a %v image\n", answer.Bounds().Size())
	// Output:
	// prompt: 7 images of 64 tokens
	// answer: a (32,32) image
}
