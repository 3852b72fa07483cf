package demo

import (
	"fmt"
	"image"

	"github.com/lvm-go/lvm/synth"
)

// WorldSeed is the seed of the synth world the examples draw their prompts
// from: the default of lvm synth and lvm eval, so the examples' prompts
// come from the held-out split of the world such a model was trained on.
const WorldSeed = 1

// World returns a generator of the held-out split of synth's world at
// WorldSeed, its next draw being number n (one draw per sentence), for a
// tokenizer of res×res images. synth draws sides 16..1024; for a res
// outside that range the generator draws the nearest supported side and
// the tokenizer resizes the images, as it does any image.
func World(res int, n uint64) (*synth.Generator, error) {
	if res < 1 {
		return nil, fmt.Errorf("tokenizer resolution %d", res)
	}
	g, err := synth.NewGenerator(WorldSeed, min(max(res, 16), 1024), synth.HeldOut)
	if err != nil {
		return nil, err
	}
	g.Seek(n)
	return g, nil
}

// Score is one line comparing the generated images with the true answers
// of a synth sentence: their mean PSNR, and that of the baseline that
// copies the last prompt image (no in-context learning at all). ok is
// false, and the line empty, when the images cannot be compared (their
// sizes differ, as when World drew another side than the tokenizer's).
func Score(generated, truth []image.Image, copied image.Image) (line string, ok bool) {
	if len(generated) != len(truth) || len(truth) == 0 {
		return "", false
	}
	var got, base float64
	for i := range truth {
		p, err := synth.PSNR(generated[i], truth[i])
		if err != nil {
			return "", false
		}
		b, err := synth.PSNR(copied, truth[i])
		if err != nil {
			return "", false
		}
		got += p
		base += b
	}
	n := float64(len(truth))
	return fmt.Sprintf("PSNR against the true answer: %.1f dB (copying the last prompt image: %.1f dB)", got/n, base/n), true
}
