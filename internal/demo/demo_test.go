package demo

import (
	"flag"
	"image"
	"image/color"
	"image/draw"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/pretrained"
)

func uniform(n int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

func TestOverviewLayout(t *testing.T) {
	red := uniform(8, color.NRGBA{255, 0, 0, 255})
	blue := uniform(8, color.NRGBA{0, 0, 255, 255})
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

func TestPNGSizes(t *testing.T) {
	dir := t.TempDir()
	if err := WritePNG(filepath.Join(dir, "a.png"), uniform(5, color.NRGBA{1, 2, 3, 255})); err != nil {
		t.Fatal(err)
	}
	sizes, err := PNGSizes(dir, "a.png")
	if err != nil || len(sizes) != 1 || sizes[0] != image.Pt(5, 5) {
		t.Fatalf("PNGSizes = %v, %v", sizes, err)
	}
	if err := CheckPNGs(dir, "a.png", "missing.png"); err == nil {
		t.Error("missing PNG accepted")
	}
}

func TestModelFlags(t *testing.T) {
	parse := func(args ...string) *ModelFlags {
		var mf ModelFlags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		mf.Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return &mf
	}
	p, closeModel, err := parse().Load()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := pretrained.Pipeline(); p != want {
		t.Error("no flags: not the embedded pipeline")
	}
	if err := closeModel(); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		args    []string
		missing string
	}{
		{[]string{"--model", "../../testdata/llama"}, "without --tokenizer"},
		{[]string{"--tokenizer", "../../testdata/vqgan"}, "without --model"},
	} {
		if _, _, err := parse(tc.args...).Load(); err == nil || !strings.Contains(err.Error(), tc.missing) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.missing)
		}
	}
	p, closeModel, err = parse("--model", "../../testdata/llama", "--tokenizer", "../../testdata/vqgan").Load()
	if err != nil {
		t.Fatal(err)
	}
	if p.Tokenizer().Resolution() != 64 {
		t.Errorf("golden tokenizer resolution %d", p.Tokenizer().Resolution())
	}
	if err := closeModel(); err != nil {
		t.Error(err)
	}
}

func TestWorld(t *testing.T) {
	for _, tc := range []struct{ res, side int }{{32, 32}, {64, 64}, {8, 16}, {2048, 1024}} {
		g, err := World(tc.res, 3)
		if err != nil {
			t.Fatal(err)
		}
		if g.Side() != tc.side || g.Index() != 3 {
			t.Errorf("World(%d): side %d, index %d; want %d, 3", tc.res, g.Side(), g.Index(), tc.side)
		}
	}
	if _, err := World(0, 0); err == nil {
		t.Error("resolution 0 accepted")
	}
	a := uniform(4, color.NRGBA{0, 0, 0, 255})
	b := uniform(4, color.NRGBA{255, 255, 255, 255})
	if line, ok := Score([]image.Image{a}, []image.Image{a}, b); !ok || !strings.Contains(line, "+Inf dB") || !strings.Contains(line, "0.0 dB") {
		t.Errorf("Score = %q, %v", line, ok)
	}
	if _, ok := Score([]image.Image{a}, []image.Image{uniform(5, color.NRGBA{})}, a); ok {
		t.Error("Score of images of different sizes")
	}
}
