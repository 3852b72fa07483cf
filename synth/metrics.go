package synth

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
)

// rgb returns the R, G, B bytes of im, row-major from its top-left pixel,
// as non-premultiplied colours (alpha is ignored).
func rgb(im image.Image) (w, h int, px []uint8) {
	b := im.Bounds()
	w, h = b.Dx(), b.Dy()
	px = make([]uint8, 0, 3*w*h)
	if n, ok := im.(*image.NRGBA); ok {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := n.Pix[n.PixOffset(b.Min.X, y):]
			for x := 0; x < w; x++ {
				px = append(px, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
		return w, h, px
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(im.At(x, y)).(color.NRGBA)
			px = append(px, c.R, c.G, c.B)
		}
	}
	return w, h, px
}

// pair returns the pixels of two images of one size.
func pair(a, b image.Image) (pa, pb []uint8, err error) {
	if a == nil || b == nil {
		return nil, nil, errors.New("synth: nil image")
	}
	wa, ha, pa := rgb(a)
	wb, hb, pb := rgb(b)
	if wa != wb || ha != hb {
		return nil, nil, fmt.Errorf("synth: images are %d×%d and %d×%d", wa, ha, wb, hb)
	}
	if wa == 0 || ha == 0 {
		return nil, nil, errors.New("synth: empty images")
	}
	return pa, pb, nil
}

// MSE returns the mean squared difference of a and b over every pixel and
// the R, G and B channels, each scaled to [0, 1]; alpha is ignored. The
// images must be of one size (their origins may differ).
func MSE(a, b image.Image) (float64, error) {
	pa, pb, err := pair(a, b)
	if err != nil {
		return 0, err
	}
	var sum int64
	for i := range pa {
		d := int64(pa[i]) - int64(pb[i])
		sum += d * d
	}
	return float64(sum) / (255 * 255) / float64(len(pa)), nil
}

// PSNR returns the peak signal-to-noise ratio of a against b in dB,
// 10·log10(1/MSE) with channels in [0, 1]: +Inf for identical images.
func PSNR(a, b image.Image) (float64, error) {
	mse, err := MSE(a, b)
	if err != nil {
		return 0, err
	}
	if mse == 0 {
		return math.Inf(1), nil
	}
	return -10 * math.Log10(mse), nil
}

// PixelAccuracy returns the fraction of pixels at which a and b differ by
// at most tol (0..255) in each of R, G and B.
func PixelAccuracy(a, b image.Image, tol int) (float64, error) {
	if tol < 0 || tol > 255 {
		return 0, fmt.Errorf("synth: pixel tolerance %d, want 0..255", tol)
	}
	pa, pb, err := pair(a, b)
	if err != nil {
		return 0, err
	}
	hits := 0
	for i := 0; i < len(pa); i += 3 {
		if abs(int(pa[i])-int(pb[i])) <= tol && abs(int(pa[i+1])-int(pb[i+1])) <= tol && abs(int(pa[i+2])-int(pb[i+2])) <= tol {
			hits++
		}
	}
	return float64(hits) / float64(len(pa)/3), nil
}

// MaskIoU binarises pred and truth (a pixel is foreground when its luma
// 0.299R + 0.587G + 0.114B, in [0, 1], is at least threshold) and returns
// the intersection over union of their foregrounds: 1 when both are empty.
// threshold is in [0, 1]; 0.5 suits the mask task's white-on-black masks.
func MaskIoU(pred, truth image.Image, threshold float64) (float64, error) {
	if !(threshold >= 0 && threshold <= 1) {
		return 0, fmt.Errorf("synth: mask threshold %v, want [0, 1]", threshold)
	}
	pa, pb, err := pair(pred, truth)
	if err != nil {
		return 0, err
	}
	fg := func(p []uint8) bool {
		return (0.299*float64(p[0])+0.587*float64(p[1])+0.114*float64(p[2]))/255 >= threshold
	}
	inter, union := 0, 0
	for i := 0; i < len(pa); i += 3 {
		a, b := fg(pa[i:i+3]), fg(pb[i:i+3])
		if a && b {
			inter++
		}
		if a || b {
			union++
		}
	}
	if union == 0 {
		return 1, nil
	}
	return float64(inter) / float64(union), nil
}

// CopyBaseline returns, for each answer of s, the last prompt image: the
// query x_q of an analogy or composite sentence, the last frame shown of a
// sequential one. It is the guess of a model that ignores the examples and
// copies its input. The images are s's own, not copies.
func CopyBaseline(s Sentence) ([]image.Image, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.Answer[0] == 0 {
		return nil, errors.New("synth: CopyBaseline of a sentence with no prompt")
	}
	out := make([]image.Image, len(s.Answer))
	for i := range out {
		out[i] = s.Images[s.Answer[0]-1]
	}
	return out, nil
}

// MeanBaseline returns, for each answer of s, the pixel-wise mean (rounded)
// of the example images in the answer's place: the mean of the example
// outputs f(x_i) of an analogy, of the f(x_i) and of the g(f(x_i)) of a
// composite, of every shown frame of a sequential sentence. It is the
// guess of a model that ignores the query. s needs at least one example,
// and its images one size.
func MeanBaseline(s Sentence) ([]image.Image, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	n := s.Examples()
	if n == 0 {
		return nil, errors.New("synth: MeanBaseline of a sentence with no examples")
	}
	out := make([]image.Image, len(s.Answer))
	for i, a := range s.Answer {
		pos := a % s.Group
		w, h, _ := rgb(s.Images[pos])
		sum := make([]int, 3*w*h)
		for e := 0; e < n; e++ {
			ew, eh, px := rgb(s.Images[e*s.Group+pos])
			if ew != w || eh != h {
				return nil, fmt.Errorf("synth: MeanBaseline: images are %d×%d and %d×%d", w, h, ew, eh)
			}
			for j, v := range px {
				sum[j] += int(v)
			}
		}
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for j := 0; j < w*h; j++ {
			for c := 0; c < 3; c++ {
				m.Pix[4*j+c] = uint8((sum[3*j+c] + n/2) / n)
			}
			m.Pix[4*j+3] = 255
		}
		out[i] = m
	}
	return out, nil
}
