package sentence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// grid returns a 2×2 grid whose ids encode the image number, so that
// ordering mistakes are visible.
func grid(n int) []int { return []int{10 * n, 10*n + 1, 10*n + 2, 10*n + 3} }

func TestBuildersOrder(t *testing.T) {
	seq, err := Sequential(grid(1), grid(2), grid(3))
	require.NoError(t, err)
	assert.Equal(t, []int{10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33}, seq.Tokens())
	assert.Equal(t, 3, seq.Len())
	r, c := seq.GridSize()
	assert.Equal(t, [2]int{2, 2}, [2]int{r, c})

	an, err := Analogy([]Pair{{grid(1), grid(2)}, {grid(3), grid(4)}}, grid(5))
	require.NoError(t, err)
	assert.Equal(t, [][]int{grid(1), grid(2), grid(3), grid(4), grid(5)}, an.Images())

	co, err := Composite([][][]int{{grid(1), grid(2), grid(3)}, {grid(4), grid(5), grid(6)}}, [][]int{grid(7)})
	require.NoError(t, err)
	assert.Equal(t, 7, co.Len())
	last, err := co.Image(-1)
	require.NoError(t, err)
	assert.Equal(t, grid(7), last)

	cat, err := Concat(seq, an)
	require.NoError(t, err)
	assert.Equal(t, 8, cat.Len())
	assert.Equal(t, append(seq.Tokens(), an.Tokens()...), cat.Tokens())
}

func TestBuilderErrors(t *testing.T) {
	big := make([]int, 256)
	sixteen := make([][]int, 16)
	for i := range sixteen {
		sixteen[i] = big
	}
	cases := []struct {
		name string
		f    func() error
		want string
	}{
		{"no frames", func() error { _, err := Sequential(); return err }, "no images"},
		{"not square", func() error { _, err := Sequential([]int{1, 2, 3}); return err }, "not a square grid"},
		{"ragged", func() error { _, err := Sequential(grid(1), []int{1}); return err }, "image 1 has 1 tokens, want 4"},
		{"negative id", func() error { _, err := Sequential([]int{1, 2, -3, 4}); return err }, "position 2: negative token id -3"},
		{"no pairs", func() error { _, err := Analogy(nil, grid(1)); return err }, "at least one example pair"},
		{"chain length", func() error {
			_, err := Composite([][][]int{{grid(1), grid(2)}, {grid(3)}}, [][]int{grid(4)})
			return err
		}, "chain 1 has 1 images"},
		{"query too long", func() error {
			_, err := Composite([][][]int{{grid(1), grid(2)}}, [][]int{grid(3), grid(4)})
			return err
		}, "query has 2 images, want 1..1"},
		{"16 images", func() error { _, err := Sequential(sixteen...); return err }, "at most 15 prompt images"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.f()
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	// Exactly 15 images of 256 fit; the 16th is refused with ErrTooLong.
	_, err := Sequential(sixteen[:15]...)
	require.NoError(t, err)
	_, err = Sequential(sixteen...)
	assert.True(t, errors.Is(err, ErrTooLong))
}

func TestWindowAndAccessors(t *testing.T) {
	s, err := New(2, 2)
	require.NoError(t, err)
	for i := 1; i <= 5; i++ {
		require.NoError(t, s.Append(grid(i)))
	}
	w := s.Window(3)
	assert.Equal(t, [][]int{grid(3), grid(4), grid(5)}, w.Images())
	assert.Equal(t, 5, s.Window(99).Len())
	assert.Equal(t, 0, s.Window(0).Len())
	// Copies, not aliases.
	toks := s.Tokens()
	toks[0] = 999
	img, _ := s.Image(0)
	assert.Equal(t, 10, img[0])
	_, err = s.Image(5)
	assert.ErrorContains(t, err, "image 5 out of range [0, 5)")
	_, err = New(0, 3)
	assert.Error(t, err)
	assert.NoError(t, s.Fits(20, 0))
	assert.ErrorIs(t, s.Fits(20, 1), ErrTooLong)
}

// fakeEncoder encodes an image as a 2×2 grid of its top-left pixel's red
// value, so tests can check which image went where.
type fakeEncoder struct{}

func (fakeEncoder) Encode(img image.Image) ([]int, error) {
	r, _, _, _ := img.At(0, 0).RGBA()
	v := int(r >> 8)
	return []int{v, v, v, v}, nil
}

func solid(v uint8) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{v, 0, 0, 255})
	return img
}

