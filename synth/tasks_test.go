package synth

import (
	"bytes"
	"image"
	"image/color"
	"testing"
)

func mustFrame(t *testing.T, s Scene) *Frame {
	t.Helper()
	f, err := NewFrame(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustApply(t *testing.T, f *Frame, tasks ...Task) *Frame {
	t.Helper()
	for _, task := range tasks {
		var err error
		if f, err = task.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// testScenes are hand-made scenes plus generated ones: several shapes,
// occlusion, both kinds of background.
func testScenes(t *testing.T) []Scene {
	t.Helper()
	scenes := []Scene{
		squareScene(Background{A: black}),
		squareScene(Background{A: black, B: beige, Layout: Diagonal, At: 0.4}),
		{Side: 32, Background: Background{A: beige, B: black, Layout: Vertical, At: 0.3}, Objects: []Object{
			{Shape: Triangle, Colour: blue, X: 10, Y: 12, Size: 6, Angle: 0.4},
			{Shape: Ring, Colour: red, X: 14, Y: 14, Size: 6},
			{Shape: Cross, Colour: color.NRGBA{40, 175, 60, 255}, X: 28, Y: 28, Size: 7, Angle: 0.2}, // clipped by the corner
		}},
	}
	g, _ := NewGenerator(3, 32, Train)
	for i := 0; i < 6; i++ {
		scenes = append(scenes, g.Scene())
	}
	return scenes
}

func sameFrame(a, b *Frame) bool {
	if !bytes.Equal(a.Image.Pix, b.Image.Pix) || !bytes.Equal(a.Background.Pix, b.Background.Pix) {
		return false
	}
	for i := range a.Labels {
		if a.Labels[i] != b.Labels[i] {
			return false
		}
	}
	return true
}

func TestFlipTwiceIsIdentity(t *testing.T) {
	for i, s := range testScenes(t) {
		f := mustFrame(t, s)
		for _, k := range []TaskKind{TaskFlipH, TaskFlipV, TaskInvert} {
			if g := mustApply(t, f, Task{Kind: k}, Task{Kind: k}); !sameFrame(f, g) {
				t.Errorf("scene %d: %v twice is not the identity", i, k)
			}
			if g := mustApply(t, f, Task{Kind: k}); sameFrame(f, g) && i > 0 { // scene 0 is symmetric
				t.Errorf("scene %d: %v once is the identity", i, k)
			}
		}
	}
}

func TestFlipMirrors(t *testing.T) {
	for _, s := range testScenes(t) {
		f := mustFrame(t, s)
		h := mustApply(t, f, Task{Kind: TaskFlipH})
		v := mustApply(t, f, Task{Kind: TaskFlipV})
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				if h.Image.NRGBAAt(x, y) != f.Image.NRGBAAt(31-x, y) || v.Image.NRGBAAt(x, y) != f.Image.NRGBAAt(x, 31-y) {
					t.Fatalf("flip at (%d,%d) is not a mirror", x, y)
				}
			}
		}
	}
}

func TestMask(t *testing.T) {
	white := color.NRGBA{255, 255, 255, 255}
	for i, s := range testScenes(t) {
		f := mustFrame(t, s)
		m := mustApply(t, f, Task{Kind: TaskMask})
		for p, l := range f.Labels {
			want := black
			if l >= 0 {
				want = white
			}
			if got := m.Image.NRGBAAt(p%32, p/32); got != want {
				t.Fatalf("scene %d: mask pixel %d = %v, want %v", i, p, got, want)
			}
		}
	}
	// The hand-made square: exactly its 100 pixels.
	m := mustApply(t, mustFrame(t, squareScene(Background{A: beige})), Task{Kind: TaskMask})
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			if white := m.Image.NRGBAAt(x, y).R == 255; white != inSquare(x, y) {
				t.Fatalf("square mask at (%d,%d) = %v", x, y, white)
			}
		}
	}
}

func TestRecolourKeepsGeometry(t *testing.T) {
	c := color.NRGBA{250, 140, 20, 255}
	for i, s := range testScenes(t) {
		f := mustFrame(t, s)
		r := mustApply(t, f, Task{Kind: TaskRecolour, Colour: c})
		if !sameFrame(mustApply(t, f, Task{Kind: TaskMask}), mustApply(t, r, Task{Kind: TaskMask})) {
			t.Errorf("scene %d: recolour changed the mask", i)
		}
		for p, l := range f.Labels {
			want := f.Image.NRGBAAt(p%32, p/32)
			if l >= 0 {
				want = c
			}
			if got := r.Image.NRGBAAt(p%32, p/32); got != want {
				t.Fatalf("scene %d: recoloured pixel %d = %v, want %v", i, p, got, want)
			}
		}
	}
}

func TestGrayscale(t *testing.T) {
	for _, s := range testScenes(t) {
		f := mustFrame(t, s)
		g := mustApply(t, f, Task{Kind: TaskGrayscale})
		for i := 0; i < len(g.Image.Pix); i += 4 {
			p, q := g.Image.Pix[i:i+4], f.Image.Pix[i:i+4]
			if p[0] != p[1] || p[1] != p[2] || p[3] != 255 {
				t.Fatalf("grayscale pixel %v", p)
			}
			if p[0] != luma8(q[0], q[1], q[2]) {
				t.Fatalf("grayscale of %v = %d, want luma %d", q, p[0], luma8(q[0], q[1], q[2]))
			}
		}
	}
	if luma8(255, 255, 255) != 255 || luma8(0, 0, 0) != 0 {
		t.Error("luma8 does not keep black and white")
	}
}

