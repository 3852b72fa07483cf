package tokenizer

import (
	"image"
	"image/color"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
)

// releasedRandom is the released configuration with random weights, built
// once for all benchmarks (about 0.6 GB).
var releasedRandom = sync.OnceValues(func() (*Tokenizer, error) {
	return NewRandom(ReleasedConfig(), 1)
})

func benchTokenizer(b *testing.B) *Tokenizer {
	b.Helper()
	if n := NumParameters(ReleasedConfig()); n != 146244675 {
		b.Fatalf("released config has %d parameters, want 146,244,675", n)
	}
	tk, err := releasedRandom()
	if err != nil {
		b.Fatal(err)
	}
	return tk
}

// benchImage is a 256×256 RGB image of smooth gradients plus noise.
func benchImage() image.Image {
	rng := rand.New(rand.NewPCG(1, 1))
	img := image.NewNRGBA(image.Rect(0, 0, 256, 256))
	for y := 0; y < 256; y++ {
		for x := 0; x < 256; x++ {
			n := uint8(rng.IntN(32))
			img.SetNRGBA(x, y, color.NRGBA{uint8(x) / 2, uint8(y) / 2, uint8(x+y)/4 + n, 255})
		}
	}
	return img
}

// BenchmarkEncode256 encodes one 256×256 image (resize, encoder, quantizer)
// with the released configuration.
func BenchmarkEncode256(b *testing.B) {
	tk := benchTokenizer(b)
	img := benchImage()
	cpu0 := processCPUSeconds()
	for b.Loop() {
		if _, err := tk.Encode(img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((processCPUSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

// BenchmarkDecode256 decodes one grid of 256 ids into a 256×256 image with
// the released configuration.
func BenchmarkDecode256(b *testing.B) {
	tk := benchTokenizer(b)
	rng := rand.New(rand.NewPCG(2, 2))
	ids := make([]int, tk.TokensPerImage())
	for i := range ids {
		ids[i] = rng.IntN(tk.CodebookSize())
	}
	cpu0 := processCPUSeconds()
	for b.Loop() {
		if _, err := tk.Decode(ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((processCPUSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

// BenchmarkConv3x3 runs one stride-1 3×3 convolution of the first encoder
// level's shape (128 → 128 channels) at 128×128, by each method (F(4,3)
// only where the AVX-512 kernels are).
func BenchmarkConv3x3(b *testing.B) {
	const C, S = 128, 128
	rng := rand.New(rand.NewPCG(3, 3))
	p := map[string][]float32{"c.weight": randF32(rng, C*C*9, -0.03, 0.03), "c.bias": randF32(rng, C, -0.1, 0.1)}
	x := act{h: S, w: S, c: C, d: randF32(rng, S*S*C, -1, 1)}
	for _, m := range []struct {
		name string
		b    builder
	}{
		{"F(4,3)", builder{size: S}},
		{"F(2,3)", builder{noW4: true}},
		{"im2col", builder{noWinograd: true}},
		{"im2col-MatMulNT", builder{noWinograd: true, noPacked: true}},
	} {
		b.Run(m.name, func(b *testing.B) {
			m.b.src = &mapSource{params: p}
			cv := m.b.conv("c", C, C, 3, geomSame)
			ws := &workspace{}
			cpu0 := processCPUSeconds()
			for b.Loop() {
				ws.put(cv.forward(ws, x, geomSame, nil).d)
			}
			b.ReportMetric((processCPUSeconds()-cpu0)/float64(b.N)*1e3, "cpu-ms/op")
			b.ReportMetric(float64(2*S*S*C*C*9)/((processCPUSeconds()-cpu0)/float64(b.N))/1e9, "eff-GFLOP/cpu-s")
		})
	}
}

// BenchmarkGroupNormSiLU normalises a 128×128×128 activation with SiLU.
func BenchmarkGroupNormSiLU(b *testing.B) {
	const C, S = 128, 128
	rng := rand.New(rand.NewPCG(4, 4))
	n := norm{c: C, gamma: randF32(rng, C, 0.5, 1.5), beta: randF32(rng, C, -0.5, 0.5)}
	x := randF32(rng, S*S*C, -3, 3)
	y := make([]float32, len(x))
	cpu0 := processCPUSeconds()
	for b.Loop() {
		n.forward(y, x, true)
	}
	b.ReportMetric((processCPUSeconds()-cpu0)/float64(b.N)/float64(len(x))*1e9, "cpu-ns/elem")
}

// BenchmarkPackedGemm runs the packed product kernel alone on one thread:
// 192 rows (32 register tiles) against four panels (256 output channels),
// for the k of the F(4,3) layers (Cin = 128, 256, 512).
func BenchmarkPackedGemm(b *testing.B) {
	if !haveAVX512 {
		b.Skip("no AVX-512 kernels on this machine")
	}
	for _, k := range []int{128, 256, 512} {
		b.Run("k="+strconv.Itoa(k), func(b *testing.B) {
			const mt, np = 32, 4
			rng := rand.New(rand.NewPCG(5, 5))
			a := randF32(rng, w4Rows*mt*k, -1, 1)
			u := randF32(rng, np*k*w4Panel, -1, 1)
			c := make([]float32, w4Rows*mt*np*w4Panel)
			cpu0 := processCPUSeconds()
			for b.Loop() {
				for q := 0; q < np; q++ {
					w4gemmAsm(c[q*w4Panel:], np*w4Panel, a, k, u[q*k*w4Panel:], k, mt, nil)
				}
			}
			flops := float64(2*w4Rows*mt*k*np*w4Panel) * float64(b.N)
			b.ReportMetric(flops/(processCPUSeconds()-cpu0)/1e9, "GFLOP/cpu-s")
		})
	}
}
