package sentence

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
)

// DefaultMaxPositions is the context length of the released LVMs.
const DefaultMaxPositions = 4096

// VisualSentence is an ordered list of images held as token grids of one
// size. The zero value is not usable: make one with New or a builder.
//
// Methods that return grids return copies; a VisualSentence never aliases
// slices passed to it.
type VisualSentence struct {
	rows, cols int
	tokens     []int // all grids, concatenated
}

// New returns an empty sentence whose images are rows×cols token grids.
func New(rows, cols int) (*VisualSentence, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("sentence: grid %d×%d: both sides must be positive", rows, cols)
	}
	return &VisualSentence{rows: rows, cols: cols}, nil
}

// GridSize returns the rows and columns of each image's token grid.
func (s *VisualSentence) GridSize() (rows, cols int) { return s.rows, s.cols }

// TokensPerImage is rows·cols.
func (s *VisualSentence) TokensPerImage() int { return s.rows * s.cols }

// Len is the number of images.
func (s *VisualSentence) Len() int { return len(s.tokens) / s.TokensPerImage() }

// NumTokens is the number of tokens, Len()·TokensPerImage().
func (s *VisualSentence) NumTokens() int { return len(s.tokens) }

// Tokens returns a copy of the flat token sequence: the grids in order, no
// BOS, no separators.
func (s *VisualSentence) Tokens() []int { return append([]int(nil), s.tokens...) }

// Image returns a copy of image i's grid (row-major); i may be negative to
// count from the end (-1 is the last image).
func (s *VisualSentence) Image(i int) ([]int, error) {
	n := s.Len()
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return nil, fmt.Errorf("sentence: image %d out of range [0, %d)", i, n)
	}
	tpi := s.TokensPerImage()
	return append([]int(nil), s.tokens[i*tpi:(i+1)*tpi]...), nil
}

// Images returns a copy of every grid.
func (s *VisualSentence) Images() [][]int {
	out := make([][]int, s.Len())
	for i := range out {
		out[i], _ = s.Image(i)
	}
	return out
}

// Append adds grids at the end. Each must hold exactly TokensPerImage
// non-negative ids; on error nothing is appended.
func (s *VisualSentence) Append(grids ...[]int) error {
	tpi := s.TokensPerImage()
	for gi, g := range grids {
		if len(g) != tpi {
			return fmt.Errorf("sentence: image %d has %d tokens, want %d (%d×%d grid)", s.Len()+gi, len(g), tpi, s.rows, s.cols)
		}
		for p, id := range g {
			if id < 0 {
				return fmt.Errorf("sentence: image %d position %d: negative token id %d", s.Len()+gi, p, id)
			}
		}
	}
	for _, g := range grids {
		s.tokens = append(s.tokens, g...)
	}
	return nil
}

// Encoder turns an image into its row-major token grid; *tokenizer.Tokenizer
// is one.
type Encoder interface {
	Encode(img image.Image) ([]int, error)
}

// AppendImages encodes images with enc and appends their grids, checking ctx
// between images.
func (s *VisualSentence) AppendImages(ctx context.Context, enc Encoder, images ...image.Image) error {
	grids, err := encodeAll(ctx, enc, images)
	if err != nil {
		return err
	}
	return s.Append(grids...)
}

// Clone returns an independent copy.
func (s *VisualSentence) Clone() *VisualSentence {
	return &VisualSentence{rows: s.rows, cols: s.cols, tokens: append([]int(nil), s.tokens...)}
}

// Window returns a new sentence holding the last n images (all of them if
// the sentence has fewer): the sliding window the LVM keeps between
// generated images.
func (s *VisualSentence) Window(n int) *VisualSentence {
	if n < 0 {
		n = 0
	}
	if l := s.Len(); n > l {
		n = l
	}
	start := len(s.tokens) - n*s.TokensPerImage()
	return &VisualSentence{rows: s.rows, cols: s.cols, tokens: append([]int(nil), s.tokens[start:]...)}
}

// ErrTooLong is wrapped by the error Fits returns when a prompt does not fit.
var ErrTooLong = errors.New("sentence too long for the model's positions")

// Fits reports whether the sentence as a prompt, plus newImages images to be
// generated, fits in maxPositions tokens.
func (s *VisualSentence) Fits(maxPositions, newImages int) error {
	tpi := s.TokensPerImage()
	need := len(s.tokens) + newImages*tpi
	if need > maxPositions {
		maxPrompt := (maxPositions - newImages*tpi) / tpi
		if maxPrompt < 0 {
			maxPrompt = 0
		}
		return fmt.Errorf("sentence: %d images (%d tokens) plus %d to generate need %d positions, the model has %d (at most %d prompt images of %d tokens): %w",
			s.Len(), len(s.tokens), newImages, need, maxPositions, maxPrompt, tpi, ErrTooLong)
	}
	return nil
}

// squareGrid returns the side of a square grid of n tokens.
func squareGrid(n int) (int, error) {
	side := int(math.Round(math.Sqrt(float64(n))))
	if n <= 0 || side*side != n {
		return 0, fmt.Errorf("sentence: %d tokens is not a square grid; use New(rows, cols) and Append", n)
	}
	return side, nil
}

// fromGrids builds a sentence of square grids and checks the default limit
// with one image to generate.
func fromGrids(grids [][]int) (*VisualSentence, error) {
	if len(grids) == 0 {
		return nil, errors.New("sentence: no images")
	}
	side, err := squareGrid(len(grids[0]))
	if err != nil {
		return nil, err
	}
	s, _ := New(side, side)
	if err := s.Append(grids...); err != nil {
		return nil, err
	}
	if err := s.Fits(DefaultMaxPositions, 1); err != nil {
		return nil, err
	}
	return s, nil
}

func encodeAll(ctx context.Context, enc Encoder, images []image.Image) ([][]int, error) {
	if enc == nil {
		return nil, errors.New("sentence: nil Encoder")
	}
	grids := make([][]int, len(images))
	for i, img := range images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if img == nil {
			return nil, fmt.Errorf("sentence: image %d is nil", i)
		}
		g, err := enc.Encode(img)
		if err != nil {
			return nil, fmt.Errorf("sentence: encoding image %d: %w", i, err)
		}
		grids[i] = g
	}
	return grids, nil
}
