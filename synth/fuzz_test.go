package synth

import (
	"image/color"
	"testing"
)

// FuzzRenderTasks renders arbitrary one-object scenes and applies every
// task: no input may panic, a scene either fails Validate or renders to an
// opaque side×side image, and every task keeps the frame's shape.
func FuzzRenderTasks(f *testing.F) {
	f.Add(uint8(31), uint8(0), 16.0, 16.0, 5.0, 0.0, uint8(0), 0.0, 3, -2)
	f.Add(uint8(63), uint8(2), 0.0, 60.0, 20.0, 1.0, uint8(3), 0.7, 100, 0)
	f.Add(uint8(0), uint8(5), -1e300, 1e300, 1e-300, 1e10, uint8(1), 0.999, -1<<62, 1<<62)
	f.Fuzz(func(t *testing.T, side, shape uint8, x, y, size, angle float64, layout uint8, at float64, dx, dy int) {
		s := Scene{
			Side:       int(side%96) + 1,
			Background: Background{A: black, B: beige, Layout: Layout(layout % 5), At: at},
			Objects:    []Object{{Shape: Shape(shape % 8), Colour: color.NRGBA{1, 2, 3, 0}, X: x, Y: y, Size: size, Angle: angle}},
		}
		fr, err := NewFrame(s)
		if err != nil {
			if s.Validate() == nil {
				t.Fatalf("valid scene failed: %v", err)
			}
			return
		}
		n := s.Side
		if fr.Image.Bounds().Dx() != n || fr.Image.Bounds().Dy() != n {
			t.Fatalf("image %v for side %d", fr.Image.Bounds(), n)
		}
		for i := 3; i < len(fr.Image.Pix); i += 4 {
			if fr.Image.Pix[i] != 255 {
				t.Fatal("transparent pixel")
			}
		}
		for _, k := range TaskKinds() {
			g, err := Task{Kind: k, Colour: red, DX: dx, DY: dy}.Apply(fr)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.check(); err != nil || g.Side() != n {
				t.Fatalf("%v: bad frame: %v", k, err)
			}
		}
	})
}
