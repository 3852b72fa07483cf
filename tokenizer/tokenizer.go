package tokenizer

import (
	"fmt"
	"image"
	"math"
	"sync"
)

// Tokenizer is a loaded VQGAN: it turns images into grids of codebook ids
// and back. It is immutable after construction (Load, LoadFiles, New) and
// safe for concurrent use by multiple goroutines; each call allocates or
// reuses its own scratch buffers.
type Tokenizer struct {
	cfg  Config
	m    *model
	pool sync.Pool // of *workspace
}

func newTokenizer(cfg Config, m *model) *Tokenizer {
	t := &Tokenizer{cfg: cfg, m: m}
	t.pool.New = func() any { return &workspace{} }
	return t
}

func (t *Tokenizer) workspace() *workspace { return t.pool.Get().(*workspace) }
func (t *Tokenizer) release(ws *workspace) { t.pool.Put(ws) }

// Config returns a copy of the tokenizer's configuration.
func (t *Tokenizer) Config() Config { return t.cfg.clone() }

// TokensPerImage is the number of ids one image becomes (256 for the
// released model).
func (t *Tokenizer) TokensPerImage() int { return t.cfg.TokensPerImage() }

// GridSize is the side of the square latent grid (16 for the released
// model): id index = GridSize·row + col.
func (t *Tokenizer) GridSize() int { return t.cfg.GridSize() }

// CodebookSize is K, the number of codes; ids are in [0, K).
func (t *Tokenizer) CodebookSize() int { return t.cfg.NumEmbeddings }

// EmbedDim is E, the length of a codebook vector (channels of the latent).
func (t *Tokenizer) EmbedDim() int { return t.cfg.QuantizedEmbedDim }

// Resolution is the side of the square images the model encodes and
// decodes; Encode resizes every image to it.
func (t *Tokenizer) Resolution() int { return t.cfg.Resolution }

// Encode turns one image into TokensPerImage codebook ids, row-major over the
// latent grid (index = GridSize·row + col). The image is converted to RGB
// and squashed to Resolution×Resolution with Pillow's bicubic resize (see
// Preprocess). A nil or empty image is an error.
func (t *Tokenizer) Encode(img image.Image) ([]int, error) {
	if err := t.needRGB("Encode"); err != nil {
		return nil, err
	}
	pix, err := Preprocess(img, t.cfg.Resolution)
	if err != nil {
		return nil, err
	}
	ws := t.workspace()
	defer t.release(ws)
	R := t.cfg.Resolution
	z := t.m.latent(ws, pix, 3, R, R)
	defer ws.put(z.d)
	ids := make([]int, z.pixels())
	t.m.quantize(ws, z.d, z.pixels(), z.c, ids, nil)
	return ids, nil
}

// EncodeBatch encodes each image as Encode does; out[i] belongs to imgs[i].
// The error names the index of the first image that fails.
func (t *Tokenizer) EncodeBatch(imgs []image.Image) ([][]int, error) {
	out := make([][]int, len(imgs))
	for i, img := range imgs {
		ids, err := t.Encode(img)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		out[i] = ids
	}
	return out, nil
}

// Decode turns TokensPerImage ids (row-major over the latent grid) into a
// Resolution×Resolution RGB image (an *image.NRGBA): decoder output clamped to
// [0,1], times 255, truncated. A wrong number of ids or an id outside
// [0, CodebookSize) is an error naming it.
func (t *Tokenizer) Decode(ids []int) (image.Image, error) {
	if err := t.needRGB("Decode"); err != nil {
		return nil, err
	}
	pix, err := t.DecodePixels(ids)
	if err != nil {
		return nil, err
	}
	R := t.cfg.Resolution
	return PixelsToImage(pix, R, R)
}

// DecodeBatch decodes each id list as Decode does. The error names the
// index of the first list that fails.
func (t *Tokenizer) DecodeBatch(ids [][]int) ([]image.Image, error) {
	out := make([]image.Image, len(ids))
	for i, x := range ids {
		img, err := t.Decode(x)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		out[i] = img
	}
	return out, nil
}

// EncodePixels encodes one image given as CHW float32 pixels [C, h, w]
// (C = num_channels, values nominally in [0,1], as Preprocess makes them).
// h and w must be positive multiples of the downsampling factor; the result
// has (h/f)·(w/f) ids, row-major. pix is only read.
func (t *Tokenizer) EncodePixels(pix []float32, h, w int) ([]int, error) {
	if err := t.checkPixels(pix, h, w, ""); err != nil {
		return nil, err
	}
	ws := t.workspace()
	defer t.release(ws)
	z := t.m.latent(ws, pix, t.cfg.NumChannels, h, w)
	defer ws.put(z.d)
	ids := make([]int, z.pixels())
	t.m.quantize(ws, z.d, z.pixels(), z.c, ids, nil)
	return ids, nil
}

// DecodePixels decodes TokensPerImage ids into the decoder's raw output: a
// new CHW slice [C, R, R] (C = num_channels, R = Resolution), not clamped.
func (t *Tokenizer) DecodePixels(ids []int) ([]float32, error) {
	if err := t.checkCodes(ids, ""); err != nil {
		return nil, err
	}
	ws := t.workspace()
	defer t.release(ws)
	g, E := t.cfg.GridSize(), t.cfg.QuantizedEmbedDim
	z := newAct(ws, g, g, E)
	t.m.lookup(z.d, ids, E)
	out := t.m.decodeLatent(ws, z)
	ws.put(z.d)
	pix := make([]float32, len(out.d))
	hwcToCHW(pix, out.d, out.c, out.pixels())
	ws.put(out.d)
	return pix, nil
}

// needRGB rejects image-level calls on models whose images are not RGB.
func (t *Tokenizer) needRGB(op string) error {
	if t.cfg.NumChannels != 3 {
		return fmt.Errorf("tokenizer: %s works on RGB images but the model has num_channels = %d; use the tensor or pixel methods", op, t.cfg.NumChannels)
	}
	return nil
}

// checkPixels validates a CHW pixel slice for the encoder.
func (t *Tokenizer) checkPixels(pix []float32, h, w int, where string) error {
	C, f := t.cfg.NumChannels, t.cfg.Factor()
	if h <= 0 || w <= 0 || h%f != 0 || w%f != 0 || h > maxResolution || w > maxResolution {
		return fmt.Errorf("tokenizer: %spixel size %d×%d: height and width must be positive multiples of the downsampling factor %d, at most %d", where, h, w, f, maxResolution)
	}
	if len(pix) != C*h*w {
		return fmt.Errorf("tokenizer: %sgot %d pixel values, want %d×%d×%d = %d", where, len(pix), C, h, w, C*h*w)
	}
	for i, v := range pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			c, r := i/(h*w), i%(h*w)
			return fmt.Errorf("tokenizer: %spixel (channel %d, row %d, col %d) is %v", where, c, r/w, r%w, v)
		}
	}
	return nil
}

// checkCodes validates one image's ids against the grid and the codebook.
func (t *Tokenizer) checkCodes(ids []int, where string) error {
	T, g, K := t.cfg.TokensPerImage(), t.cfg.GridSize(), t.cfg.NumEmbeddings
	if len(ids) != T {
		return fmt.Errorf("tokenizer: %sgot %d tokens, want %d (a %d×%d grid)", where, len(ids), T, g, g)
	}
	for p, id := range ids {
		if id < 0 || id >= K {
			return fmt.Errorf("tokenizer: %stoken id %d at position %d (row %d, col %d) is outside the codebook [0, %d)", where, id, p, p/g, p%g, K)
		}
	}
	return nil
}
