package tokenizer_test

import (
	"fmt"
	"image/png"
	"log"
	"os"

	"github.com/lvm-go/lvm/tokenizer"
	"gorgonia.org/tensor"
)

// The examples use the small golden checkpoint in testdata (64×64 images,
// a 4×4 grid of codes from a codebook of 512); the released model works the
// same way with 256×256 images and 16×16 grids.

func Example() {
	tok, err := tokenizer.Load("../testdata/vqgan")
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open("../testdata/vqgan/exact.png")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		log.Fatal(err)
	}

	ids, err := tok.Encode(img) // row-major over the latent grid
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(ids), "tokens:", ids[:4], "…")

	back, err := tok.Decode(ids)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("decoded:", back.Bounds().Dx(), "×", back.Bounds().Dy())
	// Output:
	// 16 tokens: [509 199 421 200] …
	// decoded: 64 × 64
}

func ExampleLoadFiles() {
	// Separate config and weights, here the torch.save archive.
	tok, err := tokenizer.LoadFiles("../testdata/vqgan/config.json", "../testdata/vqgan/pytorch_model.bin")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resolution", tok.Resolution(), "grid", tok.GridSize(), "tokens", tok.TokensPerImage(), "codebook", tok.CodebookSize())
	// Output: resolution 64 grid 4 tokens 16 codebook 512
}

func ExampleTokenizer_EncodeTensor() {
	tok, err := tokenizer.Load("../testdata/vqgan")
	if err != nil {
		log.Fatal(err)
	}
	// A batch of two flat grey 64×64 images, [B, C, H, W] in [0,1].
	pix := make([]float32, 2*3*64*64)
	for i := range pix {
		pix[i] = 0.5
	}
	codes, err := tok.EncodeTensor(tensor.New(tensor.WithShape(2, 3, 64, 64), tensor.WithBacking(pix)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("codes", codes.Shape(), codes.Dtype())

	// Stage by stage: the latent before quantisation, its codes, their
	// codebook vectors and the decoder's raw output.
	lat, err := tok.Latent(tensor.New(tensor.WithShape(2, 3, 64, 64), tensor.WithBacking(pix)))
	if err != nil {
		log.Fatal(err)
	}
	same, err := tok.Quantize(lat)
	if err != nil {
		log.Fatal(err)
	}
	emb, err := tok.Lookup(same)
	if err != nil {
		log.Fatal(err)
	}
	raw, err := tok.DecodeLatent(emb)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("latent", lat.Shape(), "embeddings", emb.Shape(), "pixels", raw.Shape())
	// Output:
	// codes (2, 16) int
	// latent (2, 16, 4, 4) embeddings (2, 16, 4, 4) pixels (2, 3, 64, 64)
}

func ExampleTokenizer_Decode_badInput() {
	tok, err := tokenizer.Load("../testdata/vqgan")
	if err != nil {
		log.Fatal(err)
	}
	ids := make([]int, tok.TokensPerImage())
	ids[5] = 9000
	_, err = tok.Decode(ids)
	fmt.Println(err)
	_, err = tok.Decode(ids[:10])
	fmt.Println(err)
	// Output:
	// tokenizer: token id 9000 at position 5 (row 1, col 1) is outside the codebook [0, 512)
	// tokenizer: got 10 tokens, want 16 (a 4×4 grid)
}

// A Tokenizer turns a batch of images into code grids and back; it is safe
// for concurrent use.
func ExampleTokenizer() {
	tok, err := tokenizer.Load("../testdata/vqgan")
	if err != nil {
		log.Fatal(err)
	}
	grids := [][]int{make([]int, tok.TokensPerImage()), make([]int, tok.TokensPerImage())}
	grids[1][0] = tok.CodebookSize() - 1
	imgs, err := tok.DecodeBatch(grids)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(imgs), imgs[0].Bounds())
	// Output: 2 (0,0)-(64,64)
}

// Config describes the VQGAN; ReleasedConfig is the one shipped with the
// released LVM.
func ExampleConfig() {
	c := tokenizer.ReleasedConfig()
	fmt.Println(c.Resolution, c.GridSize(), c.TokensPerImage(), c.NumEmbeddings, tokenizer.NumParameters(c))
	// Output: 256 16 256 8192 146244675
}
