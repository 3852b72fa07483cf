package tokenizer

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

const vqganDir = "../testdata/vqgan"

func readF32s(t testing.TB, path string) []float32 {
	t.Helper()
	b := readFile(t, path)
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes is not a whole number of float32", path, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// TestPreprocessGolden compares Preprocess with the official pipeline's
// pixels (Pillow convert/resize, /255, CHW) bit for bit.
func TestPreprocessGolden(t *testing.T) {
	for _, tc := range []struct{ image, pixels string }{
		{"exact.png", "exact.pixels.f32"},   // already 64×64: no resampling
		{"resize.png", "resize.pixels.f32"}, // 96×48 squashed to 64×64
	} {
		t.Run(tc.image, func(t *testing.T) {
			img := decodePNG(t, filepath.Join(vqganDir, tc.image))
			got, err := Preprocess(img, 64)
			if err != nil {
				t.Fatal(err)
			}
			want := readF32s(t, filepath.Join(vqganDir, tc.pixels))
			if len(got) != len(want) {
				t.Fatalf("got %d values, want %d", len(got), len(want))
			}
			diff, maxAbs := 0, 0.0
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					diff++
					maxAbs = math.Max(maxAbs, math.Abs(float64(got[i]-want[i])))
				}
			}
			t.Logf("%s (%v, %T): %d/%d values differ bitwise, max |diff| %.3g",
				tc.image, img.Bounds().Size(), img, diff, len(want), maxAbs)
			if diff != 0 {
				t.Fail()
			}
		})
	}
}

// TestImagePillowFixtures checks rgbBytes against Pillow's
// Image.open(png).convert('RGB') for each PNG colour type and bit depth.
func TestImagePillowFixtures(t *testing.T) {
	m := loadPILManifest(t)
	total, passed := 0, 0
	for _, c := range m.Cases {
		if c.Kind != "convert" {
			continue
		}
		total++
		t.Run(c.Name, func(t *testing.T) {
			img := decodePNG(t, filepath.Join(pilDir, c.Input))
			got, w, h, err := rgbBytes(img)
			if err != nil {
				t.Fatal(err)
			}
			want := readFile(t, filepath.Join(pilDir, c.Expected))
			if w != c.W || h != c.H || len(got) != len(want) {
				t.Fatalf("got %dx%d (%d bytes), want %dx%d (%d bytes)", w, h, len(got), c.W, c.H, len(want))
			}
			if n, d := byteDiff(got, want); n != 0 {
				t.Errorf("Go %T vs Pillow mode %s: %d of %d bytes differ, max |diff| %d", img, c.PILMode, n, len(want), d)
				return
			}
			t.Logf("Go %T = Pillow mode %q → RGB", img, c.PILMode)
			passed++
		})
	}
	t.Logf("convert: %d/%d Pillow %s cases byte-exact", passed, total, m.Pillow)
	if total == 0 {
		t.Fatal("no convert cases in the manifest")
	}
}

// opaqueImage hides the concrete type of an image so rgbBytes takes its
// generic img.At path.
type opaqueImage struct{ image.Image }

func randBytes(r *rand.Rand, n int) []uint8 {
	b := make([]uint8, n)
	for i := range b {
		b[i] = uint8(r.UintN(256))
	}
	return b
}

