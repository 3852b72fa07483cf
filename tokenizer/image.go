package tokenizer

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"reflect"
)

// maxImagePixels bounds the images rgbBytes accepts (w·h), so that the RGB
// buffer size cannot overflow and a corrupt header cannot ask for absurd
// amounts of memory: 2^28 pixels is a 16384×16384 image.
const maxImagePixels = 1 << 28

// maxPreprocessSide bounds the square side Preprocess accepts.
const maxPreprocessSide = 1 << 14

// unitScale[v] is float32(v)/255, the exact value torch computes for
// `tensor(uint8).float() / 255`.
var unitScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// rgbBytes returns img as interleaved 8-bit RGB (3 bytes per pixel, rows top
// to bottom, pix[3·(y·w+x)+c]), reproducing what Pillow's
// `Image.open(f).convert('RGB')` gives for the PNG file that Go's image/png
// decoded into img. The returned slice is newly allocated and owned by the
// caller; w and h are img.Bounds().Dx() and Dy().
//
// Per decoded type (the PNG colour type that produces it in parentheses):
//   - *image.RGBA (8-bit RGB), *image.NRGBA (8-bit RGBA, gray+alpha, or any
//     colour type with a tRNS key), *image.Gray (1/2/4/8-bit gray): the
//     colour channels, alpha dropped without compositing, as Pillow does. A
//     premultiplied *image.RGBA with alpha < 255 (not produced by image/png)
//     is un-premultiplied first, since Pillow images are never premultiplied.
//   - *image.RGBA64 (16-bit RGB) and *image.NRGBA64 (16-bit RGBA and
//     gray+alpha): the high byte of each 16-bit sample (Pillow's "RGB;16B"
//     and "LA;16B"/"RGBA;16B" unpackers keep the most significant byte).
//   - *image.Gray16 (16-bit gray): min(v, 255). Pillow opens such files as
//     mode "I" (or "I;16" in newer versions) and convert('RGB') clips the
//     16-bit value to 0..255 instead of scaling it, so most 16-bit gray
//     images come out almost white; this is reproduced on purpose.
//   - *image.Paletted (1/2/4/8-bit palette, with or without tRNS): the
//     palette's colour, alpha dropped; an index past the end of the palette
//     gives black.
//   - *image.YCbCr and *image.NYCbCrA (JPEG), *image.CMYK: Go's own colour
//     conversion (color.YCbCrToRGB, color.CMYKToRGB). This cannot be
//     bit-exact with Pillow, whose libjpeg decoder upsamples chroma and
//     rounds differently; expect differences of a few levels.
//   - anything else: color.NRGBAModel applied to img.At, with color.NRGBA64
//     and color.Gray16 values treated as above.
//
// One case cannot be told apart after decoding: a 16-bit gray PNG with a
// tRNS key decodes to *image.NRGBA64 like 16-bit gray+alpha, so it gets the
// high byte here while Pillow (mode "I") would clip.
//
// rgbBytes returns an error, never panics, for a nil image (including a typed
// nil pointer), a zero-size image, or one with more than 2^28 pixels.
func rgbBytes(img image.Image) (pix []uint8, w, h int, err error) {
	if img == nil {
		return nil, 0, 0, errors.New("tokenizer: image is nil")
	}
	if v := reflect.ValueOf(img); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, 0, 0, fmt.Errorf("tokenizer: image is a nil %T", img)
	}
	r := img.Bounds()
	w, h = r.Dx(), r.Dy()
	if w <= 0 || h <= 0 {
		return nil, 0, 0, fmt.Errorf("tokenizer: %T has zero size (%dx%d, bounds %v)", img, w, h, r)
	}
	if int64(w)*int64(h) > maxImagePixels {
		return nil, 0, 0, fmt.Errorf("tokenizer: %T of %dx%d is too large (more than %d pixels)", img, w, h, maxImagePixels)
	}
	if err := checkLayout(img, w, h); err != nil {
		return nil, 0, 0, err
	}
	pix = make([]uint8, 3*w*h)
	out := pix
	switch m := img.(type) {
	case *image.NRGBA:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:4*w]
			for i := 0; i < w; i++ {
				out[3*i], out[3*i+1], out[3*i+2] = row[4*i], row[4*i+1], row[4*i+2]
			}
			out = out[3*w:]
		}
	case *image.RGBA:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:4*w]
			for i := 0; i < w; i++ {
				p := row[4*i : 4*i+4 : 4*i+4]
				if a := p[3]; a == 0xff {
					out[3*i], out[3*i+1], out[3*i+2] = p[0], p[1], p[2]
				} else {
					a16 := uint32(a) * 0x101
					out[3*i] = unpremul16(uint32(p[0])*0x101, a16)
					out[3*i+1] = unpremul16(uint32(p[1])*0x101, a16)
					out[3*i+2] = unpremul16(uint32(p[2])*0x101, a16)
				}
			}
			out = out[3*w:]
		}
	case *image.NRGBA64:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:8*w]
			for i := 0; i < w; i++ {
				// Big-endian samples: the high byte comes first.
				out[3*i], out[3*i+1], out[3*i+2] = row[8*i], row[8*i+2], row[8*i+4]
			}
			out = out[3*w:]
		}
	case *image.RGBA64:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:8*w]
			for i := 0; i < w; i++ {
				p := row[8*i : 8*i+8 : 8*i+8]
				if p[6] == 0xff && p[7] == 0xff {
					out[3*i], out[3*i+1], out[3*i+2] = p[0], p[2], p[4]
				} else {
					a := uint32(p[6])<<8 | uint32(p[7])
					out[3*i] = unpremul16(uint32(p[0])<<8|uint32(p[1]), a)
					out[3*i+1] = unpremul16(uint32(p[2])<<8|uint32(p[3]), a)
					out[3*i+2] = unpremul16(uint32(p[4])<<8|uint32(p[5]), a)
				}
			}
			out = out[3*w:]
		}
	case *image.Gray:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:w]
			for i, v := range row {
				out[3*i], out[3*i+1], out[3*i+2] = v, v, v
			}
			out = out[3*w:]
		}
	case *image.Gray16:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:2*w]
			for i := 0; i < w; i++ {
				v := clipGray16(uint32(row[2*i])<<8 | uint32(row[2*i+1]))
				out[3*i], out[3*i+1], out[3*i+2] = v, v, v
			}
			out = out[3*w:]
		}
	case *image.Paletted:
		var lut [256][3]uint8 // entries past the palette stay black
		for i, c := range m.Palette {
			if i >= len(lut) {
				break
			}
			if c == nil {
				continue
			}
			lut[i] = rgbOf(c)
		}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:w]
			for i, idx := range row {
				p := &lut[idx]
				out[3*i], out[3*i+1], out[3*i+2] = p[0], p[1], p[2]
			}
			out = out[3*w:]
		}
	case *image.YCbCr:
		ycbcrRows(out, m, r)
	case *image.NYCbCrA:
		ycbcrRows(out, &m.YCbCr, r)
	case *image.CMYK:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:4*w]
			for i := 0; i < w; i++ {
				out[3*i], out[3*i+1], out[3*i+2] = color.CMYKToRGB(row[4*i], row[4*i+1], row[4*i+2], row[4*i+3])
			}
			out = out[3*w:]
		}
	default:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := img.At(x, y)
				if c == nil {
					return nil, 0, 0, fmt.Errorf("tokenizer: %T returned a nil colour at (%d,%d)", img, x, y)
				}
				p := rgbOf(c)
				out[0], out[1], out[2] = p[0], p[1], p[2]
				out = out[3:]
			}
		}
	}
	return pix, w, h, nil
}

