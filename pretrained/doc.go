// Package pretrained ships a small Large Vision Model trained on the
// synthetic visual world of package synth, embedded in the program with
// go:embed, so that an LVM runs with no download and no files on disk:
//
//	pipe, err := pretrained.Pipeline()
//
// The model sees 32×32 images (Resolution): its VQGAN tokenizer turns one
// into an 8×8 grid of codes, 64 tokens per image (TokensPerImage), and its
// LLaMA-architecture transformer continues visual sentences of such
// images. Both were trained in Go with this module's own trainers (lvm
// train-tokenizer, then lvm train) on images and sentences of synth's Train
// split: sequential sentences of its motions, analogies of its eight tasks
// and composites of two tasks. So it answers prompts of that world (see
// synth.Generator, whose HeldOut split holds images it never saw), not
// photographs: a photograph is resized to 32×32 and lies far outside what
// it learnt.
//
// The checkpoints are ordinary Hugging Face / open-muse directories,
// synth32/tokenizer (config.json, model.safetensors; float32) and
// synth32/model (config.json, model.safetensors; float16), read with
// tokenizer.LoadFS and transformer.LoadFS; they add about 15.5 MB to a
// binary that imports this package.
//
// The recipe is pretrained/recipe/train.sh (configurations beside it):
// a VQGAN of 0.97 M parameters trained 5000 steps of 16 images with 512
// codes, then grown to 2048 codes and trained 2000 steps more, then its
// decoder alone 3000 steps (about 1 h 10 min on 2 cores; held-out PSNR
// 30.06 dB); a 5.0 M-parameter LLaMA (hidden 256, 6 layers, 768 positions)
// trained 12 900 steps on the 512 codes (39.6 M tokens, about 3 h 45 min),
// then moved to the 2048 codes (vocabulary 2048, 5.8 M parameters; each
// new code starting as the old code it replaces) and trained 3000 steps
// more (9.2 M tokens, about 55 min). On held-out analogies with 3 example
// pairs it beats both no-learning baselines (copy the query; the mean of
// the example answers) on 7 of the 8 tasks (not shift); with 1 pair on 6.
// Inversion shows the learning from examples best (MSE 0.071 with 1 pair,
// 0.010 with 3). The README has every figure.
//
// Tokenizer, Model and Pipeline load the embedded files once per process,
// on first use, and then return the same values: they are immutable and
// safe for concurrent use, and the model's weights live in the program's
// memory, so its Close does nothing and need not be called.
package pretrained
