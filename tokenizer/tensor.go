package tokenizer

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// Tensor-level API: *tensor.Dense in and out, float32 NCHW activations and
// int code grids. Inputs may be views or transposes (they are materialised)
// but must be row-major; outputs are new, contiguous tensors whose backing
// slices the caller owns.

// EncodeTensor encodes a batch of pixels [B, C, H, W] (float32, C =
// num_channels, values nominally in [0,1]; H and W positive multiples of the
// downsampling factor) into codes [B, (H/f)·(W/f)] (tensor.Int), row-major
// over each latent grid.
func (t *Tokenizer) EncodeTensor(pixels *tensor.Dense) (*tensor.Dense, error) {
	data, B, H, W, err := t.pixelsIn(pixels, "EncodeTensor")
	if err != nil {
		return nil, err
	}
	ws := t.workspace()
	defer t.release(ws)
	C := t.cfg.NumChannels
	h, w := H/t.cfg.Factor(), W/t.cfg.Factor()
	ids := make([]int, B*h*w)
	for b := 0; b < B; b++ {
		z := t.m.latent(ws, data[b*C*H*W:(b+1)*C*H*W], C, H, W)
		t.m.quantize(ws, z.d, h*w, z.c, ids[b*h*w:(b+1)*h*w], nil)
		ws.put(z.d)
	}
	return tensor.New(tensor.WithShape(B, h*w), tensor.WithBacking(ids)), nil
}

// Latent runs the encoder and quant_conv on pixels [B, C, H, W] (as for
// EncodeTensor) and returns the continuous latent before quantisation,
// [B, E, H/f, W/f] float32.
func (t *Tokenizer) Latent(pixels *tensor.Dense) (*tensor.Dense, error) {
	data, B, H, W, err := t.pixelsIn(pixels, "Latent")
	if err != nil {
		return nil, err
	}
	ws := t.workspace()
	defer t.release(ws)
	C, E := t.cfg.NumChannels, t.cfg.QuantizedEmbedDim
	h, w := H/t.cfg.Factor(), W/t.cfg.Factor()
	out := make([]float32, B*E*h*w)
	for b := 0; b < B; b++ {
		z := t.m.latent(ws, data[b*C*H*W:(b+1)*C*H*W], C, H, W)
		hwcToCHW(out[b*E*h*w:(b+1)*E*h*w], z.d, E, h*w)
		ws.put(z.d)
	}
	return tensor.New(tensor.WithShape(B, E, h, w), tensor.WithBacking(out)), nil
}

// Quantize maps a latent [B, E, h, w] (float32, finite) to the nearest
// codebook ids [B, h·w] (tensor.Int), ties to the lowest id.
func (t *Tokenizer) Quantize(latent *tensor.Dense) (*tensor.Dense, error) {
	data, shape, err := float32In(latent, "Quantize", "latent", 4)
	if err != nil {
		return nil, err
	}
	B, E, h, w := shape[0], shape[1], shape[2], shape[3]
	if E != t.cfg.QuantizedEmbedDim {
		return nil, fmt.Errorf("tokenizer: Quantize: latent has %d channels (shape %v), want E = %d", E, shape, t.cfg.QuantizedEmbedDim)
	}
	if err := checkFinite(data, "Quantize: latent"); err != nil {
		return nil, err
	}
	ws := t.workspace()
	defer t.release(ws)
	P := h * w
	z := ws.get(P * E)
	defer ws.put(z)
	ids := make([]int, B*P)
	for b := 0; b < B; b++ {
		chwToHWC(z, data[b*E*P:(b+1)*E*P], E, P)
		t.m.quantize(ws, z, P, E, ids[b*P:(b+1)*P], nil)
	}
	return tensor.New(tensor.WithShape(B, P), tensor.WithBacking(ids)), nil
}

// Lookup maps codes [B, TokensPerImage] (tensor.Int, Int64 or Int32) to
// their codebook vectors, a latent [B, E, g, g] float32 (g = GridSize).
func (t *Tokenizer) Lookup(codes *tensor.Dense) (*tensor.Dense, error) {
	ids, B, err := t.codesIn(codes, "Lookup")
	if err != nil {
		return nil, err
	}
	g, E := t.cfg.GridSize(), t.cfg.QuantizedEmbedDim
	P := g * g
	out := make([]float32, B*E*P)
	z := make([]float32, P*E)
	for b := 0; b < B; b++ {
		t.m.lookup(z, ids[b*P:(b+1)*P], E)
		hwcToCHW(out[b*E*P:(b+1)*E*P], z, E, P)
	}
	return tensor.New(tensor.WithShape(B, E, g, g), tensor.WithBacking(out)), nil
}