// checkLayout reports an error when an image type rgbBytes reads directly
// has a pixel buffer that does not cover its w×h bounds (a hand-built image
// with a short Pix or a negative stride), instead of letting the fast paths
// index out of range.
func checkLayout(img image.Image, w, h int) error {
	fits := func(n, stride, bpp int) bool {
		return stride >= 0 && (h-1)*stride+bpp*w <= n
	}
	ok := true
	switch m := img.(type) {
	case *image.NRGBA:
		ok = fits(len(m.Pix), m.Stride, 4)
	case *image.RGBA:
		ok = fits(len(m.Pix), m.Stride, 4)
	case *image.CMYK:
		ok = fits(len(m.Pix), m.Stride, 4)
	case *image.NRGBA64:
		ok = fits(len(m.Pix), m.Stride, 8)
	case *image.RGBA64:
		ok = fits(len(m.Pix), m.Stride, 8)
	case *image.Gray:
		ok = fits(len(m.Pix), m.Stride, 1)
	case *image.Gray16:
		ok = fits(len(m.Pix), m.Stride, 2)
	case *image.Paletted:
		ok = fits(len(m.Pix), m.Stride, 1)
	case *image.YCbCr:
		ok = ycbcrFits(m)
	case *image.NYCbCrA:
		ok = ycbcrFits(&m.YCbCr)
	}
	if !ok {
		return fmt.Errorf("tokenizer: %T of %dx%d has an inconsistent pixel buffer (too short for its bounds and stride)", img, w, h)
	}
	return nil
}

