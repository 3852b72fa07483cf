// Package lvm is a Go implementation of the Large Vision Model (LVM) of
// "Sequential Modeling Enables Scalable Learning for Large Vision Models"
// (Bai et al., CVPR 2024), numerically compatible with the official release.
//
// An LVM sees only pixels. The data takes one path through the library:
//
//	image.Image ──tokenizer.Tokenizer.Encode──▶ []int, one grid of codes per image
//	            ──sentence.VisualSentence (Sequential / Analogy / Composite)──▶ prompt ids
//	            ──transformer.Model (State holds the KV cache: Prefill, Decode)──▶ logits
//	            ──sampling.Sampler (suppress → temperature → top-k → top-p → draw)──▶ next id
//	            ──(× tokens per image)──▶ tokenizer.Tokenizer.Decode ──▶ image.Image
//
// Pipeline wires the steps together: compose it from a Tokenizer and a
// Model with NewPipeline, build a prompt with the sentence package, and call
// Generate (images out) or GenerateTokens (codes out); Perplexity scores
// target images given prompt images. GenerateTokens also exists as a
// function over a Model alone, for token-level work without a tokenizer.
//
// Each subpackage stands alone:
//
//   - tokenizer: the VQGAN that turns a 256×256 image into 256 codes from a
//     codebook of 8192 and back (Config, Load, Tokenizer);
//   - transformer: the LLaMA-architecture causal model over visual sentences
//     (Config, Load, Model, State, Perplexity);
//   - sentence and sampling: prompts as token grids, and next-token choice
//     from logits, with no knowledge of either model;
//   - synth: a synthetic visual world of seeded scenes, motions and tasks,
//     for training and evaluating small LVMs;
//   - pretrained: a small tokenizer and model trained on that world,
//     embedded in the binary (pretrained.Pipeline loads both in one call);
//   - cmd/lvm: the command-line tool.
//
// # Dimensions
//
// Shapes in doc comments use these names throughout the module:
//
//	B  batch (images or sequences)
//	T  tokens (sequence positions)
//	C  channels
//	H×W  spatial height and width (pixels or latent cells)
//	D  transformer model width (hidden size)
//	V  vocabulary size (8292 for the released LVMs)
//	K  codebook size (8192 for the released VQGAN)
//	E  codebook embedding width (64 for the released VQGAN)
//
// Tensors that cross package boundaries are *tensor.Dense from
// gorgonia.org/tensor, float32 (or int for codes), contiguous, row-major;
// the arithmetic itself runs on the backing []float32 with this module's
// own kernels.
package lvm