// DecodeLatent runs post_quant_conv and the decoder on a latent
// [B, E, h, w] (float32) and returns the raw pixels [B, C, h·f, w·f],
// not clamped.
func (t *Tokenizer) DecodeLatent(latent *tensor.Dense) (*tensor.Dense, error) {
	data, shape, err := float32In(latent, "DecodeLatent", "latent", 4)
	if err != nil {
		return nil, err
	}
	B, E, h, w := shape[0], shape[1], shape[2], shape[3]
	if E != t.cfg.QuantizedEmbedDim {
		return nil, fmt.Errorf("tokenizer: DecodeLatent: latent has %d channels (shape %v), want E = %d", E, shape, t.cfg.QuantizedEmbedDim)
	}
	f := t.cfg.Factor()
	if h > maxResolution/f || w > maxResolution/f {
		return nil, fmt.Errorf("tokenizer: DecodeLatent: latent grid %d×%d too large (output would exceed %d pixels a side)", h, w, maxResolution)
	}
	if err := checkFinite(data, "DecodeLatent: latent"); err != nil {
		return nil, err
	}
	ws := t.workspace()
	defer t.release(ws)
	C := t.cfg.NumChannels
	H, W := h*f, w*f
	out := make([]float32, B*C*H*W)
	z := newAct(ws, h, w, E)
	defer ws.put(z.d)
	for b := 0; b < B; b++ {
		chwToHWC(z.d, data[b*E*h*w:(b+1)*E*h*w], E, h*w)
		o := t.m.decodeLatent(ws, z)
		hwcToCHW(out[b*C*H*W:(b+1)*C*H*W], o.d, C, H*W)
		ws.put(o.d)
	}
	return tensor.New(tensor.WithShape(B, C, H, W), tensor.WithBacking(out)), nil
}

// DecodeTensor decodes codes [B, TokensPerImage] (tensor.Int, Int64 or
// Int32) into pixels [B, C, R, R] float32 clamped to [0,1] (R = Resolution).
func (t *Tokenizer) DecodeTensor(codes *tensor.Dense) (*tensor.Dense, error) {
	ids, B, err := t.codesIn(codes, "DecodeTensor")
	if err != nil {
		return nil, err
	}
	T, C, R := t.cfg.TokensPerImage(), t.cfg.NumChannels, t.cfg.Resolution
	out := make([]float32, B*C*R*R)
	for b := 0; b < B; b++ {
		pix, err := t.DecodePixels(ids[b*T : (b+1)*T])
		if err != nil { // unreachable: codesIn checked every id
			return nil, err
		}
		for i, v := range pix {
			switch {
			case v > 1:
				v = 1
			case v >= 0:
			default: // negative or NaN
				v = 0
			}
			out[b*C*R*R+i] = v
		}
	}
	return tensor.New(tensor.WithShape(B, C, R, R), tensor.WithBacking(out)), nil
}

// pixelsIn validates an encoder input tensor and returns its data and sizes.
func (t *Tokenizer) pixelsIn(x *tensor.Dense, op string) (data []float32, B, H, W int, err error) {
	data, shape, err := float32In(x, op, "pixels", 4)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	B, C, H, W := shape[0], shape[1], shape[2], shape[3]
	if C != t.cfg.NumChannels {
		return nil, 0, 0, 0, fmt.Errorf("tokenizer: %s: pixels have %d channels (shape %v), want %d", op, C, shape, t.cfg.NumChannels)
	}
	for b := 0; b < B; b++ {
		if err := t.checkPixels(data[b*C*H*W:(b+1)*C*H*W], H, W, fmt.Sprintf("%s: image %d: ", op, b)); err != nil {
			return nil, 0, 0, 0, err
		}
	}
	return data, B, H, W, nil
}

