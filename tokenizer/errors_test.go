package tokenizer

import (
	"encoding/binary"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/half"
	"github.com/lvm-go/lvm/internal/weights"
	"gorgonia.org/tensor"
)

func openGoldenSet(t testing.TB) *weights.Set {
	t.Helper()
	set, err := weights.Open(filepath.Join(goldenDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// writeCheckpoint writes a copy of the golden checkpoint into a temporary
// directory, with edit applied to the tensor list, and returns the directory.
func writeCheckpoint(t *testing.T, edit func([]*weights.Tensor) []*weights.Tensor) string {
	t.Helper()
	set := openGoldenSet(t)
	defer set.Close()
	var ts []*weights.Tensor
	for _, n := range set.Names() {
		tt, err := set.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		c := *tt
		c.Shape = append([]int(nil), tt.Shape...)
		c.Data = append([]byte(nil), tt.Data...)
		ts = append(ts, &c)
	}
	dir := t.TempDir()
	if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), edit(ts), nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(goldenDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func([]*weights.Tensor) []*weights.Tensor
		want []string // substrings of the error
	}{
		{"missing tensor", func(ts []*weights.Tensor) []*weights.Tensor {
			var out []*weights.Tensor
			for _, x := range ts {
				if x.Name != "decoder.up.2.block.1.conv2.weight" {
					out = append(out, x)
				}
			}
			return out
		}, []string{"decoder.up.2.block.1.conv2.weight"}},
		{"mismatched shape", func(ts []*weights.Tensor) []*weights.Tensor {
			for _, x := range ts {
				if x.Name == "quantize.embedding.weight" {
					x.Shape = []int{256, 32} // same element count, wrong shape
				}
			}
			return ts
		}, []string{"quantize.embedding.weight", "[256, 32]", "[512, 16]"}},
		{"float16 checkpoint loads", func(ts []*weights.Tensor) []*weights.Tensor {
			for _, x := range ts {
				v, err := x.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				x.DType, x.Data = weights.F16, make([]byte, 2*len(v))
				for i, f := range v {
					binary.LittleEndian.PutUint16(x.Data[2*i:], half.F32ToF16(f))
				}
			}
			return ts
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeCheckpoint(t, c.edit)
			tk, err := Load(dir)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				// Half-precision weights: the latent moves by about the
				// fp16 rounding of the weights, no more.
				R := tk.Resolution()
				lat, err := tk.Latent(tensor.New(tensor.WithShape(1, 3, R, R), tensor.WithBacking(readF32(t, "exact.pixels.f32"))))
				if err != nil {
					t.Fatal(err)
				}
				d := maxAbsDiff(lat.Data().([]float32), readF32(t, "exact.latent.f32"))
				t.Logf("fp16 weights: latent max |Δ| = %.3g from the fp32 golden", d)
				if d > 1e-2 {
					t.Errorf("fp16 weights: latent max abs error %.3g > 1e-2", d)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("%v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := Load("no/such/dir"); err == nil {
		t.Error("missing directory: no error")
	}
	if _, err := Load(filepath.Join(goldenDir, "config.json")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as directory: %v", err)
	}
	empty := t.TempDir()
	if _, err := Load(empty); err == nil {
		t.Error("empty directory: no error")
	}
	if _, err := LoadFiles(filepath.Join(goldenDir, "config.json"), filepath.Join(goldenDir, "expected.json")); err == nil {
		t.Error("JSON as weights: no error")
	} else {
		t.Logf("JSON as weights: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	cfg := archCases[1].cfg
	p := randomParams(cfg, 1)
	if _, err := New(cfg, p); err != nil {
		t.Fatal(err)
	}
	delete(p, "decoder.conv_out.bias")
	if _, err := New(cfg, p); err == nil || !strings.Contains(err.Error(), "decoder.conv_out.bias") {
		t.Errorf("missing parameter: %v", err)
	}
	p = randomParams(cfg, 1)
	p["encoder.conv_in.weight"] = p["encoder.conv_in.weight"][1:]
	if _, err := New(cfg, p); err == nil || !strings.Contains(err.Error(), "encoder.conv_in.weight") {
		t.Errorf("short parameter: %v", err)
	}
	bad := cfg.clone()
	bad.HiddenChannels = 20
	if _, err := New(bad, randomParams(cfg, 1)); err == nil || !strings.Contains(err.Error(), "hidden_channels") {
		t.Errorf("bad config: %v", err)
	}
}

func TestBadInputErrors(t *testing.T) {
	tk := loadGolden(t)["model.safetensors"]
	T, K := tk.TokensPerImage(), tk.CodebookSize()
	good := make([]int, T)
	f32 := func(shape ...int) *tensor.Dense {
		n := 1
		for _, d := range shape {
			n *= d
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, n)))
	}
	withID := func(pos, id int) []int {
		x := append([]int(nil), good...)
		x[pos] = id
		return x
	}
	nanPix := make([]float32, 3*64*64)
	nanPix[2*64*64+5*64+7] = float32(math.NaN())
	cases := []struct {
		name string
		run  func() error
		want []string
	}{
		{"nil image", func() error { _, err := tk.Encode(nil); return err }, []string{"nil"}},
		{"zero-size image", func() error { _, err := tk.Encode(image.NewRGBA(image.Rect(0, 0, 0, 5))); return err }, []string{"0"}},
		{"batch names the image", func() error {
			_, err := tk.EncodeBatch([]image.Image{image.NewRGBA(image.Rect(0, 0, 4, 4)), nil})
			return err
		}, []string{"image 1"}},
		{"too few tokens", func() error { _, err := tk.Decode(good[:T-1]); return err }, []string{"15 tokens", "want 16", "4×4"}},
		{"too many tokens", func() error { _, err := tk.Decode(append(good, 0)); return err }, []string{"17 tokens"}},
		{"id above codebook", func() error { _, err := tk.Decode(withID(6, K)); return err }, []string{"512", "position 6", "row 1, col 2"}},
		{"negative id", func() error { _, err := tk.DecodePixels(withID(15, -3)); return err }, []string{"-3", "position 15"}},
		{"batch decode names the image", func() error { _, err := tk.DecodeBatch([][]int{good, withID(0, K+7)}); return err }, []string{"image 1", "519"}},
		{"nil pixels tensor", func() error { _, err := tk.EncodeTensor(nil); return err }, []string{"nil"}},
		{"nil codes tensor", func() error { _, err := tk.DecodeTensor(nil); return err }, []string{"nil"}},
		{"nil latent tensor", func() error { _, err := tk.DecodeLatent(nil); return err }, []string{"nil"}},
		{"pixels rank", func() error { _, err := tk.EncodeTensor(f32(3, 64, 64)); return err }, []string{"[3 64 64]", "rank 4"}},
		{"pixels channels", func() error { _, err := tk.Latent(f32(1, 4, 64, 64)); return err }, []string{"4 channels"}},
		{"pixels size not a multiple", func() error { _, err := tk.EncodeTensor(f32(1, 3, 64, 40)); return err }, []string{"64×40", "16"}},
		{"pixels dtype", func() error {
			_, err := tk.EncodeTensor(tensor.New(tensor.WithShape(1, 3, 64, 64), tensor.WithBacking(make([]float64, 3*64*64))))
			return err
		}, []string{"float64", "float32"}},
		{"NaN pixel", func() error { _, err := tk.EncodePixels(nanPix, 64, 64); return err }, []string{"channel 2, row 5, col 7", "NaN"}},
		{"pixel count", func() error { _, err := tk.EncodePixels(nanPix[:100], 64, 64); return err }, []string{"100 pixel values"}},
		{"codes dtype", func() error {
			_, err := tk.DecodeTensor(tensor.New(tensor.WithShape(1, T), tensor.WithBacking(make([]float32, T))))
			return err
		}, []string{"float32", "int"}},
		{"codes shape", func() error {
			_, err := tk.DecodeTensor(tensor.New(tensor.WithShape(2, 8), tensor.WithBacking(make([]int, 16))))
			return err
		}, []string{"[2 8]", "8 tokens", "want 16"}},
		{"codes out of range (int64)", func() error {
			ids := make([]int64, 2*T)
			ids[T+3] = 1 << 40
			_, err := tk.Lookup(tensor.New(tensor.WithShape(2, T), tensor.WithBacking(ids)))
			return err
		}, []string{"image 1", "1099511627776", "position 3"}},
		{"latent channels", func() error { _, err := tk.DecodeLatent(f32(1, 15, 4, 4)); return err }, []string{"15 channels", "E = 16"}},
		{"latent NaN", func() error {
			x := f32(1, 16, 4, 4)
			x.Data().([]float32)[9] = float32(math.Inf(1))
			_, err := tk.Quantize(x)
			return err
		}, []string{"+Inf"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				err = c.run()
			}()
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("%v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestLoadDirectoryWithTorchOnly loads a directory holding only config.json
// and pytorch_model.bin.
func TestLoadDirectoryWithTorchOnly(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"config.json", "pytorch_model.bin"} {
		b, err := os.ReadFile(filepath.Join(goldenDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := readGolden(t)
	ids, err := tk.EncodePixels(readF32(t, g.Cases[0].Pixels), tk.Resolution(), tk.Resolution())
	if err != nil {
		t.Fatal(err)
	}
	checkTokens(t, ids, g.Cases[0].Tokens, g.Cases[0].Margins)
}
