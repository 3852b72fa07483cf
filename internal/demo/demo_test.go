package demo

import (
	"image"
	"image/color"
	"testing"
)

func TestOverviewLayout(t *testing.T) {
	red := Square(8, 0, 0, 8, color.NRGBA{255, 0, 0, 255}, color.NRGBA{})
	blue := Square(8, 0, 0, 8, color.NRGBA{0, 0, 255, 255}, color.NRGBA{})
	o := Overview([]image.Image{red, red}, [][]image.Image{{blue}, {blue, blue}}, 10)
	if got, want := o.Bounds().Size(), image.Pt(2*10+CheckerWidth+2*10, 2*10); got != want {
		t.Fatalf("size %v, want %v", got, want)
	}
	at := func(x, y int) color.NRGBA { return o.NRGBAAt(x, y) }
	if c := at(5, 15); c.R != 255 || c.B != 0 {
		t.Errorf("prompt cell in row 1 = %v, want red", c)
	}
	if c := at(20+CheckerWidth+5, 5); c.B != 255 {
		t.Errorf("candidate 0 image = %v, want blue", c)
	}
	if c := at(20+CheckerWidth+15, 5); c != (color.NRGBA{255, 255, 255, 255}) {
		t.Errorf("missing image of candidate 0 = %v, want white", c)
	}
	if c := at(20+CheckerWidth+15, 15); c.B != 255 {
		t.Errorf("candidate 1 second image = %v, want blue", c)
	}
	if a, b := at(20, 0), at(24, 0); a == b {
		t.Errorf("checker strip is not checkered: %v %v", a, b)
	}
}

func TestFlipAndGray(t *testing.T) {
	img := Square(4, 0, 0, 1, color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 0, 255})
	f := FlipH(img)
	if f.NRGBAAt(3, 0).R != 255 || f.NRGBAAt(0, 0).R != 0 {
		t.Error("FlipH did not mirror")
	}
	g := Gray(img)
	if c := g.NRGBAAt(0, 0); c.R != 76 || c.G != 76 || c.B != 76 {
		t.Errorf("Gray(red) = %v, want 76", c)
	}
	d := Disc(9, 4.5, 4.5, 2, color.NRGBA{1, 1, 1, 255}, color.NRGBA{})
	if d.NRGBAAt(4, 4).R != 1 || d.NRGBAAt(0, 0).R != 0 {
		t.Error("Disc")
	}
}