// ycbcrFits reports whether m's planes cover its bounds.
func ycbcrFits(m *image.YCbCr) bool {
	r := m.Rect
	if m.YStride < 0 || m.CStride < 0 || r.Empty() {
		return false
	}
	last := image.Pt(r.Max.X-1, r.Max.Y-1)
	if m.YOffset(r.Min.X, r.Min.Y) < 0 || m.COffset(r.Min.X, r.Min.Y) < 0 {
		return false
	}
	c := m.COffset(last.X, last.Y)
	return m.YOffset(last.X, last.Y) < len(m.Y) && c < len(m.Cb) && c < len(m.Cr)
}

// ycbcrRows converts the rectangle r of m to interleaved RGB in out with Go's
// JFIF conversion (color.YCbCrToRGB), honouring m's chroma subsampling.
func ycbcrRows(out []uint8, m *image.YCbCr, r image.Rectangle) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			out[0], out[1], out[2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			out = out[3:]
		}
	}
}

// rgbOf maps one colour to Pillow's RGB for it: the non-premultiplied colour
// with alpha dropped, 16-bit channels reduced to their high byte, 16-bit
// gray clipped to 255, YCbCr and CMYK through Go's 8-bit conversions (see
// rgbBytes).
func rgbOf(c color.Color) [3]uint8 {
	switch v := c.(type) {
	case color.NRGBA:
		return [3]uint8{v.R, v.G, v.B}
	case color.RGBA:
		if v.A == 0xff {
			return [3]uint8{v.R, v.G, v.B}
		}
		a := uint32(v.A) * 0x101
		return [3]uint8{unpremul16(uint32(v.R)*0x101, a), unpremul16(uint32(v.G)*0x101, a), unpremul16(uint32(v.B)*0x101, a)}
	case color.NRGBA64:
		return [3]uint8{uint8(v.R >> 8), uint8(v.G >> 8), uint8(v.B >> 8)}
	case color.Gray:
		return [3]uint8{v.Y, v.Y, v.Y}
	case color.Gray16:
		g := clipGray16(uint32(v.Y))
		return [3]uint8{g, g, g}
	case color.YCbCr:
		r, g, b := color.YCbCrToRGB(v.Y, v.Cb, v.Cr)
		return [3]uint8{r, g, b}
	case color.NYCbCrA:
		r, g, b := color.YCbCrToRGB(v.Y, v.Cb, v.Cr)
		return [3]uint8{r, g, b}
	case color.CMYK:
		r, g, b := color.CMYKToRGB(v.C, v.M, v.Y, v.K)
		return [3]uint8{r, g, b}
	}
	r, g, b, a := c.RGBA()
	if a == 0xffff {
		return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
	}
	return [3]uint8{unpremul16(r, a), unpremul16(g, a), unpremul16(b, a)}
}

