// Package demo holds the helpers shared by cmd/lvm and the examples: the
// flags that choose a model (the embedded one by default), prompts drawn
// from the synth world, and the overview picture of a generation.
package demo

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
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
	_, err := PNGSizes(dir, names...)
	return err
}

// PNGSizes decodes each named PNG in dir and returns their sizes, for the
// examples' tests.
func PNGSizes(dir string, names ...string) ([]image.Point, error) {
	sizes := make([]image.Point, len(names))
	for i, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		sizes[i] = img.Bounds().Size()
	}
	return sizes, nil
}

// Cell is the overview cell size for images of side n: n times the
// smallest whole factor that makes it at least 128 pixels, so that small
// images stay sharp and visible.
func Cell(n int) int {
	if n <= 0 {
		return 128
	}
	return n * max(1, (128+n-1)/n)
}
