package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"gorgonia.org/tensor"
)

// goldenDir holds the official tokenizer's outputs for a small config of the
// released structure (REFERENCE §7).
const goldenDir = "../testdata/vqgan"

type goldenCase struct {
	Image      string    `json:"image"`
	Tokens     []int     `json:"tokens"`
	Margins    []float64 `json:"code_margins"`
	Pixels     string    `json:"pixels"`
	Latent     string    `json:"latent"`
	Decoded    string    `json:"decoded"`
	DecodedPNG string    `json:"decoded_png"`
}

type goldenFile struct {
	Cases []goldenCase `json:"cases"`
}

func readGolden(t testing.TB) goldenFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("expected.json has no cases")
	}
	return g
}

func readF32(t testing.TB, name string) []float32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes is not a whole number of float32", name, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func readPNG(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		if d := math.Abs(float64(a[i]) - float64(b[i])); d > m || d != d {
			m = d
		}
	}
	return m
}

// goldenTokenizers loads the golden model once from each checkpoint format.
var goldenTokenizers = sync.OnceValues(func() (map[string]*Tokenizer, error) {
	out := map[string]*Tokenizer{}
	for _, w := range []string{"model.safetensors", "pytorch_model.bin"} {
		tk, err := LoadFiles(filepath.Join(goldenDir, "config.json"), filepath.Join(goldenDir, w))
		if err != nil {
			return nil, err
		}
		out[w] = tk
	}
	return out, nil
})

func loadGolden(t testing.TB) map[string]*Tokenizer {
	t.Helper()
	tks, err := goldenTokenizers()
	if err != nil {
		t.Fatal(err)
	}
	return tks
}

// TestGoldenLatentAndTokens feeds the official preprocessed pixels and
// compares the latent after quant_conv (max abs error ≤ 1e-4) and the ids
// (equal wherever the official best/second-best gap is ≥ 1e-4).
func TestGoldenLatentAndTokens(t *testing.T) {
	g := readGolden(t)
	for wname, tk := range loadGolden(t) {
		R, E, gs := tk.Resolution(), tk.EmbedDim(), tk.GridSize()
		for _, c := range g.Cases {
			t.Run(wname+"/"+c.Image, func(t *testing.T) {
				pix := readF32(t, c.Pixels)
				want := readF32(t, c.Latent)
				x := tensor.New(tensor.WithShape(1, 3, R, R), tensor.WithBacking(pix))
				lat, err := tk.Latent(x)
				if err != nil {
					t.Fatal(err)
				}
				if got := []int(lat.Shape()); !equalShape(got, []int{1, E, gs, gs}) {
					t.Fatalf("latent shape %v", got)
				}
				got := lat.Data().([]float32)
				d := maxAbsDiff(got, want)
				t.Logf("latent after quant_conv: max |Δ| = %.3g over %d values", d, len(want))
				if d > 1e-4 {
					t.Errorf("latent max abs error %.3g > 1e-4", d)
				}
				codes, err := tk.EncodeTensor(x)
				if err != nil {
					t.Fatal(err)
				}
				ids := codes.Data().([]int)
				checkTokens(t, ids, c.Tokens, c.Margins)
				ids2, err := tk.EncodePixels(pix, R, R)
				if err != nil {
					t.Fatal(err)
				}
				checkTokens(t, ids2, c.Tokens, c.Margins)
			})
		}
	}
}

func checkTokens(t *testing.T, got, want []int, margins []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tokens, want %d", len(got), len(want))
	}
	diff, minMargin := 0, math.Inf(1)
	for i := range want {
		minMargin = math.Min(minMargin, margins[i])
		if got[i] != want[i] {
			diff++
			if margins[i] >= 1e-4 {
				t.Errorf("token %d: got %d, want %d (margin %.3g ≥ 1e-4)", i, got[i], want[i], margins[i])
			}
		}
	}
	t.Logf("tokens: %d/%d differ (smallest expected best/second-best margin %.3g)", diff, len(want), minMargin)
}

// TestGoldenEncodeImage runs the whole path from the PNG (RGB conversion and
// Pillow-exact resize included) to the ids.
func TestGoldenEncodeImage(t *testing.T) {
	g := readGolden(t)
	tk := loadGolden(t)["model.safetensors"]
	imgs := make([]image.Image, len(g.Cases))
	for i, c := range g.Cases {
		imgs[i] = readPNG(t, c.Image)
	}
	got, err := tk.EncodeBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range g.Cases {
		t.Run(c.Image, func(t *testing.T) { checkTokens(t, got[i], c.Tokens, c.Margins) })
	}
}

