package synth

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
)

// Frame is a rendered scene in layers, so that tasks can be chained exactly:
// what the image shows, the same view without its objects, and which
// object covers each pixel. Tasks transform all three together (a flip
// flips them all, a shift moves objects over the background, a mask
// blackens the background).
type Frame struct {
	Image      *image.NRGBA // side×side, origin (0, 0), opaque
	Background *image.NRGBA // side×side: Image as it would be with no objects
	Labels     []int16      // side·side, row-major: index in Scene.Objects of the object shown at the pixel, −1 for background
}

// Side returns the frame's width and height in pixels.
func (f *Frame) Side() int { return f.Image.Rect.Dx() }

// Clone returns a deep copy.
func (f *Frame) Clone() *Frame {
	return &Frame{
		Image:      cloneNRGBA(f.Image),
		Background: cloneNRGBA(f.Background),
		Labels:     append([]int16(nil), f.Labels...),
	}
}

// check reports whether f is a well-formed frame: square images of one
// size at the origin with tight strides, and labels to match.
func (f *Frame) check() error {
	if f == nil || f.Image == nil || f.Background == nil {
		return errNilFrame
	}
	n := f.Image.Rect.Dx()
	for _, im := range []*image.NRGBA{f.Image, f.Background} {
		if im.Rect != image.Rect(0, 0, n, n) || im.Stride != 4*n || len(im.Pix) < 4*n*n {
			return fmt.Errorf("synth: frame images must be %d×%d at the origin with stride %d, got %v stride %d", n, n, 4*n, im.Rect, im.Stride)
		}
	}
	if len(f.Labels) != n*n {
		return fmt.Errorf("synth: frame has %d labels for a %d×%d image", len(f.Labels), n, n)
	}
	return nil
}

// placed is an object ready for point tests: the pixel offset from its
// centre, turned by −Angle and divided by Size, lands in the shape's unit
// frame.
type placed struct {
	shape          Shape
	x, y, cos, sin float64
	inv            float64
	bx0, by0       int // bounding box in pixels: [bx0, bx1) × [by0, by1)
	bx1, by1       int
}

func place(o Object, side int) placed {
	r := float64(o.Radius()) + 1
	clampi := func(v float64) int {
		if v < 0 {
			return 0
		}
		if v > float64(side) {
			return side
		}
		return int(v)
	}
	return placed{
		shape: o.Shape, x: o.X, y: o.Y,
		cos: math.Cos(o.Angle), sin: math.Sin(o.Angle), inv: 1 / o.Size,
		bx0: clampi(math.Floor(o.X - r)), bx1: clampi(math.Ceil(o.X + r)),
		by0: clampi(math.Floor(o.Y - r)), by1: clampi(math.Ceil(o.Y + r)),
	}
}

const sqrt3 = 1.7320508075688772

// covers reports whether the centre of pixel (px, py) lies in the object.
// No anti-aliasing: a pixel is the object's or not. The float64
// conversions round every product, so that no platform fuses a
// multiply-add and moves a pixel on an edge.
func (p *placed) covers(px, py int) bool {
	dx := float64(px) + 0.5 - p.x
	dy := float64(py) + 0.5 - p.y
	u := float64(float64(dx*p.cos)+float64(dy*p.sin)) * p.inv
	v := float64(float64(-dx*p.sin)+float64(dy*p.cos)) * p.inv
	switch p.shape {
	case Disc:
		return float64(u*u)+float64(v*v) <= 1
	case Square:
		return math.Abs(u) <= 0.85 && math.Abs(v) <= 0.85
	case Triangle:
		const r = 0.6 // inradius: half the circumradius 1.2
		a, b := float64(sqrt3/2*u), v/2
		return v <= r && a-b <= r && -a-b <= r
	case Ring:
		d := float64(u*u) + float64(v*v)
		return d <= 1 && d >= 0.25
	case Cross:
		au, av := math.Abs(u), math.Abs(v)
		return (au <= 0.4 && av <= 1) || (av <= 0.4 && au <= 1)
	case Diamond:
		return math.Abs(u)+math.Abs(v) <= 1.1
	}
	return false
}

// NewFrame renders s into its layers.
func NewFrame(s Scene) (*Frame, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	n := s.Side
	f := &Frame{
		Image:      image.NewNRGBA(image.Rect(0, 0, n, n)),
		Background: image.NewNRGBA(image.Rect(0, 0, n, n)),
		Labels:     make([]int16, n*n),
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			c := s.Background.colourAt(x, y, n)
			i := y*f.Background.Stride + 4*x
			copy(f.Background.Pix[i:i+4], []uint8{c.R, c.G, c.B, 255})
			f.Labels[y*n+x] = -1
		}
	}
	copy(f.Image.Pix, f.Background.Pix)
	for oi, o := range s.Objects {
		p := place(o, n)
		c := opaque(o.Colour)
		for y := p.by0; y < p.by1; y++ {
			for x := p.bx0; x < p.bx1; x++ {
				if p.covers(x, y) {
					setPix(f.Image, x, y, c)
					f.Labels[y*n+x] = int16(oi)
				}
			}
		}
	}
	return f, nil
}

// Render draws s: a Side×Side opaque image, origin (0, 0), hard edges.
func Render(s Scene) (*image.NRGBA, error) {
	f, err := NewFrame(s)
	if err != nil {
		return nil, err
	}
	return f.Image, nil
}

// Sheet lays images out in rows, each magnified scale times (nearest
// neighbour) in a cell the size of the largest image, with gap pixels of
// grey between cells: a contact sheet for looking at sentences. Rows may
// differ in length; scale < 1 counts as 1 and gap < 0 as 0.
func Sheet(rows [][]image.Image, scale, gap int) *image.NRGBA {
	scale = max(scale, 1)
	gap = max(gap, 0)
	cw, ch, ncols := 0, 0, 0
	for _, r := range rows {
		ncols = max(ncols, len(r))
		for _, im := range r {
			if im != nil {
				cw = max(cw, im.Bounds().Dx())
				ch = max(ch, im.Bounds().Dy())
			}
		}
	}
	cw, ch = cw*scale, ch*scale
	out := image.NewNRGBA(image.Rect(0, 0, gap+ncols*(cw+gap), gap+len(rows)*(ch+gap)))
	draw.Draw(out, out.Rect, image.NewUniform(color.NRGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	for ri, r := range rows {
		for ci, im := range r {
			if im == nil {
				continue
			}
			b := im.Bounds()
			ox, oy := gap+ci*(cw+gap), gap+ri*(ch+gap)
			for y := 0; y < b.Dy()*scale; y++ {
				for x := 0; x < b.Dx()*scale; x++ {
					out.Set(ox+x, oy+y, im.At(b.Min.X+x/scale, b.Min.Y+y/scale))
				}
			}
		}
	}
	return out
}

func setPix(im *image.NRGBA, x, y int, c color.NRGBA) {
	i := y*im.Stride + 4*x
	im.Pix[i], im.Pix[i+1], im.Pix[i+2], im.Pix[i+3] = c.R, c.G, c.B, 255
}

func cloneNRGBA(im *image.NRGBA) *image.NRGBA {
	out := *im
	out.Pix = append([]uint8(nil), im.Pix...)
	return &out
}