// codesIn validates a code tensor [B, TokensPerImage] and returns its ids.
func (t *Tokenizer) codesIn(x *tensor.Dense, op string) ([]int, int, error) {
	if x == nil {
		return nil, 0, fmt.Errorf("tokenizer: %s: codes tensor is nil", op)
	}
	shape := []int(x.Shape())
	if len(shape) != 2 || shape[0] < 1 || shape[1] < 1 {
		return nil, 0, fmt.Errorf("tokenizer: %s: codes have shape %v, want [B, %d] with B ≥ 1", op, shape, t.cfg.TokensPerImage())
	}
	x, err := materialize(x, op, "codes")
	if err != nil {
		return nil, 0, err
	}
	B, T := shape[0], shape[1]
	ids := make([]int, B*T)
	switch d := x.Data().(type) {
	case []int:
		if len(d) < B*T {
			return nil, 0, fmt.Errorf("tokenizer: %s: codes hold %d values, shape %v needs %d", op, len(d), shape, B*T)
		}
		copy(ids, d)
	case []int64:
		if len(d) < B*T {
			return nil, 0, fmt.Errorf("tokenizer: %s: codes hold %d values, shape %v needs %d", op, len(d), shape, B*T)
		}
		for i := range ids {
			v := d[i]
			if v < 0 || v >= int64(t.cfg.NumEmbeddings) {
				return nil, 0, fmt.Errorf("tokenizer: %s: image %d: token id %d at position %d is outside the codebook [0, %d)",
					op, i/T, v, i%T, t.cfg.NumEmbeddings)
			}
			ids[i] = int(v)
		}
	case []int32:
		if len(d) < B*T {
			return nil, 0, fmt.Errorf("tokenizer: %s: codes hold %d values, shape %v needs %d", op, len(d), shape, B*T)
		}
		for i := range ids {
			ids[i] = int(d[i])
		}
	default:
		return nil, 0, fmt.Errorf("tokenizer: %s: codes have dtype %v, want int, int64 or int32", op, x.Dtype())
	}
	if T != t.cfg.TokensPerImage() {
		return nil, 0, fmt.Errorf("tokenizer: %s: codes have shape %v: got %d tokens per image, want %d (a %d×%d grid)",
			op, shape, T, t.cfg.TokensPerImage(), t.cfg.GridSize(), t.cfg.GridSize())
	}
	for b := 0; b < B; b++ {
		if err := t.checkCodes(ids[b*T:(b+1)*T], fmt.Sprintf("%s: image %d: ", op, b)); err != nil {
			return nil, 0, err
		}
	}
	return ids, B, nil
}

// float32In checks that x is a non-nil float32 tensor of the given rank with
// no zero dimension and returns its row-major data (aliasing x's backing
// when possible; callers only read it) and shape.
func float32In(x *tensor.Dense, op, what string, rank int) ([]float32, []int, error) {
	if x == nil {
		return nil, nil, fmt.Errorf("tokenizer: %s: %s tensor is nil", op, what)
	}
	shape := append([]int(nil), x.Shape()...)
	if len(shape) != rank {
		return nil, nil, fmt.Errorf("tokenizer: %s: %s have shape %v, want rank %d", op, what, shape, rank)
	}
	n := 1
	for _, d := range shape {
		if d < 1 {
			return nil, nil, fmt.Errorf("tokenizer: %s: %s have shape %v with an empty dimension", op, what, shape)
		}
		if n > math.MaxInt32/d {
			return nil, nil, fmt.Errorf("tokenizer: %s: %s shape %v is too large", op, what, shape)
		}
		n *= d
	}
	if x.Dtype() != tensor.Float32 {
		return nil, nil, fmt.Errorf("tokenizer: %s: %s have dtype %v, want float32", op, what, x.Dtype())
	}
	x, err := materialize(x, op, what)
	if err != nil {
		return nil, nil, err
	}
	d, ok := x.Data().([]float32)
	if !ok || len(d) < n {
		return nil, nil, fmt.Errorf("tokenizer: %s: %s hold %d values, shape %v needs %d", op, what, len(d), shape, n)
	}
	return d[:n], shape, nil
}

// materialize returns x itself when its backing is plain row-major data in
// shape order, or a row-major copy of a view or transpose.
func materialize(x *tensor.Dense, op, what string) (*tensor.Dense, error) {
	if x.RequiresIterator() || x.IsMaterializable() {
		m, ok := x.Materialize().(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("tokenizer: %s: %s tensor cannot be materialised", op, what)
		}
		x = m
	}
	if x.DataOrder().IsColMajor() {
		return nil, fmt.Errorf("tokenizer: %s: %s tensor is column-major, want row-major", op, what)
	}
	return x, nil
}

// checkFinite reports the first NaN or infinity in data.
func checkFinite(data []float32, what string) error {
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("tokenizer: %s: value %d is %v", what, i, v)
		}
	}
	return nil
}
