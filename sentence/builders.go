package sentence

import (
	"context"
	"errors"
	"fmt"
	"image"
)

// Sequential returns the prompt frames[0], …, frames[k-1]: the model is
// asked for frame k+1 of the sequence (next-frame prediction, or any ordered
// progression such as a rotation or a zoom).
func Sequential(frames ...[]int) (*VisualSentence, error) {
	return fromGrids(frames)
}

// Pair is one example of an analogy task: an input X and its output Y = f(X).
type Pair struct {
	X, Y []int
}

// Analogy returns the prompt x1, y1, …, xk, yk, query: the model is asked
// for f(query), where f is the task shown by the pairs (segmentation,
// colourisation, edge detection, …). At least one pair is required.
func Analogy(pairs []Pair, query []int) (*VisualSentence, error) {
	if len(pairs) == 0 {
		return nil, errors.New("sentence: Analogy needs at least one example pair")
	}
	grids := make([][]int, 0, 2*len(pairs)+1)
	for _, p := range pairs {
		grids = append(grids, p.X, p.Y)
	}
	return fromGrids(append(grids, query))
}

// Composite returns a prompt that chains tasks: each example chain is a
// sequence of images x, f(x), g(f(x)), … of the same length L ≥ 2, and the
// query chain holds the first 1..L-1 images of one more chain, which the
// model completes image by image (generate L − len(query) images).
func Composite(chains [][][]int, query [][]int) (*VisualSentence, error) {
	if len(chains) == 0 {
		return nil, errors.New("sentence: Composite needs at least one example chain")
	}
	l := len(chains[0])
	if l < 2 {
		return nil, fmt.Errorf("sentence: Composite chains need at least 2 images, chain 0 has %d", l)
	}
	var grids [][]int
	for i, c := range chains {
		if len(c) != l {
			return nil, fmt.Errorf("sentence: Composite chain %d has %d images, chain 0 has %d", i, len(c), l)
		}
		grids = append(grids, c...)
	}
	if len(query) == 0 || len(query) >= l {
		return nil, fmt.Errorf("sentence: Composite query has %d images, want 1..%d (chains have %d)", len(query), l-1, l)
	}
	return fromGrids(append(grids, query...))
}

// Concat joins sentences of one grid size into one, in order: for example
// analogy groups of different tasks before a final query. The result is
// checked against DefaultMaxPositions like the builders' results.
func Concat(parts ...*VisualSentence) (*VisualSentence, error) {
	if len(parts) == 0 {
		return nil, errors.New("sentence: Concat of nothing")
	}
	out := parts[0].Clone()
	for i, p := range parts[1:] {
		if p.rows != out.rows || p.cols != out.cols {
			return nil, fmt.Errorf("sentence: Concat part %d has %d×%d grids, part 0 has %d×%d", i+1, p.rows, p.cols, out.rows, out.cols)
		}
		out.tokens = append(out.tokens, p.tokens...)
	}
	if err := out.Fits(DefaultMaxPositions, 1); err != nil {
		return nil, err
	}
	return out, nil
}

// SequentialImages is Sequential over images encoded by enc.
func SequentialImages(ctx context.Context, enc Encoder, frames ...image.Image) (*VisualSentence, error) {
	grids, err := encodeAll(ctx, enc, frames)
	if err != nil {
		return nil, err
	}
	return Sequential(grids...)
}

// ImagePair is Pair over images.
type ImagePair struct {
	X, Y image.Image
}

// AnalogyImages is Analogy over images encoded by enc.
func AnalogyImages(ctx context.Context, enc Encoder, pairs []ImagePair, query image.Image) (*VisualSentence, error) {
	imgs := make([]image.Image, 0, 2*len(pairs)+1)
	for _, p := range pairs {
		imgs = append(imgs, p.X, p.Y)
	}
	grids, err := encodeAll(ctx, enc, append(imgs, query))
	if err != nil {
		return nil, err
	}
	ps := make([]Pair, len(pairs))
	for i := range ps {
		ps[i] = Pair{X: grids[2*i], Y: grids[2*i+1]}
	}
	return Analogy(ps, grids[len(grids)-1])
}

// CompositeImages is Composite over images encoded by enc.
func CompositeImages(ctx context.Context, enc Encoder, chains [][]image.Image, query []image.Image) (*VisualSentence, error) {
	var imgs []image.Image
	for _, c := range chains {
		imgs = append(imgs, c...)
	}
	grids, err := encodeAll(ctx, enc, append(imgs, query...))
	if err != nil {
		return nil, err
	}
	gc := make([][][]int, len(chains))
	k := 0
	for i, c := range chains {
		gc[i] = grids[k : k+len(c)]
		k += len(c)
	}
	return Composite(gc, grids[k:])
}
