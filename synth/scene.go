package synth

import (
	"errors"
	"fmt"
	"image/color"
	"math"
)

// Shape is the outline of an object.
type Shape uint8

// The shapes. Each is defined in the object's own frame, scaled by
// Object.Size and turned by Object.Angle; see Object.Radius for the radius
// of the circle each one fits in.
const (
	Disc     Shape = iota // a filled circle of radius Size
	Square                // a filled square of half-side 0.85·Size
	Triangle              // an equilateral triangle of circumradius 1.2·Size, apex up at Angle 0
	Ring                  // an annulus of radii 0.5·Size and Size
	Cross                 // a plus sign: two bars of half-length Size and half-width 0.4·Size
	Diamond               // a square of half-diagonal 1.1·Size standing on a corner
	numShapes
)

var shapeNames = [numShapes]string{"disc", "square", "triangle", "ring", "cross", "diamond"}

// shapeExtent is each shape's circumradius in units of Size.
var shapeExtent = [numShapes]float64{1, 0.85 * math.Sqrt2, 1.2, 1, math.Sqrt(1 + 0.4*0.4), 1.1}

// Shapes returns every shape, in order.
func Shapes() []Shape {
	out := make([]Shape, numShapes)
	for i := range out {
		out[i] = Shape(i)
	}
	return out
}

func (s Shape) String() string {
	if s < numShapes {
		return shapeNames[s]
	}
	return fmt.Sprintf("Shape(%d)", uint8(s))
}

// RotationInvariant reports whether turning the shape leaves it unchanged
// (the disc and the ring).
func (s Shape) RotationInvariant() bool { return s == Disc || s == Ring }

// Object is one filled shape of one colour.
type Object struct {
	Shape  Shape
	Colour color.NRGBA // drawn opaque: alpha is ignored
	X, Y   float64     // centre in pixels; (0, 0) is the top-left corner of the image
	Size   float64     // scale in pixels (the radius of a disc), > 0
	Angle  float64     // rotation in radians, clockwise on screen
}

// Radius is the radius of the smallest circle about (X, Y) that holds the
// object at any Angle: an object with Radius() ≤ X ≤ side − Radius() (and
// the same for Y) lies wholly inside the image.
func (o Object) Radius() float64 {
	if o.Shape >= numShapes {
		return 0
	}
	return float64(o.Size * shapeExtent[o.Shape])
}

// Layout is how a background is divided between its two colours.
type Layout uint8

// The layouts: A covers the part named first.
const (
	Plain      Layout = iota // A everywhere
	Vertical                 // A left of x = At·side, B right of it
	Horizontal               // A above y = At·side, B below it
	Diagonal                 // A above the line x + y = 2·At·side, B below it
	numLayouts
)

var layoutNames = [numLayouts]string{"plain", "vertical", "horizontal", "diagonal"}

func (l Layout) String() string {
	if l < numLayouts {
		return layoutNames[l]
	}
	return fmt.Sprintf("Layout(%d)", uint8(l))
}

// Background is a plain or two-tone background.
type Background struct {
	A, B   color.NRGBA // drawn opaque; B is unused when Layout is Plain
	Layout Layout
	At     float64 // where the colours meet, as a fraction of the side in (0, 1); 0 means 0.5
}

// colourAt returns the background colour of pixel (x, y) of a side×side
// image, sampled at the pixel's centre.
func (b Background) colourAt(x, y, side int) color.NRGBA {
	at := b.At
	if at == 0 {
		at = 0.5
	}
	u := (float64(x) + 0.5) / float64(side)
	v := (float64(y) + 0.5) / float64(side)
	var inA bool
	switch b.Layout {
	case Vertical:
		inA = u < at
	case Horizontal:
		inA = v < at
	case Diagonal:
		inA = u+v < 2*at
	default:
		inA = true
	}
	if inA {
		return opaque(b.A)
	}
	return opaque(b.B)
}

// MaxSide is the largest image side Render accepts.
const MaxSide = 4096

