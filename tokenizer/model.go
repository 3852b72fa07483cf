package tokenizer

import (
	"fmt"
	"math"
	"strconv"
)

// The network is held as small layer structs whose weights are already in the
// layout the forward code wants (see conv). Activations are channels-last
// (HWC: element (y, x, c) at (y·W + x)·C + c) inside the package; conversion
// from and to the public CHW layout happens once at the edges.

// conv is a 2-D convolution with a bias b [Cout]. Its weight is held in
// exactly one of three layouts, chosen once at load time:
//
//   - w, [Cout, kh, kw, Cin] (PyTorch's [Cout, Cin, kh, kw] permuted), so that
//     a row of w lines up with a channels-last im2col patch; 1×1 convolutions
//     and strided or thin 3×3 ones use it.
//   - u, [16, Cout, Cin]: the Winograd F(2×2, 3×3) transform G·g·Gᵀ of every
//     3×3 kernel g (see winograd.go), for stride-1 3×3 convolutions; where
//     the AVX-512 kernels run (upk), each U_ξ is in panels of 64 output
//     channels instead, [16, ⌈Cout/64⌉, Cin, 64].
//   - u4, [36, ⌈Cout/64⌉, Cin, 64]: the F(4×4, 3×3) transform of every 3×3
//     kernel in panels of 64 output channels (see wino4.go), for the
//     stride-1 3×3 convolutions useWinograd4 accepts.
//
// and, where the AVX-512 kernels run, w is replaced by wp, [Cout/64, kh·kw·Cin,
// 64]: w in panels of 64 output channels for the packed product kernel
// (Cout a multiple of 64; see usePacked).
type conv struct {
	cout, cin, k int
	w            []float32
	wp           []float32
	u            []float32
	u4           []float32
	b            []float32
	// rgb selects the three-output kernel for w (see rgbconv.go); upk
	// says that u is packed for the packed product kernel.
	rgb, upk bool
}

// norm is an affine GroupNorm (32 groups, eps 1e-6) over c channels.
type norm struct {
	c           int
	gamma, beta []float32
}

// resBlock is a ResnetBlock; nin is the 1×1 shortcut, nil when in == out.
type resBlock struct {
	norm1, norm2 norm
	conv1, conv2 conv
	nin          *conv
}

// attnBlock is single-head spatial self-attention with 1×1 q, k, v and
// proj_out convolutions and a residual connection.
type attnBlock struct {
	norm           norm
	q, k, v, projO conv
}

// midBlock is block_1, the optional attn_1, then block_2.
type midBlock struct {
	block1, block2 resBlock
	attn           *attnBlock
}

// level is one encoder "down.i" or decoder "up.i" stage: its ResnetBlocks,
// their attention blocks (run only when applyAttn: open-muse runs them only
// when a level has more than one), and the resampling step.
type level struct {
	blocks    []resBlock
	attns     []attnBlock
	applyAttn bool
	resample  bool  // downsample (encoder) or upsample (decoder) at the end
	rconv     *conv // its convolution; nil when resample_with_conv is false
}

type encoder struct {
	convIn  conv
	levels  []level
	mid     midBlock
	normOut norm
	convOut conv
}

type decoder struct {
	convIn  conv
	mid     midBlock
	levels  []level // levels[i] is "up.i"; run from the last to the first
	normOut norm
	convOut conv
}

// model is the whole VQGAN. codebook is [K, E] row-major; codeNorms[j] is
// ‖codebook[j]‖² in float64.
type model struct {
	enc           encoder
	dec           decoder
	quantConv     conv
	postQuantConv conv
	codebook      []float32
	codeNorms     []float64
	maxCodeNorm   float64 // max_j ‖codebook[j]‖ (not squared)
}

// paramSource supplies checkpoint tensors, in PyTorch layout, by name. fetch
// returns nil (and records an error) when the tensor cannot be supplied;
// a source may also return nil deliberately (to only enumerate names).
type paramSource interface {
	fetch(name string, shape []int) []float32
	err() error
}

// builder walks the network in state_dict order, asking src for every
// parameter and laying each out for the forward code.
type builder struct {
	src paramSource
	// noWinograd keeps every 3×3 weight in the im2col layout, noW4 rules
	// out F(4,3) and noPacked the packed im2col layout (tests use them to
	// compare the convolution methods).
	noWinograd, noW4, noPacked bool
	// size is the side of the image the layers being built act on at the
	// configured resolution (0 when unknown): F(4,3) is chosen only for
	// layers at least w4MinSize wide.
	size int
}