func TestImageBuilders(t *testing.T) {
	ctx := context.Background()
	an, err := AnalogyImages(ctx, fakeEncoder{}, []ImagePair{{solid(1), solid(2)}}, solid(3))
	require.NoError(t, err)
	assert.Equal(t, []int{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}, an.Tokens())
	seq, err := SequentialImages(ctx, fakeEncoder{}, solid(4), solid(5))
	require.NoError(t, err)
	assert.Equal(t, 2, seq.Len())
	co, err := CompositeImages(ctx, fakeEncoder{}, [][]image.Image{{solid(1), solid(2), solid(3)}}, []image.Image{solid(4), solid(5)})
	require.NoError(t, err)
	assert.Equal(t, 5, co.Len())
	require.NoError(t, co.AppendImages(ctx, fakeEncoder{}, solid(6)))
	last, _ := co.Image(-1)
	assert.Equal(t, []int{6, 6, 6, 6}, last)

	_, err = SequentialImages(ctx, fakeEncoder{}, solid(1), nil)
	assert.ErrorContains(t, err, "image 1 is nil")
	_, err = SequentialImages(ctx, nil, solid(1))
	assert.ErrorContains(t, err, "nil Encoder")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = SequentialImages(cancelled, fakeEncoder{}, solid(1))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestJSONLRoundTrip(t *testing.T) {
	sentences := [][]int{{0, 1, 8191, 8291}, {}, {2147483647, -5}}
	var buf bytes.Buffer
	require.NoError(t, WriteJSONL(&buf, sentences...))
	// The format is the trainer's: base64 of little-endian int32.
	first := strings.SplitN(buf.String(), "\n", 2)[0]
	assert.Equal(t, `{"tokens":"AAAAAAEAAAD/HwAAYyAAAA=="}`, first)
	got, err := ReadJSONL(&buf)
	require.NoError(t, err)
	assert.Equal(t, [][]int{{0, 1, 8191, 8291}, {}, {2147483647, -5}}, got)

	_, err = EncodeTokens([]int{1 << 40})
	assert.Error(t, err)
	for _, bad := range []struct{ in, want string }{
		{"{\"tokens\": \"AAA\"}\n", "line 1"},
		{"\n{\"tokens\": \"AAAA\"}\n", "line 2: sentence: tokens are 3 bytes"},
		{"{\"text\": \"x\"}\n", "no \"tokens\" field"},
		{"not json\n", "line 1"},
	} {
		_, err := ReadJSONL(strings.NewReader(bad.in))
		assert.ErrorContains(t, err, bad.want, bad.in)
	}
	r := NewJSONLReader(strings.NewReader(""))
	_, err = r.Next()
	assert.Equal(t, io.EOF, err)
}

func TestPacker(t *testing.T) {
	p, err := NewPacker(4)
	require.NoError(t, err)
	var rows [][]int
	// Sentences of 3, 5 and 6 tokens: one stream 0..13.
	next := 0
	for _, n := range []int{3, 5, 6} {
		s := make([]int, n)
		for i := range s {
			s[i] = next
			next++
		}
		rows = append(rows, p.Add(s)...)
	}
	// Rows of N+1 = 5 tokens starting every N = 4: [0..4], [4..8], [8..12].
	want := [][]int{{0, 1, 2, 3, 4}, {4, 5, 6, 7, 8}, {8, 9, 10, 11, 12}}
	assert.Equal(t, want, rows)
	assert.Equal(t, 2, p.Pending()) // 12 and 13 wait for more
	for _, r := range rows {
		inputs, targets := r[:4], r[1:]
		for i := range inputs {
			assert.Equal(t, inputs[i]+1, targets[i], fmt.Sprint(r))
		}
	}
	_, err = NewPacker(0)
	assert.Error(t, err)
}
