package tokenizer

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// pilDir holds the fixtures made by testdata/pil/gen.py with Pillow.
const pilDir = "testdata/pil"

type pilCase struct {
	Kind     string `json:"kind"` // "convert" or "resize"
	Name     string `json:"name"`
	Input    string `json:"input"`
	W        int    `json:"w"`
	H        int    `json:"h"`
	NW       int    `json:"nw"`
	NH       int    `json:"nh"`
	Expected string `json:"expected"`
	PILMode  string `json:"pil_mode"`
}

type pilManifest struct {
	Pillow string    `json:"pillow"`
	Cases  []pilCase `json:"cases"`
	Post   struct {
		Values   string `json:"values"`
		Expected string `json:"expected"`
		Count    int    `json:"count"`
	} `json:"post"`
}

func loadPILManifest(t testing.TB) pilManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(pilDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m pilManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s/manifest.json: %v", pilDir, err)
	}
	return m
}

func decodePNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// byteDiff counts differing bytes and the largest absolute difference.
func byteDiff(a, b []uint8) (n, maxAbs int) {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		if d != 0 {
			n++
			maxAbs = max(maxAbs, d)
		}
	}
	return n, maxAbs
}

// TestResizePillowFixtures checks rgbBytes+resizeBicubic against Pillow's
// Image.open(png).convert('RGB').resize((nw, nh)) byte for byte.
func TestResizePillowFixtures(t *testing.T) {
	m := loadPILManifest(t)
	total, passed := 0, 0
	for _, c := range m.Cases {
		if c.Kind != "resize" {
			continue
		}
		total++
		t.Run(c.Name, func(t *testing.T) {
			img := decodePNG(t, filepath.Join(pilDir, c.Input))
			pix, w, h, err := rgbBytes(img)
			if err != nil {
				t.Fatal(err)
			}
			if w != c.W || h != c.H {
				t.Fatalf("decoded %dx%d, manifest says %dx%d", w, h, c.W, c.H)
			}
			got := resizeBicubic(pix, w, h, c.NW, c.NH)
			want := readFile(t, filepath.Join(pilDir, c.Expected))
			if len(got) != len(want) {
				t.Fatalf("%dx%d→%dx%d: got %d bytes, want %d", w, h, c.NW, c.NH, len(got), len(want))
			}
			if n, d := byteDiff(got, want); n != 0 {
				t.Errorf("%dx%d→%dx%d (%T): %d of %d bytes differ from Pillow, max |diff| %d",
					w, h, c.NW, c.NH, img, n, len(want), d)
				return
			}
			passed++
		})
	}
	t.Logf("resize: %d/%d Pillow %s cases byte-exact", passed, total, m.Pillow)
	if total == 0 {
		t.Fatal("no resize cases in the manifest")
	}
}

func TestResizeSkipsAndCopies(t *testing.T) {
	src := []uint8{10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120}
	got := resizeBicubic(src, 2, 2, 2, 2)
	if !bytes.Equal(got, src) {
		t.Fatalf("same size: got %v, want %v", got, src)
	}
	got[0] = 99
	if src[0] != 10 {
		t.Fatal("same-size resize aliases its input")
	}
	// A constant image stays constant through both passes, any direction.
	for _, sz := range [][4]int{{5, 7, 3, 11}, {9, 2, 9, 6}, {4, 4, 17, 4}, {300, 2, 33, 17}} {
		w, h, nw, nh := sz[0], sz[1], sz[2], sz[3]
		in := bytes.Repeat([]uint8{0, 128, 255}, w*h)
		out := resizeBicubic(in, w, h, nw, nh)
		if want := bytes.Repeat([]uint8{0, 128, 255}, nw*nh); !bytes.Equal(out, want) {
			t.Errorf("constant %dx%d→%dx%d not preserved", w, h, nw, nh)
		}
	}
}

func TestResizeBadArguments(t *testing.T) {
	src := make([]uint8, 3*4*4)
	for _, tc := range []struct {
		name         string
		src          []uint8
		w, h, nw, nh int
	}{
		{"zero width", src, 0, 4, 2, 2},
		{"negative height", src, 4, -1, 2, 2},
		{"zero target", src, 4, 4, 0, 2},
		{"short source", src[:10], 4, 4, 2, 2},
		{"nil source", nil, 4, 4, 2, 2},
	} {
		if got := resizeBicubic(tc.src, tc.w, tc.h, tc.nw, tc.nh); got != nil {
			t.Errorf("%s: got %d bytes, want nil", tc.name, len(got))
		}
	}
}

// TestBicubicCoeffsNormalised checks the fixed-point weights of each output
// sample sum to one within rounding (one unit per tap) and stay inside the
// source.
func TestBicubicCoeffsNormalised(t *testing.T) {
	for _, tc := range []struct{ in, out int }{{96, 64}, {48, 64}, {7, 64}, {300, 33}, {1, 5}, {1000, 10}, {1024, 256}} {
		c := bicubicCoeffs(tc.in, tc.out)
		worst := int32(0)
		for i := 0; i < tc.out; i++ {
			if c.start[i] < 0 || c.start[i]+c.n[i] > tc.in || c.n[i] > c.ksize || c.n[i] < 1 {
				t.Fatalf("%d→%d: output %d has window [%d,+%d) (ksize %d)", tc.in, tc.out, i, c.start[i], c.n[i], c.ksize)
			}
			var s int32
			for _, k := range c.k[i*c.ksize : i*c.ksize+c.n[i]] {
				s += k
			}
			d := s - 1<<precisionBits
			if d < 0 {
				d = -d
			}
			worst = max(worst, d)
			if int(d) > c.n[i] {
				t.Errorf("%d→%d: output %d weights sum to %d, want %d±%d", tc.in, tc.out, i, s, 1<<precisionBits, c.n[i])
			}
		}
		t.Logf("%d→%d: ksize %d, worst |Σk − 2^22| = %d", tc.in, tc.out, c.ksize, worst)
	}
}