// conv reads a k×k convolution that will run with geometry g and lays its
// weight out for the method that will run it.
func (b *builder) conv(name string, cout, cin, k int, g convGeom) conv {
	c := conv{cout: cout, cin: cin, k: k}
	w := b.src.fetch(name+".weight", []int{cout, cin, k, k})
	c.b = b.src.fetch(name+".bias", []int{cout})
	switch {
	case w == nil:
	case k == 3 && g != geomDown && useWinograd4(cin, cout) && b.size >= w4MinSize && !b.noWinograd && !b.noW4:
		c.u4 = w4Weights(w, cout, cin)
	case k == 3 && g != geomDown && useWinograd(cin, cout) && !b.noWinograd:
		c.upk = w4Enabled && !b.noPacked
		c.u = winogradWeights(w, cout, cin, c.upk)
	case k == 3 && g == geomSame && useRGBConv(cin, cout) && !b.noPacked:
		c.w = permuteConvWeight(w, cout, cin, k)
		c.rgb = true
	case usePacked(cout) && !b.noPacked:
		c.wp = packPanels(permuteConvWeight(w, cout, cin, k), cout, k*k*cin)
	default:
		c.w = permuteConvWeight(w, cout, cin, k)
	}
	return c
}

// permuteConvWeight turns [Cout, Cin, k, k] into [Cout, k, k, Cin].
func permuteConvWeight(w []float32, cout, cin, k int) []float32 {
	if k == 1 {
		return w
	}
	out := make([]float32, len(w))
	kk := k * k
	for o := 0; o < cout; o++ {
		src := w[o*cin*kk : (o+1)*cin*kk]
		dst := out[o*cin*kk : (o+1)*cin*kk]
		for i := 0; i < cin; i++ {
			for p := 0; p < kk; p++ {
				dst[p*cin+i] = src[i*kk+p]
			}
		}
	}
	return out
}

func (b *builder) norm(name string, c int) norm {
	return norm{
		c:     c,
		gamma: b.src.fetch(name+".weight", []int{c}),
		beta:  b.src.fetch(name+".bias", []int{c}),
	}
}

func (b *builder) resBlock(name string, in, out int) resBlock {
	r := resBlock{
		norm1: b.norm(name+".norm1", in),
		conv1: b.conv(name+".conv1", out, in, 3, geomSame),
		norm2: b.norm(name+".norm2", out),
		conv2: b.conv(name+".conv2", out, out, 3, geomSame),
	}
	if in != out {
		nin := b.conv(name+".nin_shortcut", out, in, 1, geomSame)
		r.nin = &nin
	}
	return r
}

func (b *builder) attn(name string, c int) attnBlock {
	return attnBlock{
		norm:  b.norm(name+".norm", c),
		q:     b.conv(name+".q", c, c, 1, geomSame),
		k:     b.conv(name+".k", c, c, 1, geomSame),
		v:     b.conv(name+".v", c, c, 1, geomSame),
		projO: b.conv(name+".proj_out", c, c, 1, geomSame),
	}
}

func (b *builder) mid(name string, c int, withAttn bool) midBlock {
	m := midBlock{block1: b.resBlock(name+".block_1", c, c)}
	if withAttn {
		a := b.attn(name+".attn_1", c)
		m.attn = &a
	}
	m.block2 = b.resBlock(name+".block_2", c, c)
	return m
}

// build constructs the model from src. The walk order is the state_dict
// order of open-muse's VQGANModel.
func build(cfg Config, src paramSource) (*model, error) {
	return (&builder{src: src}).build(cfg)
}