// Scene is a square image described by its parts: a background and objects
// painted over it in order (later objects cover earlier ones).
type Scene struct {
	Side       int // width and height in pixels, 1..MaxSide
	Background Background
	Objects    []Object
}

// Validate reports whether the scene can be rendered: a side in 1..MaxSide,
// known shapes and layout, finite coordinates and angles, positive finite
// sizes, At in [0, 1), and at most 32767 objects.
func (s Scene) Validate() error {
	if s.Side < 1 || s.Side > MaxSide {
		return fmt.Errorf("synth: scene side %d, want 1..%d", s.Side, MaxSide)
	}
	if s.Background.Layout >= numLayouts {
		return fmt.Errorf("synth: unknown background layout %d", s.Background.Layout)
	}
	if at := s.Background.At; !(at >= 0 && at < 1) {
		return fmt.Errorf("synth: background At %v, want [0, 1)", at)
	}
	if len(s.Objects) > math.MaxInt16 {
		return fmt.Errorf("synth: %d objects, at most %d", len(s.Objects), math.MaxInt16)
	}
	for i, o := range s.Objects {
		if o.Shape >= numShapes {
			return fmt.Errorf("synth: object %d: unknown shape %d", i, o.Shape)
		}
		if !finite(o.X) || !finite(o.Y) || !finite(o.Angle) {
			return fmt.Errorf("synth: object %d: centre (%v, %v) and angle %v must be finite", i, o.X, o.Y, o.Angle)
		}
		if !(o.Size > 0) || math.IsInf(o.Size, 1) {
			return fmt.Errorf("synth: object %d: size %v, want positive and finite", i, o.Size)
		}
	}
	return nil
}

// Clone returns a copy that shares nothing with s.
func (s Scene) Clone() Scene {
	s.Objects = append([]Object(nil), s.Objects...)
	return s
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func opaque(c color.NRGBA) color.NRGBA {
	c.A = 255
	return c
}

type namedColour struct {
	name string
	c    color.NRGBA
}

// objectColours are eight saturated colours, far from each other and from
// every background colour.
var objectColours = [...]namedColour{
	{"red", color.NRGBA{225, 35, 35, 255}},
	{"orange", color.NRGBA{250, 140, 20, 255}},
	{"yellow", color.NRGBA{245, 225, 30, 255}},
	{"green", color.NRGBA{40, 175, 60, 255}},
	{"cyan", color.NRGBA{30, 205, 215, 255}},
	{"blue", color.NRGBA{45, 85, 230, 255}},
	{"purple", color.NRGBA{165, 50, 205, 255}},
	{"pink", color.NRGBA{250, 135, 190, 255}},
}

// backgroundColours are six muted colours, dark and light.
var backgroundColours = [...]namedColour{
	{"black", color.NRGBA{0, 0, 0, 255}},
	{"charcoal", color.NRGBA{70, 70, 70, 255}},
	{"silver", color.NRGBA{185, 185, 185, 255}},
	{"navy", color.NRGBA{20, 30, 85, 255}},
	{"brown", color.NRGBA{95, 60, 30, 255}},
	{"beige", color.NRGBA{235, 225, 200, 255}},
}

// Palette returns the eight object colours the Generator draws from.
func Palette() []color.NRGBA {
	out := make([]color.NRGBA, len(objectColours))
	for i, nc := range objectColours {
		out[i] = nc.c
	}
	return out
}

// BackgroundPalette returns the six background colours the Generator
// draws from; none is in Palette.
func BackgroundPalette() []color.NRGBA {
	out := make([]color.NRGBA, len(backgroundColours))
	for i, nc := range backgroundColours {
		out[i] = nc.c
	}
	return out
}

// ColourName names a colour of either palette ("red", "navy"), or returns
// "#rrggbb" for any other; alpha is ignored.
func ColourName(c color.NRGBA) string {
	c = opaque(c)
	for _, nc := range objectColours {
		if nc.c == c {
			return nc.name
		}
	}
	for _, nc := range backgroundColours {
		if nc.c == c {
			return nc.name
		}
	}
	return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
}

var errNilFrame = errors.New("synth: nil frame")