// TestImageTypes checks every fast path of rgbBytes against the generic
// colour-model path on the same image, on sub-images with a non-zero origin,
// and a few hand-computed values.
func TestImageTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rect := image.Rect(-3, 2, 8, 9) // 11×7, non-zero origin
	sub := image.Rect(-1, 3, 6, 8)
	pal := color.Palette{color.RGBA{1, 2, 3, 255}, color.NRGBA{200, 100, 50, 0}, color.NRGBA{9, 8, 7, 128}, color.RGBA{0x40, 0x20, 0x10, 0x80}}
	mk := map[string]func() image.Image{
		"RGBA": func() image.Image {
			m := image.NewRGBA(rect)
			copy(m.Pix, randBytes(r, len(m.Pix)))
			for i := 0; i < len(m.Pix); i += 4 { // make it validly premultiplied
				a := m.Pix[i+3]
				for c := 0; c < 3; c++ {
					m.Pix[i+c] = uint8(uint32(m.Pix[i+c]) * uint32(a) / 255)
				}
			}
			return m
		},
		"NRGBA": func() image.Image { m := image.NewNRGBA(rect); copy(m.Pix, randBytes(r, len(m.Pix))); return m },
		"RGBA64": func() image.Image {
			m := image.NewRGBA64(rect)
			for y := rect.Min.Y; y < rect.Max.Y; y++ {
				for x := rect.Min.X; x < rect.Max.X; x++ {
					a := uint16(r.UintN(65536))
					if x%2 == 0 {
						a = 0xffff
					}
					f := func() uint16 { return uint16(uint32(r.UintN(65536)) * uint32(a) / 0xffff) }
					m.SetRGBA64(x, y, color.RGBA64{f(), f(), f(), a})
				}
			}
			return m
		},
		"NRGBA64": func() image.Image { m := image.NewNRGBA64(rect); copy(m.Pix, randBytes(r, len(m.Pix))); return m },
		"Gray":    func() image.Image { m := image.NewGray(rect); copy(m.Pix, randBytes(r, len(m.Pix))); return m },
		"Gray16":  func() image.Image { m := image.NewGray16(rect); copy(m.Pix, randBytes(r, len(m.Pix))); return m },
		"CMYK":    func() image.Image { m := image.NewCMYK(rect); copy(m.Pix, randBytes(r, len(m.Pix))); return m },
		"Paletted": func() image.Image {
			m := image.NewPaletted(rect, pal)
			for i := range m.Pix {
				m.Pix[i] = uint8(r.UintN(uint(len(pal))))
			}
			return m
		},
		"YCbCr420": func() image.Image {
			m := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
			copy(m.Y, randBytes(r, len(m.Y)))
			copy(m.Cb, randBytes(r, len(m.Cb)))
			copy(m.Cr, randBytes(r, len(m.Cr)))
			return m
		},
		"NYCbCrA444": func() image.Image {
			m := image.NewNYCbCrA(rect, image.YCbCrSubsampleRatio444)
			copy(m.Y, randBytes(r, len(m.Y)))
			copy(m.Cb, randBytes(r, len(m.Cb)))
			copy(m.Cr, randBytes(r, len(m.Cr)))
			copy(m.A, randBytes(r, len(m.A)))
			return m
		},
	}
	type subImager interface {
		SubImage(image.Rectangle) image.Image
	}
	for name, f := range mk {
		img := f()
		for _, v := range []struct {
			tag string
			img image.Image
		}{{"full", img}, {"sub", img.(subImager).SubImage(sub)}} {
			fast, w, h, err := rgbBytes(v.img)
			if err != nil {
				t.Fatalf("%s %s: %v", name, v.tag, err)
			}
			slow, w2, h2, err := rgbBytes(opaqueImage{v.img})
			if err != nil {
				t.Fatalf("%s %s generic: %v", name, v.tag, err)
			}
			b := v.img.Bounds()
			if w != b.Dx() || h != b.Dy() || w2 != w || h2 != h {
				t.Fatalf("%s %s: sizes %dx%d / %dx%d for bounds %v", name, v.tag, w, h, w2, h2, b)
			}
			if n, d := byteDiff(fast, slow); n != 0 {
				t.Errorf("%s %s: fast path differs from the colour-model path in %d bytes (max %d)", name, v.tag, n, d)
			}
			// Spot-check the first pixel against an independent formula.
			want := expectedRGB(v.img.At(b.Min.X, b.Min.Y))
			if !bytes.Equal(fast[:3], want[:]) {
				t.Errorf("%s %s: first pixel %v, want %v (colour %#v)", name, v.tag, fast[:3], want, v.img.At(b.Min.X, b.Min.Y))
			}
		}
	}

	// Hand-computed values of Pillow's rules.
	g16 := image.NewGray16(image.Rect(0, 0, 4, 1))
	for i, v := range []uint16{0, 255, 256, 65535} {
		g16.SetGray16(i, 0, color.Gray16{v})
	}
	n64 := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	n64.SetNRGBA64(0, 0, color.NRGBA64{0x12ff, 0xff00, 0x00ff, 0})
	p := image.NewPaletted(image.Rect(0, 0, 3, 1), color.Palette{color.NRGBA{10, 20, 30, 0}})
	p.Pix[1], p.Pix[2] = 0, 7
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	copy(rgba.Pix, []uint8{0x40, 0x20, 0x10, 0x80, 5, 6, 7, 0})
	for _, tc := range []struct {
		name string
		img  image.Image
		want []uint8
	}{
		{"Gray16 clips like Pillow mode I", g16, []uint8{0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255}},
		{"NRGBA64 keeps the high byte, drops alpha", n64, []uint8{0x12, 0xff, 0x00}},
		{"Paletted drops alpha, black past the palette", p, []uint8{10, 20, 30, 10, 20, 30, 0, 0, 0}},
		{"RGBA is un-premultiplied", rgba, []uint8{0x7f, 0x3f, 0x1f, 0, 0, 0}},
	} {
		got, _, _, err := rgbBytes(tc.img)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// expectedRGB is an independent statement of rgbBytes' per-colour rule.
func expectedRGB(c color.Color) [3]uint8 {
	switch v := c.(type) {
	case color.Gray16:
		return [3]uint8{uint8(min(v.Y, 255)), uint8(min(v.Y, 255)), uint8(min(v.Y, 255))}
	case color.NRGBA64:
		return [3]uint8{uint8(v.R >> 8), uint8(v.G >> 8), uint8(v.B >> 8)}
	case color.NRGBA:
		return [3]uint8{v.R, v.G, v.B}
	case color.YCbCr:
		r, g, b := color.YCbCrToRGB(v.Y, v.Cb, v.Cr)
		return [3]uint8{r, g, b}
	case color.NYCbCrA:
		r, g, b := color.YCbCrToRGB(v.Y, v.Cb, v.Cr)
		return [3]uint8{r, g, b}
	}
	n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
	return [3]uint8{uint8(n.R >> 8), uint8(n.G >> 8), uint8(n.B >> 8)}
}

// TestPixelsToImageGolden turns the golden decoder outputs (before clamp)
// into images and compares them with the official PNGs.
func TestPixelsToImageGolden(t *testing.T) {
	for _, name := range []string{"exact", "resize"} {
		chw := readF32s(t, filepath.Join(vqganDir, name+".decoded.f32"))
		want := decodePNG(t, filepath.Join(vqganDir, name+".decoded.png"))
		b := want.Bounds()
		got, err := PixelsToImage(chw, b.Dy(), b.Dx())
		if err != nil {
			t.Fatal(err)
		}
		wantRGB, _, _, _ := rgbBytes(want)
		gotRGB, _, _, _ := rgbBytes(got)
		clamped := 0
		for _, v := range chw {
			if v < 0 || v > 1 {
				clamped++
			}
		}
		n, d := byteDiff(gotRGB, wantRGB)
		t.Logf("%s.decoded: %d values clamped, %d/%d bytes differ from the official PNG (max %d)", name, clamped, n, len(wantRGB), d)
		if n != 0 {
			t.Fail()
		}
		for i := 3; i < len(got.Pix); i += 4 {
			if got.Pix[i] != 0xff {
				t.Fatalf("%s: alpha %d at byte %d, want opaque", name, got.Pix[i], i)
			}
		}
	}
}

// TestPixelsToImageTruncation checks clamp·255·truncate against NumPy's
// float32 arithmetic (same as torch) on the generator's values, including
// every v/255 that Preprocess produces.
func TestPixelsToImageTruncation(t *testing.T) {
	m := loadPILManifest(t)
	vals := readF32s(t, filepath.Join(pilDir, m.Post.Values))
	want := readFile(t, filepath.Join(pilDir, m.Post.Expected))
	if len(vals) != len(want) || len(vals) != m.Post.Count {
		t.Fatalf("post fixtures: %d values, %d expected bytes, manifest says %d", len(vals), len(want), m.Post.Count)
	}
	bad := 0
	for i, v := range vals {
		if got := unitToByte(v); got != want[i] {
			bad++
			if bad < 5 {
				t.Errorf("x=%v (bits %#x): got %d, want %d", v, math.Float32bits(v), got, want[i])
			}
		}
	}
	t.Logf("postprocess: %d/%d values match NumPy float32 clamp·255·uint8", len(vals)-bad, len(vals))

	// Round trip byte → Preprocess value → byte: truncation may lose a level.
	lost := 0
	for v := 0; v < 256; v++ {
		if unitToByte(unitScale[v]) != uint8(v) {
			lost++
		}
	}
	t.Logf("round trip v → float32(v)/255 → trunc(x·255): %d of 256 byte values come back one lower", lost)

	for _, tc := range []struct {
		x    float32
		want uint8
	}{{float32(math.NaN()), 0}, {float32(math.Inf(1)), 255}, {float32(math.Inf(-1)), 0}, {0.5, 127}, {1, 255}, {-0.0, 0}} {
		if got := unitToByte(tc.x); got != tc.want {
			t.Errorf("unitToByte(%v) = %d, want %d", tc.x, got, tc.want)
		}
	}
	img, err := PixelsToImage([]float32{0.5, 2, -1, float32(math.NaN()), 0.2, 1}, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint8{127, 0, 51, 255, 255, 0, 255, 255}; !bytes.Equal(img.Pix, want) {
		t.Errorf("PixelsToImage 1×2: got %v, want %v", img.Pix, want)
	}
}

func TestImageBadInput(t *testing.T) {
	var nilRGBA *image.RGBA
	var nilIface image.Image
	for _, tc := range []struct {
		name string
		img  image.Image
		res  int
		want string
	}{
		{"nil interface", nilIface, 64, "nil"},
		{"typed nil", nilRGBA, 64, "nil *image.RGBA"},
		{"zero width", image.NewRGBA(image.Rect(0, 0, 0, 5)), 64, "zero size"},
		{"empty", image.NewGray(image.Rectangle{}), 64, "zero size"},
		{"inverted rect", &image.Gray{Rect: image.Rectangle{Min: image.Pt(5, 5), Max: image.Pt(2, 2)}}, 64, "zero size"},
		{"short Pix", &image.Gray{Rect: image.Rect(0, 0, 3, 3), Stride: 3, Pix: make([]uint8, 8)}, 64, "inconsistent pixel buffer"},
		{"negative stride", &image.NRGBA{Rect: image.Rect(0, 0, 3, 3), Stride: -12, Pix: make([]uint8, 36)}, 64, "inconsistent"},
		{"short chroma", &image.YCbCr{Rect: image.Rect(0, 0, 4, 4), YStride: 4, CStride: 2, Y: make([]uint8, 16), Cb: make([]uint8, 3), Cr: make([]uint8, 4), SubsampleRatio: image.YCbCrSubsampleRatio420}, 64, "inconsistent"},
		{"zero resolution", image.NewGray(image.Rect(0, 0, 2, 2)), 0, "resolution 0"},
		{"negative resolution", image.NewGray(image.Rect(0, 0, 2, 2)), -3, "resolution -3"},
		{"huge resolution", image.NewGray(image.Rect(0, 0, 2, 2)), 1 << 20, "resolution"},
		{"huge image", &image.Gray{Rect: image.Rect(0, 0, 1<<15, 1<<15)}, 64, "too large"},
	} {
		_, err := Preprocess(tc.img, tc.res)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Preprocess error %v, want one containing %q", tc.name, err, tc.want)
		}
	}

	for _, tc := range []struct {
		name string
		n    int
		h, w int
		want string
	}{
		{"short", 11, 2, 2, "got 11 values, want 3×2×2 = 12"},
		{"long", 13, 2, 2, "got 13 values"},
		{"zero height", 0, 0, 4, "invalid size"},
		{"negative width", 12, 2, -2, "invalid size"},
		{"huge", 12, 1 << 15, 1 << 15, "too large"},
	} {
		_, err := PixelsToImage(make([]float32, tc.n), tc.h, tc.w)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: PixelsToImage error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// BenchmarkPreprocess times the whole pre-processing of a 1024×768 photo
// (as image/png would decode it: *image.RGBA) to the released model's 256.
func BenchmarkPreprocess(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	img := image.NewRGBA(image.Rect(0, 0, 1024, 768))
	copy(img.Pix, randBytes(r, len(img.Pix)))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0xff
	}
	b.SetBytes(int64(len(img.Pix)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Preprocess(img, 256); err != nil {
			b.Fatal(err)
		}
	}
}
