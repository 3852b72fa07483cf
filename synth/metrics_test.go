package synth

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"testing"
)

func solidImage(c color.NRGBA) *image.NRGBA {
	im := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	draw.Draw(im, im.Rect, image.NewUniform(c), image.Point{}, draw.Src)
	return im
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMSEAndPSNR(t *testing.T) {
	a := solidImage(black)
	if p, err := PSNR(a, solidImage(black)); err != nil || !math.IsInf(p, 1) {
		t.Errorf("PSNR of identical images = %v, %v; want +Inf", p, err)
	}
	// Red channel off by 255 everywhere: MSE 1/3, PSNR 10·log10(3).
	b := solidImage(color.NRGBA{255, 0, 0, 255})
	if m, _ := MSE(a, b); !near(m, 1.0/3) {
		t.Errorf("MSE = %v, want 1/3", m)
	}
	if p, _ := PSNR(a, b); !near(p, 10*math.Log10(3)) {
		t.Errorf("PSNR = %v, want %v", p, 10*math.Log10(3))
	}
	// Every channel off by 51 = 0.2: MSE 0.04, PSNR 13.979 dB.
	c := solidImage(color.NRGBA{51, 51, 51, 255})
	if m, _ := MSE(a, c); !near(m, 0.04) {
		t.Errorf("MSE = %v, want 0.04", m)
	}
	if p, _ := PSNR(c, a); !near(p, -10*math.Log10(0.04)) {
		t.Errorf("PSNR = %v, want %v", p, -10*math.Log10(0.04))
	}
	// One pixel of 16 off by 255 in all channels: MSE 1/16.
	d := solidImage(black)
	d.SetNRGBA(2, 3, color.NRGBA{255, 255, 255, 255})
	if m, _ := MSE(a, d); !near(m, 1.0/16) {
		t.Errorf("MSE = %v, want 1/16", m)
	}
	// Any image type, any origin: an RGBA copy at another origin compares equal.
	r := image.NewRGBA(image.Rect(10, 10, 14, 14))
	draw.Draw(r, r.Rect, d, image.Point{}, draw.Src)
	if m, err := MSE(d, r); err != nil || m != 0 {
		t.Errorf("MSE against an RGBA copy = %v, %v", m, err)
	}
	if _, err := MSE(a, image.NewNRGBA(image.Rect(0, 0, 4, 5))); err == nil {
		t.Error("MSE of different sizes accepted")
	}
	if _, err := PSNR(nil, a); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := MSE(image.NewNRGBA(image.Rect(0, 0, 0, 0)), image.NewNRGBA(image.Rect(0, 0, 0, 0))); err == nil {
		t.Error("empty images accepted")
	}
}

func TestPixelAccuracy(t *testing.T) {
	a := solidImage(color.NRGBA{100, 100, 100, 255})
	b := solidImage(color.NRGBA{100, 100, 100, 255})
	b.SetNRGBA(0, 0, color.NRGBA{110, 100, 100, 255})
	b.SetNRGBA(1, 0, color.NRGBA{100, 100, 80, 255})
	for _, c := range []struct {
		tol  int
		want float64
	}{{0, 14.0 / 16}, {9, 14.0 / 16}, {10, 15.0 / 16}, {20, 1}} {
		if got, err := PixelAccuracy(a, b, c.tol); err != nil || !near(got, c.want) {
			t.Errorf("PixelAccuracy tol %d = %v, %v; want %v", c.tol, got, err, c.want)
		}
	}
	if _, err := PixelAccuracy(a, b, 256); err == nil {
		t.Error("tolerance 256 accepted")
	}
}

func TestMaskIoU(t *testing.T) {
	white := color.NRGBA{255, 255, 255, 255}
	pred, truth := solidImage(black), solidImage(black)
	if iou, _ := MaskIoU(pred, truth, 0.5); iou != 1 {
		t.Errorf("IoU of two empty masks = %v, want 1", iou)
	}
	for x := 0; x < 3; x++ {
		pred.SetNRGBA(x, 0, white) // 3 pixels
	}
	for x := 1; x < 4; x++ {
		truth.SetNRGBA(x, 0, white) // 3 pixels, 2 shared
	}
	truth.SetNRGBA(0, 3, color.NRGBA{100, 100, 100, 255}) // dark: background at 0.5
	if iou, _ := MaskIoU(pred, truth, 0.5); !near(iou, 2.0/4) {
		t.Errorf("IoU = %v, want 0.5", iou)
	}
	if iou, _ := MaskIoU(pred, truth, 0.3); !near(iou, 2.0/5) {
		t.Errorf("IoU at threshold 0.3 = %v, want 0.4", iou)
	}
	// A generated mask against itself and against its own inverse.
	g, _ := NewGenerator(2, 32, Train)
	s, _ := g.Analogy(TaskMask, 1)
	if iou, _ := MaskIoU(s.Images[1], s.Images[1], 0.5); iou != 1 {
		t.Errorf("IoU of a mask with itself = %v", iou)
	}
	inv, _ := Task{Kind: TaskInvert}.Apply(mustApply(t, mustFrame(t, s.Scenes[1]), Task{Kind: TaskMask}))
	if iou, _ := MaskIoU(s.Images[1], inv.Image, 0.5); iou != 0 {
		t.Errorf("IoU of a mask with its inverse = %v", iou)
	}
	if _, err := MaskIoU(pred, truth, 1.5); err == nil {
		t.Error("threshold 1.5 accepted")
	}
}

func TestBaselines(t *testing.T) {
	x1, y1 := solidImage(black), solidImage(color.NRGBA{10, 20, 30, 255})
	x2, y2 := solidImage(black), solidImage(color.NRGBA{20, 41, 60, 255})
	xq, yq := solidImage(color.NRGBA{1, 2, 3, 255}), solidImage(black)
	s := Sentence{Kind: KindAnalogy, Images: []image.Image{x1, y1, x2, y2, xq, yq}, Group: 2, Answer: []int{5}}
	cp, err := CopyBaseline(s)
	if err != nil || len(cp) != 1 || cp[0] != xq {
		t.Fatalf("CopyBaseline = %v, %v; want the query", cp, err)
	}
	mean, err := MeanBaseline(s)
	if err != nil || len(mean) != 1 {
		t.Fatal(err)
	}
	if got := mean[0].(*image.NRGBA).NRGBAAt(3, 3); got != (color.NRGBA{15, 31, 45, 255}) {
		t.Errorf("MeanBaseline pixel = %v, want {15 31 45 255} (30.5 rounds up)", got)
	}
	// A composite: one baseline per answer, the mean taken at each answer's place.
	g, _ := NewGenerator(4, 32, Train)
	c, _ := g.Composite(TaskMask, TaskInvert, 1)
	mean, _ = MeanBaseline(c)
	if len(mean) != 2 || !sameImage(mean[0], c.Images[1]) || !sameImage(mean[1], c.Images[2]) {
		t.Error("composite MeanBaseline of one example is not that example's f(x), g(f(x))")
	}
	cp, _ = CopyBaseline(c)
	if len(cp) != 2 || cp[0] != c.Images[3] || cp[1] != c.Images[3] {
		t.Error("composite CopyBaseline is not the query")
	}
	// A sequence: copy the last frame shown.
	q, _ := g.Sequential(MotionMove, 4)
	if cp, _ := CopyBaseline(q); cp[0] != q.Images[2] {
		t.Error("sequential CopyBaseline is not the last frame shown")
	}
	// Errors, not panics, for malformed sentences.
	zero, _ := s.Shorten(0)
	if _, err := MeanBaseline(zero); err == nil {
		t.Error("MeanBaseline without examples accepted")
	}
	for _, bad := range []Sentence{{}, {Images: s.Images, Group: 2}, {Images: s.Images, Group: 2, Answer: []int{3}}, {Images: s.Images[:5], Group: 2, Answer: []int{4}}} {
		if _, err := CopyBaseline(bad); err == nil {
			t.Errorf("CopyBaseline accepted %+v", bad)
		}
	}
}

func sameImage(a, b image.Image) bool {
	m, err := MSE(a, b)
	return err == nil && m == 0
}