// build is build with the builder's choice of convolution layouts.
func (b *builder) build(cfg Config) (*model, error) {
	src := b.src
	m := &model{}
	L := cfg.Levels()

	// Encoder.
	e := &m.enc
	b.size = cfg.Resolution
	e.convIn = b.conv("encoder.conv_in", cfg.HiddenChannels, cfg.NumChannels, 3, geomSame)
	res := cfg.Resolution
	e.levels = make([]level, L)
	for i := 0; i < L; i++ {
		p := "encoder.down." + strconv.Itoa(i)
		in := cfg.HiddenChannels
		if i > 0 {
			in = cfg.levelChannels(i - 1)
		}
		out := cfg.levelChannels(i)
		lv := &e.levels[i]
		b.size = res
		for j := 0; j < cfg.NumResBlocks; j++ {
			lv.blocks = append(lv.blocks, b.resBlock(p+".block."+strconv.Itoa(j), in, out))
			in = out
		}
		if cfg.hasAttn(res) {
			for j := 0; j < cfg.NumResBlocks; j++ {
				lv.attns = append(lv.attns, b.attn(p+".attn."+strconv.Itoa(j), out))
			}
			lv.applyAttn = len(lv.attns) > 1
		}
		if i != L-1 {
			lv.resample = true
			if cfg.ResampleWithConv {
				c := b.conv(p+".downsample.conv", out, out, 3, geomDown)
				lv.rconv = &c
			}
			res /= 2
		}
	}
	top := cfg.levelChannels(L - 1)
	b.size = res
	e.mid = b.mid("encoder.mid", top, !cfg.NoAttnMidBlock)
	e.normOut = b.norm("encoder.norm_out", top)
	e.convOut = b.conv("encoder.conv_out", cfg.ZChannels, top, 3, geomSame)

	// Decoder.
	d := &m.dec
	d.convIn = b.conv("decoder.conv_in", top, cfg.ZChannels, 3, geomSame)
	d.mid = b.mid("decoder.mid", top, !cfg.NoAttnMidBlock)
	d.levels = make([]level, L)
	for i := 0; i < L; i++ {
		p := "decoder.up." + strconv.Itoa(i)
		in := top
		if i < L-1 {
			in = cfg.levelChannels(i + 1)
		}
		out := cfg.levelChannels(i)
		lv := &d.levels[i]
		b.size = cfg.Resolution >> i
		for j := 0; j < cfg.NumResBlocks+1; j++ {
			lv.blocks = append(lv.blocks, b.resBlock(p+".block."+strconv.Itoa(j), in, out))
			in = out
		}
		if cfg.hasAttn(cfg.Resolution >> i) {
			for j := 0; j < cfg.NumResBlocks+1; j++ {
				lv.attns = append(lv.attns, b.attn(p+".attn."+strconv.Itoa(j), out))
			}
			lv.applyAttn = len(lv.attns) > 1
		}
		if i != 0 {
			lv.resample = true
			if cfg.ResampleWithConv {
				b.size = cfg.Resolution >> (i - 1)
				c := b.conv(p+".upsample.conv", out, out, 3, geomUp)
				lv.rconv = &c
			}
		}
	}
	b.size = cfg.Resolution
	d.normOut = b.norm("decoder.norm_out", cfg.levelChannels(0))
	d.convOut = b.conv("decoder.conv_out", cfg.NumChannels, cfg.levelChannels(0), 3, geomSame)

	// Quantizer and the 1×1 convolutions around it.
	K, E := cfg.NumEmbeddings, cfg.QuantizedEmbedDim
	m.codebook = src.fetch("quantize.embedding.weight", []int{K, E})
	m.quantConv = b.conv("quant_conv", E, cfg.ZChannels, 1, geomSame)
	m.postQuantConv = b.conv("post_quant_conv", cfg.ZChannels, E, 1, geomSame)

	if err := src.err(); err != nil {
		return nil, err
	}
	if m.codebook != nil {
		m.codeNorms = make([]float64, K)
		for j := 0; j < K; j++ {
			var s float64
			for _, v := range m.codebook[j*E : (j+1)*E] {
				s += float64(v) * float64(v)
			}
			m.codeNorms[j] = s
			m.maxCodeNorm = math.Max(m.maxCodeNorm, math.Sqrt(s))
		}
	}
	return m, nil
}

// paramSpec is the name and PyTorch shape of one checkpoint tensor.
type paramSpec struct {
	name  string
	shape []int
}

// specRecorder is a paramSource that only records what is asked for.
type specRecorder struct{ specs []paramSpec }

func (r *specRecorder) fetch(name string, shape []int) []float32 {
	r.specs = append(r.specs, paramSpec{name, append([]int(nil), shape...)})
	return nil
}
func (r *specRecorder) err() error { return nil }

// paramSpecs lists every tensor a checkpoint for cfg must hold, in
// state_dict order. cfg must be valid.
func paramSpecs(cfg Config) []paramSpec {
	r := &specRecorder{}
	if _, err := build(cfg, r); err != nil {
		panic("tokenizer: recording parameter names cannot fail: " + err.Error())
	}
	return r.specs
}

// ParamNames returns the names of all tensors a checkpoint for cfg holds, in
// PyTorch state_dict order, and their PyTorch shapes (conv weights
// [out, in, kh, kw], the codebook [K, E]).
func ParamNames(cfg Config) (names []string, shapes [][]int, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	for _, s := range paramSpecs(cfg) {
		names = append(names, s.name)
		shapes = append(shapes, s.shape)
	}
	return names, shapes, nil
}

// NumParameters is the total number of scalar parameters of a model with
// configuration cfg (146,244,675 for ReleasedConfig). cfg must be valid; an
// invalid one gives 0.
func NumParameters(cfg Config) int {
	if cfg.Validate() != nil {
		return 0
	}
	n := 0
	for _, s := range paramSpecs(cfg) {
		n += numElements(s.shape)
	}
	return n
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func shapeString(shape []int) string {
	s := "["
	for i, d := range shape {
		if i > 0 {
			s += ", "
		}
		s += strconv.Itoa(d)
	}
	return s + "]"
}

// shapeError describes a tensor whose shape is not what cfg implies.
func shapeError(name string, got, want []int, where string) error {
	return fmt.Errorf("tokenizer: tensor %q in %s has shape %s, want %s", name, where, shapeString(got), shapeString(want))
}
