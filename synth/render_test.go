package synth

import (
	"image"
	"image/color"
	"math"
	"testing"
)

var (
	red   = color.NRGBA{225, 35, 35, 255}
	blue  = color.NRGBA{45, 85, 230, 255}
	black = color.NRGBA{0, 0, 0, 255}
	beige = color.NRGBA{235, 225, 200, 255}
)

// squareScene is a 32×32 scene with one axis-aligned red square covering
// exactly pixels 11..20 × 11..20 (half-side 5 about (16, 16): pixel
// centres at ±4.5 are in, at ±5.5 out).
func squareScene(bg Background) Scene {
	return Scene{Side: 32, Background: bg, Objects: []Object{{Shape: Square, Colour: red, X: 16, Y: 16, Size: 5 / 0.85}}}
}

func inSquare(x, y int) bool { return x >= 11 && x <= 20 && y >= 11 && y <= 20 }

func TestRenderSquare(t *testing.T) {
	f, err := NewFrame(squareScene(Background{A: black}))
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			want, wl := black, int16(-1)
			if inSquare(x, y) {
				want, wl = red, 0
			}
			if got := f.Image.NRGBAAt(x, y); got != want {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, want)
			}
			if f.Labels[y*32+x] != wl {
				t.Fatalf("label (%d,%d) = %d, want %d", x, y, f.Labels[y*32+x], wl)
			}
			if f.Background.NRGBAAt(x, y) != black {
				t.Fatalf("background (%d,%d) not black", x, y)
			}
		}
	}
}

// Every shape lies inside its Radius at any angle, and covers a fair part
// of it.
func TestShapesWithinRadius(t *testing.T) {
	for _, sh := range Shapes() {
		for _, ang := range []float64{0, 0.3, math.Pi / 4, 1, 2.5} {
			o := Object{Shape: sh, Colour: red, X: 32, Y: 32, Size: 12, Angle: ang}
			f, err := NewFrame(Scene{Side: 64, Background: Background{A: black}, Objects: []Object{o}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for i, l := range f.Labels {
				if l < 0 {
					continue
				}
				n++
				x, y := float64(i%64)+0.5, float64(i/64)+0.5
				if d := math.Hypot(x-32, y-32); d > o.Radius()+1e-9 {
					t.Errorf("%v at %.2f: pixel at distance %.2f > radius %.2f", sh, ang, d, o.Radius())
				}
			}
			if area := math.Pi * o.Radius() * o.Radius(); float64(n) < 0.25*area {
				t.Errorf("%v at %.2f: %d pixels, under a quarter of its circle's %.0f", sh, ang, n, area)
			}
		}
	}
}

func TestBackgroundLayouts(t *testing.T) {
	cases := []struct {
		bg   Background
		inA  func(x, y int) bool
		name string
	}{
		{Background{A: black, B: beige}, func(x, y int) bool { return true }, "plain"},
		{Background{A: black, B: beige, Layout: Vertical}, func(x, y int) bool { return x < 16 }, "vertical"},
		{Background{A: black, B: beige, Layout: Horizontal, At: 0.25}, func(x, y int) bool { return y < 8 }, "horizontal"},
		{Background{A: black, B: beige, Layout: Diagonal}, func(x, y int) bool { return x+y < 31 }, "diagonal"},
	}
	for _, c := range cases {
		img, err := Render(Scene{Side: 32, Background: c.bg})
		if err != nil {
			t.Fatal(err)
		}
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				want := beige
				if c.inA(x, y) {
					want = black
				}
				if got := img.NRGBAAt(x, y); got != want {
					t.Fatalf("%s: pixel (%d,%d) = %v, want %v", c.name, x, y, got, want)
				}
			}
		}
	}
}

func TestSceneValidate(t *testing.T) {
	ok := squareScene(Background{A: black})
	bad := map[string]func(s *Scene){
		"side 0":        func(s *Scene) { s.Side = 0 },
		"side too big":  func(s *Scene) { s.Side = MaxSide + 1 },
		"layout":        func(s *Scene) { s.Background.Layout = 9 },
		"at 1":          func(s *Scene) { s.Background.At = 1 },
		"at NaN":        func(s *Scene) { s.Background.At = math.NaN() },
		"shape":         func(s *Scene) { s.Objects[0].Shape = 99 },
		"x NaN":         func(s *Scene) { s.Objects[0].X = math.NaN() },
		"angle Inf":     func(s *Scene) { s.Objects[0].Angle = math.Inf(1) },
		"size 0":        func(s *Scene) { s.Objects[0].Size = 0 },
		"size negative": func(s *Scene) { s.Objects[0].Size = -1 },
		"size Inf":      func(s *Scene) { s.Objects[0].Size = math.Inf(1) },
	}
	for name, mutate := range bad {
		s := ok.Clone()
		mutate(&s)
		if _, err := Render(s); err == nil {
			t.Errorf("%s: Render accepted %+v", name, s)
		}
	}
	if _, err := Render(ok); err != nil {
		t.Fatal(err)
	}
}

func TestSheetLayout(t *testing.T) {
	a, _ := Render(squareScene(Background{A: black}))
	s := Sheet([][]image.Image{{a, a}, {a}}, 2, 3)
	if got, want := s.Bounds().Size(), image.Pt(3+2*(64+3), 3+2*(64+3)); got != want {
		t.Fatalf("sheet size %v, want %v", got, want)
	}
	// Cell (1, 0) starts at (3+64+3, 3): its pixel (11, 11) is magnified to 22..23.
	if got := s.NRGBAAt(70+22, 3+23); got != red {
		t.Errorf("magnified square pixel = %v, want red", got)
	}
	if got := s.NRGBAAt(1, 1); got != (color.NRGBA{128, 128, 128, 255}) {
		t.Errorf("gap = %v, want grey", got)
	}
}
