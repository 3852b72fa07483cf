package synth

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/lvm-go/lvm/sentence"
)

// Tokens returns the token sequence of s: the codes enc gives each image,
// concatenated in order with nothing between them (the LVM's prompt and
// training format). Every image must give the same number of codes; ctx is
// checked between images.
func Tokens(ctx context.Context, enc sentence.Encoder, s Sentence) ([]int, error) {
	if enc == nil {
		return nil, errors.New("synth: nil Encoder")
	}
	var out []int
	per := -1
	for i, img := range s.Images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if img == nil {
			return nil, fmt.Errorf("synth: image %d is nil", i)
		}
		codes, err := enc.Encode(img)
		if err != nil {
			return nil, fmt.Errorf("synth: encoding image %d: %w", i, err)
		}
		if per >= 0 && len(codes) != per {
			return nil, fmt.Errorf("synth: image %d gave %d codes, image 0 gave %d", i, len(codes), per)
		}
		per = len(codes)
		out = append(out, codes...)
	}
	return out, nil
}

// WriteJSONL encodes each sentence with enc (see Tokens) and writes it to w
// as one line of the official trainer's JSON-lines format,
// {"tokens": base64 of little-endian int32}, through sentence.WriteJSONL:
// the file trains the official LVM code on a cluster as it trains this
// module's. Lines are written as sentences are encoded; an error names the
// sentence, and the lines before it are already written.
func WriteJSONL(ctx context.Context, w io.Writer, enc sentence.Encoder, sentences ...Sentence) error {
	for i, s := range sentences {
		toks, err := Tokens(ctx, enc, s)
		if err != nil {
			return fmt.Errorf("synth: sentence %d: %w", i, err)
		}
		if err := sentence.WriteJSONL(w, toks); err != nil {
			return fmt.Errorf("synth: sentence %d: %w", i, err)
		}
	}
	return nil
}
