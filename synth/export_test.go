package synth

import (
	"bytes"
	"context"
	"errors"
	"image"
	"slices"
	"testing"

	"github.com/lvm-go/lvm/sentence"
)

// quadEncoder stands in for a tokenizer: 4 codes per image, the red value
// of each quadrant's top-left pixel plus 256 times the quadrant.
type quadEncoder struct{ fail int }

func (e *quadEncoder) Encode(img image.Image) ([]int, error) {
	if e.fail == 1 {
		return nil, errors.New("broken encoder")
	}
	e.fail--
	b := img.Bounds()
	h := b.Dx() / 2
	var out []int
	for q, p := range []image.Point{{0, 0}, {h, 0}, {0, h}, {h, h}} {
		r, _, _, _ := img.At(b.Min.X+p.X, b.Min.Y+p.Y).RGBA()
		out = append(out, int(r>>8)+256*q)
	}
	return out, nil
}

func TestWriteJSONLRoundTrip(t *testing.T) {
	g, _ := NewGenerator(8, 32, HeldOut)
	var ss []Sentence
	for i := 0; i < 5; i++ {
		s, err := g.Sample(DefaultMixture())
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	var buf bytes.Buffer
	ctx := context.Background()
	if err := WriteJSONL(ctx, &buf, &quadEncoder{}, ss...); err != nil {
		t.Fatal(err)
	}
	got, err := sentence.ReadJSONL(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ss) {
		t.Fatalf("%d lines for %d sentences", len(got), len(ss))
	}
	for i, s := range ss {
		var want []int
		for _, img := range s.Images {
			codes, _ := (&quadEncoder{}).Encode(img)
			want = append(want, codes...)
		}
		if !slices.Equal(got[i], want) {
			t.Errorf("sentence %d: read %v, want %v", i, got[i], want)
		}
		if len(got[i]) != 4*len(s.Images) {
			t.Errorf("sentence %d: %d tokens for %d images", i, len(got[i]), len(s.Images))
		}
	}
}

type ragged struct{ n int }

func (r *ragged) Encode(image.Image) ([]int, error) { r.n++; return make([]int, r.n), nil }

func TestWriteJSONLErrors(t *testing.T) {
	g, _ := NewGenerator(8, 32, Train)
	s, _ := g.Analogy(TaskInvert, 2)
	ctx := context.Background()
	var buf bytes.Buffer
	if err := WriteJSONL(ctx, &buf, nil, s); err == nil {
		t.Error("nil encoder accepted")
	}
	if err := WriteJSONL(ctx, &buf, &quadEncoder{fail: 3}, s); err == nil {
		t.Error("encoder error not returned")
	}
	if err := WriteJSONL(ctx, &buf, &ragged{}, s); err == nil {
		t.Error("images of different code counts accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := WriteJSONL(cancelled, &buf, &quadEncoder{}, s); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("failed writes wrote %q", buf.String())
	}
}
