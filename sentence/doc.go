// Package sentence builds visual sentences: the token sequences an LVM reads
// and continues.
//
// A VisualSentence is an ordered list of images, each held as its grid of
// VQ codes (row-major, rows×cols, 16×16 = 256 for the released tokenizer).
// Its Tokens are the grids concatenated in order, with no BOS and no
// separators: that is the whole prompt format of the LVM, and nothing but
// the order of the images tells the model the task.
//
// Three builders make the prompt kinds of the paper:
//
//   - Sequential(frames...): frames 1..k; the model continues with frame k+1.
//   - Analogy(pairs, query): x1,y1,…,xk,yk,xq; the model answers yq = f(xq)
//     for the task f that maps each xi to yi.
//   - Composite(chains, query): example chains x, f(x), g(f(x)), … of one
//     length, then a shorter query chain that the model completes; and
//     Concat, which joins sentences (several analogy groups in one prompt).
//
// Each builder works on token grids; the *Images variants take image.Image
// values and an Encoder (any type with an Encode method, such as
// *tokenizer.Tokenizer), so this package imports neither model.
//
// A prompt plus the image being generated must fit the model's positions:
// at most 15 prompt images of 256 tokens for the released 4096-position
// models. Builders check this against DefaultMaxPositions; Fits checks any
// other limit.
//
// The package also speaks the official trainer's data format: JSON lines of
// {"tokens": base64 of little-endian int32 codes}, one sentence a line
// (ReadJSONL, WriteJSONL), and packs a stream of sentences into training
// rows of N+1 tokens (Packer).
package sentence
