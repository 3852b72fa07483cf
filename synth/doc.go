// Package synth is a small synthetic visual world, in pure Go, for training
// and evaluating small LVMs on a CPU: seeded images and visual sentences,
// the official trainer's data format, and the metrics of the evaluation.
//
// # Images
//
// A Scene is a square image described by its parts: a plain or two-tone
// Background (one of six muted colours, or two split vertically,
// horizontally or diagonally) and Objects painted in order, each a Shape
// (disc, square, triangle, ring, cross, diamond) of one of eight Palette
// colours, with a centre, a size and an angle. Render draws it with hard
// edges (no anti-aliasing: each pixel is an object's or the background's,
// which keeps tokens crisp). NewFrame renders it in layers (the image, the
// same without objects, and which object covers each pixel) so that tasks
// compose exactly.
//
// # Sentences
//
// A Generator (seed, image side: 32 by default, 64 works as well) draws:
//
//   - Sequential sentences: frames of one scene whose objects all follow
//     one Motion: move at constant velocity bouncing off the borders, grow
//     or shrink, rotate, or step from one colour to another.
//   - Analogy sentences: pairs x_i, f(x_i) sharing one Task f, then a query
//     x_q and its answer f(x_q). The eight TaskKinds: foreground mask,
//     horizontal and vertical flip, recolour every object to one colour,
//     colour inversion, grayscale, outline, and shift by a few pixels. A
//     task's parameters (the colour, the shift) are fixed for a sentence.
//   - Composite sentences: triples x, f(x), g(f(x)) chaining two tasks.
//
// Each Sentence carries its images ([]image.Image), the scenes behind
// them, its kind, motion or tasks, and the indices of its answer images;
// Shorten keeps fewer examples before the same query. Sample draws
// training sentences of every kind in given proportions (a Mixture), each
// of at most MaxImages = 16 images.
//
// Draws are deterministic: the same seed, split and calls give the same
// bytes on every machine (math/rand/v2 PCG, one generator state per draw,
// no maps, no goroutines). The HeldOut split draws from seeds disjoint from
// Train's; see Generator.
//
// # Data and metrics
//
// WriteJSONL encodes sentences with any sentence.Encoder (such as
// *tokenizer.Tokenizer; this package imports neither model) and writes the
// official trainer's JSON lines. MSE, PSNR, PixelAccuracy and MaskIoU
// score a generated image against the answer, and CopyBaseline and
// MeanBaseline give the two answers that use no in-context learning: the
// query copied, and the pixel-wise mean of the example outputs. Sheet lays
// sentences out in a contact sheet for looking at them.
package synth
