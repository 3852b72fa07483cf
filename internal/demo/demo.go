// Package demo holds the small image helpers shared by cmd/lvm and the
// examples: the overview picture of a generation, and simple synthetic
// images so that every example runs without input files.
package demo

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
)

// CheckerWidth is the width in pixels of the strip between a prompt and its
// continuation in an overview.
const CheckerWidth = 16

// Overview lays out one row per candidate: the prompt images, a checker
// strip, then that candidate's generated images, every image scaled
// (nearest neighbour) to cell×cell. With no candidates it shows the prompt
// alone.
func Overview(prompt []image.Image, candidates [][]image.Image, cell int) *image.NRGBA {
	rows := len(candidates)
	if rows == 0 {
		rows = 1
	}
	maxGen := 0
	for _, c := range candidates {
		maxGen = max(maxGen, len(c))
	}
	w := len(prompt)*cell + CheckerWidth + maxGen*cell
	out := image.NewNRGBA(image.Rect(0, 0, w, rows*cell))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	for r := 0; r < rows; r++ {
		y := r * cell
		x := 0
		for _, img := range prompt {
			blit(out, img, x, y, cell)
			x += cell
		}
		checker(out, image.Rect(x, y, x+CheckerWidth, y+cell))
		x += CheckerWidth
		if r < len(candidates) {
			for _, img := range candidates[r] {
				blit(out, img, x, y, cell)
				x += cell
			}
		}
	}
	return out
}

func blit(dst *image.NRGBA, src image.Image, x0, y0, cell int) {
	b := src.Bounds()
	for y := 0; y < cell; y++ {
		sy := b.Min.Y + y*b.Dy()/cell
		for x := 0; x < cell; x++ {
			sx := b.Min.X + x*b.Dx()/cell
			dst.Set(x0+x, y0+y, src.At(sx, sy))
		}
	}
}

func checker(dst *image.NRGBA, r image.Rectangle) {
	const sq = 4
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBA{200, 200, 200, 255}
			if ((x-r.Min.X)/sq+(y-r.Min.Y)/sq)%2 == 0 {
				c = color.NRGBA{90, 90, 90, 255}
			}
			dst.SetNRGBA(x, y, c)
		}
	}
}

// Disc draws a size×size image of a filled disc of radius rad centred at
// (cx, cy) in fg on bg.
func Disc(size int, cx, cy, rad float64, fg, bg color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			c := bg
			if math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy) <= rad {
				c = fg
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// Square draws a size×size image of an axis-aligned filled square of side
// s with its top-left corner at (x0, y0) in fg on bg.
func Square(size, x0, y0, s int, fg, bg color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			c := bg
			if x >= x0 && x < x0+s && y >= y0 && y < y0+s {
				c = fg
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// FlipH returns img mirrored left to right.
func FlipH(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(b.Dx()-1-x, y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

// Gray returns img in grey levels (ITU-R 601 luma, as PIL's convert('L')).
func Gray(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			l := uint8((299*int(c.R) + 587*int(c.G) + 114*int(c.B) + 500) / 1000)
			out.SetNRGBA(x, y, color.NRGBA{l, l, l, 255})
		}
	}
	return out
}

// WritePNG encodes img into the file path.
func WritePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// CheckPNGs decodes each named PNG in dir, for the examples' tests.
func CheckPNGs(dir string, names ...string) error {
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		_, err = png.Decode(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