// TestGoldenDecode decodes the expected ids: raw decoder output within 1e-4
// of the official one, the PNG within 1 grey level.
func TestGoldenDecode(t *testing.T) {
	g := readGolden(t)
	for wname, tk := range loadGolden(t) {
		R := tk.Resolution()
		for _, c := range g.Cases {
			t.Run(wname+"/"+c.Image, func(t *testing.T) {
				want := readF32(t, c.Decoded)
				raw, err := tk.DecodePixels(c.Tokens)
				if err != nil {
					t.Fatal(err)
				}
				d := maxAbsDiff(raw, want)
				t.Logf("decoded (before clamp): max |Δ| = %.3g over %d values", d, len(want))
				if d > 1e-4 {
					t.Errorf("decoded max abs error %.3g > 1e-4", d)
				}

				// The same through the tensor API (codes → latent → pixels).
				codes := tensor.New(tensor.WithShape(1, len(c.Tokens)), tensor.WithBacking(append([]int(nil), c.Tokens...)))
				lat, err := tk.Lookup(codes)
				if err != nil {
					t.Fatal(err)
				}
				rawT, err := tk.DecodeLatent(lat)
				if err != nil {
					t.Fatal(err)
				}
				if got := []int(rawT.Shape()); !equalShape(got, []int{1, 3, R, R}) {
					t.Fatalf("DecodeLatent shape %v", got)
				}
				if d := maxAbsDiff(rawT.Data().([]float32), want); d > 1e-4 {
					t.Errorf("Lookup+DecodeLatent max abs error %.3g > 1e-4", d)
				}
				clamped, err := tk.DecodeTensor(codes)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range clamped.Data().([]float32) {
					w := min(max(want[i], 0), 1)
					if math.Abs(float64(v-w)) > 1e-4 {
						t.Fatalf("DecodeTensor value %d = %v, want clamp(%v) = %v", i, v, want[i], w)
					}
				}

				img, err := tk.Decode(c.Tokens)
				if err != nil {
					t.Fatal(err)
				}
				ref := readPNG(t, c.DecodedPNG)
				if img.Bounds() != ref.Bounds() {
					t.Fatalf("decoded image bounds %v, want %v", img.Bounds(), ref.Bounds())
				}
				maxDiff, nDiff := 0, 0
				b := ref.Bounds()
				for y := b.Min.Y; y < b.Max.Y; y++ {
					for x := b.Min.X; x < b.Max.X; x++ {
						r1, g1, b1, _ := img.At(x, y).RGBA()
						r2, g2, b2, _ := ref.At(x, y).RGBA()
						for _, p := range [][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}} {
							d := int(p[0]>>8) - int(p[1]>>8)
							if d < 0 {
								d = -d
							}
							if d > 0 {
								nDiff++
							}
							maxDiff = max(maxDiff, d)
						}
					}
				}
				t.Logf("decoded PNG: max |Δ| = %d grey levels, %d of %d samples differ", maxDiff, nDiff, 3*b.Dx()*b.Dy())
				if maxDiff > 1 {
					t.Errorf("decoded PNG differs by %d grey levels (> 1)", maxDiff)
				}
			})
		}
	}
}

// TestConcurrentUse runs encodes and decodes from several goroutines at once
// on one Tokenizer; every result must equal the sequential one.
func TestConcurrentUse(t *testing.T) {
	g := readGolden(t)
	tk := loadGolden(t)["model.safetensors"]
	R := tk.Resolution()
	type result struct {
		ids []int
		pix []float32
	}
	want := make([]result, len(g.Cases))
	for i, c := range g.Cases {
		ids, err := tk.EncodePixels(readF32(t, c.Pixels), R, R)
		if err != nil {
			t.Fatal(err)
		}
		pix, err := tk.DecodePixels(c.Tokens)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = result{ids, pix}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for rep := 0; rep < 2; rep++ {
				i := (w + rep) % len(g.Cases)
				c := g.Cases[i]
				ids, err := tk.EncodePixels(readF32(t, c.Pixels), R, R)
				if err != nil {
					errs <- err.Error()
					return
				}
				pix, err := tk.DecodePixels(c.Tokens)
				if err != nil {
					errs <- err.Error()
					return
				}
				for p := range ids {
					if ids[p] != want[i].ids[p] {
						errs <- fmt.Sprintf("goroutine %d, %s: token %d = %d, want %d", w, c.Image, p, ids[p], want[i].ids[p])
						return
					}
				}
				if d := maxAbsDiff(pix, want[i].pix); d != 0 {
					errs <- fmt.Sprintf("goroutine %d, %s: decoded differs by %.3g", w, c.Image, d)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