// unpremul16 un-premultiplies a 16-bit colour channel v by the 16-bit alpha a
// the way color.NRGBAModel does and returns the high byte; alpha 0 gives 0
// and invalid input (v > a) saturates at 255.
func unpremul16(v, a uint32) uint8 {
	if a == 0 {
		return 0
	}
	n := v * 0xffff / a
	if n > 0xffff {
		return 0xff
	}
	return uint8(n >> 8)
}

// clipGray16 is Pillow's I;16 → RGB conversion of one sample: clip to 255.
func clipGray16(v uint32) uint8 {
	if v > 0xff {
		return 0xff
	}
	return uint8(v)
}

// Preprocess turns img into the VQGAN's input: Pillow's
// `img.convert('RGB').resize((resolution, resolution))` (bicubic, aspect
// ratio squashed, no crop; see rgbBytes and resizeBicubic), then each byte v
// becomes float32(v)/255. The result is a new CHW slice of 3·R·R float32
// values in [0,1]: channel c, row y, column x at index (c·R+y)·R+x.
//
// It returns an error naming the problem for a nil or zero-size image or a
// resolution outside 1..16384.
func Preprocess(img image.Image, resolution int) ([]float32, error) {
	if resolution <= 0 || resolution > maxPreprocessSide {
		return nil, fmt.Errorf("tokenizer: resolution %d out of range 1..%d", resolution, maxPreprocessSide)
	}
	pix, w, h, err := rgbBytes(img)
	if err != nil {
		return nil, err
	}
	pix = resizeBicubic(pix, w, h, resolution, resolution)
	n := resolution * resolution
	out := make([]float32, 3*n)
	r, g, b := out[:n], out[n:2*n], out[2*n:]
	for i := range n {
		p := pix[3*i : 3*i+3 : 3*i+3]
		r[i], g[i], b[i] = unitScale[p[0]], unitScale[p[1]], unitScale[p[2]]
	}
	return out, nil
}

// PixelsToImage turns a decoder output back into an image the way the
// official code does: `(x.clamp(0,1)*255).to(uint8)`, i.e. clamp to [0,1],
// multiply by 255 in float32 and truncate toward zero (not round). NaN gives
// 0. chw is read-only, laid out as [3,h,w] (channel c, row y, column x at
// index (c·h+y)·w+x); the result is a new opaque h×w *image.NRGBA.
//
// It returns an error for non-positive or too large h or w, or when
// len(chw) != 3·h·w.
func PixelsToImage(chw []float32, h, w int) (*image.NRGBA, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("tokenizer: PixelsToImage: invalid size %dx%d (h×w must be positive)", h, w)
	}
	if int64(h)*int64(w) > maxImagePixels {
		return nil, fmt.Errorf("tokenizer: PixelsToImage: size %dx%d too large", h, w)
	}
	n := h * w
	if len(chw) != 3*n {
		return nil, fmt.Errorf("tokenizer: PixelsToImage: got %d values, want 3×%d×%d = %d", len(chw), h, w, 3*n)
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r, g, b := chw[:n], chw[n:2*n], chw[2*n:]
	pix := img.Pix // stride is exactly 4·w for a fresh image
	for i := range n {
		p := pix[4*i : 4*i+4 : 4*i+4]
		p[0], p[1], p[2], p[3] = unitToByte(r[i]), unitToByte(g[i]), unitToByte(b[i]), 0xff
	}
	return img, nil
}

// unitToByte is torch's uint8((clamp(x,0,1)*255)) on float32, with NaN → 0.
func unitToByte(x float32) uint8 {
	if !(x > 0) { // also NaN
		return 0
	}
	if x >= 1 {
		return 0xff
	}
	return uint8(float32(x * 255))
}
