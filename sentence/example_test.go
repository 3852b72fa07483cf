package sentence_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"

	"github.com/lvm-go/lvm/sentence"
)

// A VisualSentence holds images as token grids; Tokens is the prompt the
// model reads: grids in order, nothing between them.
func ExampleVisualSentence() {
	s, _ := sentence.New(2, 2) // 2×2 grids: 4 tokens per image
	s.Append([]int{1, 2, 3, 4}, []int{5, 6, 7, 8}, []int{9, 10, 11, 12})
	fmt.Println(s.Len(), s.NumTokens(), s.Tokens())
	fmt.Println(s.Window(2).Tokens())
	// Output:
	// 3 12 [1 2 3 4 5 6 7 8 9 10 11 12]
	// [5 6 7 8 9 10 11 12]
}

// Sequential prompts ask for the next frame.
func ExampleSequential() {
	s, _ := sentence.Sequential([]int{1, 1, 1, 1}, []int{2, 2, 2, 2}, []int{3, 3, 3, 3})
	fmt.Println(s.Tokens())
	// Output: [1 1 1 1 2 2 2 2 3 3 3 3]
}

// Analogy prompts x1, y1, …, xk, yk, xq ask for f(xq).
func ExampleAnalogy() {
	s, _ := sentence.Analogy([]sentence.Pair{
		{X: []int{1, 1, 1, 1}, Y: []int{2, 2, 2, 2}},
		{X: []int{3, 3, 3, 3}, Y: []int{4, 4, 4, 4}},
	}, []int{5, 5, 5, 5})
	fmt.Println(s.Len(), s.Tokens())
	// Output: 5 [1 1 1 1 2 2 2 2 3 3 3 3 4 4 4 4 5 5 5 5]
}

// Composite prompts chain tasks: x, f(x), g(f(x)) examples, then a query
// chain to complete.
func ExampleComposite() {
	x, fx, gfx := []int{1, 1, 1, 1}, []int{2, 2, 2, 2}, []int{3, 3, 3, 3}
	s, _ := sentence.Composite([][][]int{{x, fx, gfx}, {x, fx, gfx}}, [][]int{x})
	fmt.Println(s.Len())
	// Output: 7
}

// Pair is one (x, f(x)) example of an analogy task.
func ExamplePair() {
	p := sentence.Pair{X: []int{0, 1, 2, 3}, Y: []int{3, 2, 1, 0}}
	s, _ := sentence.Analogy([]sentence.Pair{p}, []int{4, 5, 6, 7})
	y, _ := s.Image(1)
	fmt.Println(y)
	// Output: [3 2 1 0]
}

// redEncoder stands in for a tokenizer: any type with an Encode method is
// an Encoder.
type redEncoder struct{}

func (redEncoder) Encode(img image.Image) ([]int, error) {
	r, _, _, _ := img.At(0, 0).RGBA()
	v := int(r >> 8)
	return []int{v, v, v, v}, nil
}

func solid(v uint8) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{v, 0, 0, 255})
	return img
}

// Builders take images through an Encoder such as *tokenizer.Tokenizer.
func ExampleEncoder() {
	s, _ := sentence.SequentialImages(context.Background(), redEncoder{}, solid(7), solid(8))
	fmt.Println(s.Tokens())
	// Output: [7 7 7 7 8 8 8 8]
}

func ExampleImagePair() {
	pairs := []sentence.ImagePair{{X: solid(1), Y: solid(2)}}
	s, _ := sentence.AnalogyImages(context.Background(), redEncoder{}, pairs, solid(3))
	fmt.Println(s.Len())
	// Output: 3
}

// The official trainer reads JSON lines of base64 little-endian int32.
func ExampleJSONLReader() {
	var buf bytes.Buffer
	sentence.WriteJSONL(&buf, []int{1, 2, 3}, []int{8191})
	fmt.Print(buf.String())
	r := sentence.NewJSONLReader(&buf)
	for {
		toks, err := r.Next()
		if err != nil {
			break
		}
		fmt.Println(toks)
	}
	// Output:
	// {"tokens":"AQAAAAIAAAADAAAA"}
	// {"tokens":"/x8AAA=="}
	// [1 2 3]
	// [8191]
}

// A Packer cuts the stream of sentences into training rows of N+1 tokens.
func ExamplePacker() {
	p, _ := sentence.NewPacker(4)
	fmt.Println(p.Add([]int{0, 1, 2}))
	fmt.Println(p.Add([]int{3, 4, 5, 6, 7, 8}))
	// Output:
	// []
	// [[0 1 2 3 4] [4 5 6 7 8]]
}
