package tokenizer_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log"
	"os"
	"path/filepath"

	"github.com/lvm-go/lvm/tokenizer"
)

// Training a small VQGAN with a Trainer (reconstruction + codebook +
// commitment loss, AdamW with warmup and cosine decay, dead-code restarts),
// then a checkpoint that Load reads and that a later Trainer resumes from.
func ExampleTrainer() {
	cfg := tokenizer.Config{Resolution: 16, NumChannels: 3, HiddenChannels: 32, ChannelMult: []int{1, 2},
		NumResBlocks: 1, NoAttnMidBlock: true, ZChannels: 8, NumEmbeddings: 64, QuantizedEmbedDim: 8,
		ResampleWithConv: true, CommitmentCost: 0.25}
	tm, err := tokenizer.NewTrainVQGAN(cfg, 1)
	if err != nil {
		log.Fatal(err)
	}

	// The training images: here always a horizontal gradient (a
	// synth.Generator g would be ImageFunc(func() (image.Image, error) {
	// return g.Image(), nil })).
	grad := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			v := uint8(x * 17)
			grad.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	images := tokenizer.ImageFunc(func() (image.Image, error) { return grad, nil })

	dir, err := os.MkdirTemp("", "vqgan")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var tr *tokenizer.Trainer
	tr, err = tokenizer.NewTrainer(tm, tokenizer.TrainOptions{
		Batch: 4, Steps: 5, PeakLR: 1e-3, Warmup: 2, Images: images,
		Progress: func(p tokenizer.TrainProgress) {
			_ = p.Stats // p.Stats.Loss, .Recon, .CodesUsed, .Perplexity, p.Restarted: progress figures
		},
		Checkpoint: func(step int) error { // after step 5
			if err := tm.Save(dir); err != nil {
				return err
			}
			return tr.SaveOptimizer(filepath.Join(dir, "optimizer.safetensors"))
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		log.Fatal(err)
	}

	tok, err := tokenizer.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	ids, err := tok.Encode(grad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tr.Step(), tm.NumParams() == tokenizer.NumParameters(cfg), len(ids))
	// Output: 5 true 64
}