func TestInvert(t *testing.T) {
	f := mustFrame(t, squareScene(Background{A: black}))
	g := mustApply(t, f, Task{Kind: TaskInvert})
	if got := g.Image.NRGBAAt(0, 0); got != (color.NRGBA{255, 255, 255, 255}) {
		t.Errorf("inverted black = %v", got)
	}
	if got := g.Image.NRGBAAt(15, 15); got != (color.NRGBA{30, 220, 220, 255}) {
		t.Errorf("inverted red = %v", got)
	}
}

func TestOutline(t *testing.T) {
	for i, s := range testScenes(t) {
		f := mustFrame(t, s)
		o := mustApply(t, f, Task{Kind: TaskOutline})
		edges := 0
		for p, l := range o.Labels {
			x, y := p%32, p/32
			if l >= 0 {
				edges++
				if f.Labels[p] != l || o.Image.NRGBAAt(x, y) != f.Image.NRGBAAt(x, y) {
					t.Fatalf("scene %d: outline pixel (%d,%d) is not the object's", i, x, y)
				}
			} else if o.Image.NRGBAAt(x, y) != f.Background.NRGBAAt(x, y) {
				t.Fatalf("scene %d: non-edge pixel (%d,%d) is not background", i, x, y)
			}
		}
		if len(s.Objects) > 0 && edges == 0 {
			t.Errorf("scene %d: no edges", i)
		}
	}
	// The 10×10 square: its 36 border pixels.
	o := mustApply(t, mustFrame(t, squareScene(Background{A: black})), Task{Kind: TaskOutline})
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			edge := inSquare(x, y) && (x == 11 || x == 20 || y == 11 || y == 20)
			if got := o.Labels[y*32+x] >= 0; got != edge {
				t.Fatalf("square outline at (%d,%d) = %v, want %v", x, y, got, edge)
			}
		}
	}
	// Outline then mask: white edges on black.
	m := mustApply(t, mustFrame(t, squareScene(Background{A: beige})), Task{Kind: TaskOutline}, Task{Kind: TaskMask})
	if m.Image.NRGBAAt(11, 15).R != 255 || m.Image.NRGBAAt(15, 15).R != 0 || m.Image.NRGBAAt(0, 0).R != 0 {
		t.Error("outline then mask is not white edges on black")
	}
}

func TestShift(t *testing.T) {
	bg := Background{A: black, B: beige, Layout: Horizontal, At: 0.5}
	f := mustFrame(t, squareScene(bg))
	for _, d := range [][2]int{{3, -2}, {-4, 4}, {0, 1}, {20, 0}, {-40, 3}} {
		g := mustApply(t, f, Task{Kind: TaskShift, DX: d[0], DY: d[1]})
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				want := f.Background.NRGBAAt(x, y) // the background stays where it was
				if inSquare(x-d[0], y-d[1]) {
					want = red
				}
				if got := g.Image.NRGBAAt(x, y); got != want {
					t.Fatalf("shift %v: pixel (%d,%d) = %v, want %v", d, x, y, got, want)
				}
			}
		}
		if !bytes.Equal(g.Background.Pix, f.Background.Pix) {
			t.Errorf("shift %v moved the background", d)
		}
	}
}

func TestTaskErrors(t *testing.T) {
	f := mustFrame(t, squareScene(Background{A: black}))
	if _, err := (Task{Kind: 99}).Apply(f); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := (Task{}).Apply(nil); err == nil {
		t.Error("nil frame accepted")
	}
	broken := f.Clone()
	broken.Labels = broken.Labels[:10]
	if _, err := (Task{}).Apply(broken); err == nil {
		t.Error("frame with short labels accepted")
	}
	broken = f.Clone()
	broken.Background = image.NewNRGBA(image.Rect(0, 0, 8, 8))
	if _, err := (Task{}).Apply(broken); err == nil {
		t.Error("frame with a small background accepted")
	}
	if _, err := (Task{}).ApplyScene(Scene{}); err == nil {
		t.Error("empty scene accepted")
	}
}

func TestTaskNames(t *testing.T) {
	want := []string{"mask", "hflip", "vflip", "recolour", "invert", "grayscale", "outline", "shift"}
	for i, k := range TaskKinds() {
		if k.String() != want[i] {
			t.Errorf("kind %d is %q, want %q", i, k, want[i])
		}
		if p, err := ParseTaskKind(want[i]); err != nil || p != k {
			t.Errorf("ParseTaskKind(%q) = %v, %v", want[i], p, err)
		}
	}
	if _, err := ParseTaskKind("blur"); err == nil {
		t.Error("ParseTaskKind accepted blur")
	}
	if s := (Task{Kind: TaskRecolour, Colour: red}).String(); s != "recolour(red)" {
		t.Errorf("String = %q", s)
	}
	if s := (Task{Kind: TaskShift, DX: 2, DY: -1}).String(); s != "shift(+2,-1)" {
		t.Errorf("String = %q", s)
	}
}
