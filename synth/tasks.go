package synth

import (
	"fmt"
	"image"
	"image/color"
)

// TaskKind is an image-to-image function f of an analogy sentence.
type TaskKind uint8

// The tasks. Each maps a Frame to a Frame of the same side.
const (
	TaskMask      TaskKind = iota // objects white, everything else black
	TaskFlipH                     // mirror left–right (background included)
	TaskFlipV                     // mirror top–bottom (background included)
	TaskRecolour                  // every object painted Task.Colour
	TaskInvert                    // each channel c → 255 − c
	TaskGrayscale                 // R = G = B = round(0.299R + 0.587G + 0.114B)
	TaskOutline                   // objects reduced to their edges, interiors show the background
	TaskShift                     // objects moved by (Task.DX, Task.DY) over the unmoved background
	numTaskKinds
)

var taskNames = [numTaskKinds]string{"mask", "hflip", "vflip", "recolour", "invert", "grayscale", "outline", "shift"}

// TaskKinds returns every task kind, in order.
func TaskKinds() []TaskKind {
	out := make([]TaskKind, numTaskKinds)
	for i := range out {
		out[i] = TaskKind(i)
	}
	return out
}

// String returns the kind's name: mask, hflip, vflip, recolour, invert,
// grayscale, outline or shift.
func (k TaskKind) String() string {
	if k < numTaskKinds {
		return taskNames[k]
	}
	return fmt.Sprintf("TaskKind(%d)", uint8(k))
}

// ParseTaskKind returns the kind named name (as String writes it).
func ParseTaskKind(name string) (TaskKind, error) {
	for i, n := range taskNames {
		if n == name {
			return TaskKind(i), nil
		}
	}
	return 0, fmt.Errorf("synth: unknown task %q", name)
}

// Task is one instance of a task kind: its parameters are the same for
// every pair of a sentence.
type Task struct {
	Kind   TaskKind
	Colour color.NRGBA // TaskRecolour: the objects' new colour (drawn opaque)
	DX, DY int         // TaskShift: the move in pixels, +x right, +y down
}

// Name returns the kind's name.
func (t Task) Name() string { return t.Kind.String() }

// String returns the name with the instance's parameters, such as
// "recolour(red)" or "shift(+2,-1)".
func (t Task) String() string {
	switch t.Kind {
	case TaskRecolour:
		return fmt.Sprintf("recolour(%s)", ColourName(t.Colour))
	case TaskShift:
		return fmt.Sprintf("shift(%+d,%+d)", t.DX, t.DY)
	}
	return t.Name()
}

// outlineWidth is the thickness of TaskOutline's edges in pixels: 1 up to
// 63×63, one more per further 32 pixels of side.
func outlineWidth(side int) int { return max(1, side/32) }

// Apply returns t(f) as a new frame; f is not changed.
//
// Labels follow the objects: the mask keeps them, outline drops the
// interior pixels it hands back to the background, flips and shifts move
// them. So a chain such as outline then mask gives white edges on black.
func (t Task) Apply(f *Frame) (*Frame, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	n := f.Side()
	out := f.Clone()
	switch t.Kind {
	case TaskMask:
		for i, l := range f.Labels {
			v := uint8(0)
			if l >= 0 {
				v = 255
			}
			copy(out.Image.Pix[4*i:4*i+4], []uint8{v, v, v, 255})
			copy(out.Background.Pix[4*i:4*i+4], []uint8{0, 0, 0, 255})
		}
	case TaskFlipH, TaskFlipV:
		h := t.Kind == TaskFlipH
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				sx, sy := x, y
				if h {
					sx = n - 1 - x
				} else {
					sy = n - 1 - y
				}
				d, s := y*n+x, sy*n+sx
				copy(out.Image.Pix[4*d:4*d+4], f.Image.Pix[4*s:4*s+4])
				copy(out.Background.Pix[4*d:4*d+4], f.Background.Pix[4*s:4*s+4])
				out.Labels[d] = f.Labels[s]
			}
		}
	case TaskRecolour:
		c := opaque(t.Colour)
		for i, l := range f.Labels {
			if l >= 0 {
				copy(out.Image.Pix[4*i:4*i+4], []uint8{c.R, c.G, c.B, 255})
			}
		}
	case TaskInvert:
		for _, im := range []*image.NRGBA{out.Image, out.Background} {
			for i := 0; i < len(im.Pix); i += 4 {
				im.Pix[i], im.Pix[i+1], im.Pix[i+2] = 255-im.Pix[i], 255-im.Pix[i+1], 255-im.Pix[i+2]
			}
		}
	case TaskGrayscale:
		for _, im := range []*image.NRGBA{out.Image, out.Background} {
			for i := 0; i < len(im.Pix); i += 4 {
				g := luma8(im.Pix[i], im.Pix[i+1], im.Pix[i+2])
				im.Pix[i], im.Pix[i+1], im.Pix[i+2] = g, g, g
			}
		}
	case TaskOutline:
		w := outlineWidth(n)
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				i := y*n + x
				if l := f.Labels[i]; l >= 0 && !onEdge(f.Labels, n, x, y, w) {
					copy(out.Image.Pix[4*i:4*i+4], f.Background.Pix[4*i:4*i+4])
					out.Labels[i] = -1
				}
			}
		}
	case TaskShift:
		copy(out.Image.Pix, f.Background.Pix)
		for i := range out.Labels {
			out.Labels[i] = -1
		}
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				s := y*n + x
				tx, ty := x+t.DX, y+t.DY
				if f.Labels[s] < 0 || tx < 0 || ty < 0 || tx >= n || ty >= n {
					continue
				}
				d := ty*n + tx
				copy(out.Image.Pix[4*d:4*d+4], f.Image.Pix[4*s:4*s+4])
				out.Labels[d] = f.Labels[s]
			}
		}
	default:
		return nil, fmt.Errorf("synth: unknown task kind %d", t.Kind)
	}
	return out, nil
}

// ApplyScene renders s and returns t of it.
func (t Task) ApplyScene(s Scene) (*image.NRGBA, error) {
	f, err := NewFrame(s)
	if err != nil {
		return nil, err
	}
	g, err := t.Apply(f)
	if err != nil {
		return nil, err
	}
	return g.Image, nil
}

// onEdge reports whether an object pixel (x, y) lies within w pixels
// (Manhattan distance) of a pixel showing something else: another object,
// the background, or the outside of the image.
func onEdge(labels []int16, n, x, y, w int) bool {
	l := labels[y*n+x]
	for dy := -w; dy <= w; dy++ {
		for dx := -w; dx <= w; dx++ {
			if dx == 0 && dy == 0 || abs(dx)+abs(dy) > w {
				continue
			}
			nx, ny := x+dx, y+dy
			if nx < 0 || ny < 0 || nx >= n || ny >= n || labels[ny*n+nx] != l {
				return true
			}
		}
	}
	return false
}

// luma8 is the Rec. 601 luma of an 8-bit colour, rounded.
func luma8(r, g, b uint8) uint8 {
	return uint8((299*int(r) + 587*int(g) + 114*int(b) + 500) / 1000)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
