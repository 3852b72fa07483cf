package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/internal/optim"
)

// TrainModel is a trainable float32 copy of a LLaMA model (the transformer
// stage of the LVM recipe, REFERENCE §5): every parameter with its
// gradient, and the activations of one forward pass over a batch of B rows
// of T tokens, kept for the backward pass. Each layer is a forward/backward
// pair with a fixed argument order (outputs, inputs, weights), llm.c style.
//
// Rows are packed visual sentences: positions run 0…T−1 in every row and
// attention is causal over the whole row, with no reset at sentence
// boundaries. Grouped-query attention and tied embeddings are not
// supported for training.
type TrainModel struct {
	cfg    Config
	params []optim.Param // every parameter with its gradient, in a fixed order

	embed, normF, lmHead param // [V,D], [D], [V,D]
	layers               []trainLayer
	cos, sin             []float32 // RoPE tables [T·hd/2]
	act                  *trainActs
	ropeLen              int
}

// param is a parameter's values and gradient.
type param struct{ w, g []float32 }

type trainLayer struct {
	ln1, ln2   param // [D]
	wq, wk, wv param // [H·hd, D]
	wo         param // [D, H·hd]
	gate, up   param // [I, D]
	down       param // [D, I]
}

// trainActs are the activations of one forward pass, shaped for B×T rows.
type trainActs struct {
	b, t    int
	tokens  []int
	targets []int
	layers  []layerActs
	xF      []float32 // [BT,D] input of the final norm
	rF      []float32 // [BT] its 1/rms
	xnF     []float32 // [BT,D]
	logits  []float32 // [BT,V], then the softmax probabilities
	valid   int
	// gradient buffers reused by every layer
	dx, dxn, dq, dk, dv, dAtt, dG, dU, dH []float32
}

type layerActs struct {
	x       []float32 // [BT,D] residual input
	r1      []float32 // [BT]
	xn1     []float32 // [BT,D]
	q, k, v []float32 // [BT,H·hd] after RoPE (q, k)
	p       []float32 // [B,H,T,T] attention probabilities
	att     []float32 // [BT,H·hd] attention output before o_proj
	x2      []float32 // [BT,D] residual after attention
	r2      []float32 // [BT]
	xn2     []float32 // [BT,D]
	g, u    []float32 // [BT,I] gate and up projections
	h       []float32 // [BT,I] silu(g)·u
}

// NewTrainModel returns a model of configuration c initialised as the
// official recipe does: every matrix normal(0, 0.02), RMSNorm weights 1,
// deterministic for seed.
func NewTrainModel(c Config, seed uint64) (*TrainModel, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.NumKVHeads != c.NumHeads || c.TieWordEmbeddings {
		return nil, fmt.Errorf("transformer: training supports neither grouped-query attention (%d KV heads for %d heads) nor tied embeddings", c.NumKVHeads, c.NumHeads)
	}
	tm := &TrainModel{cfg: c}
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	shapes := ParamShapes(c)
	add := func(name string) param {
		shape := shapes[name]
		n := 1
		for _, s := range shape {
			n *= s
		}
		p := param{w: make([]float32, n), g: make([]float32, n)}
		if len(shape) == 1 {
			for i := range p.w {
				p.w[i] = 1
			}
		} else {
			for i := range p.w {
				p.w[i] = float32(r.NormFloat64() * 0.02)
			}
		}
		tm.params = append(tm.params, optim.Param{Name: name, Value: p.w, Grad: p.g})
		return p
	}
	tm.embed = add("model.embed_tokens.weight")
	tm.layers = make([]trainLayer, c.NumLayers)
	for l := range tm.layers {
		pre := fmt.Sprintf("model.layers.%d.", l)
		L := &tm.layers[l]
		L.ln1 = add(pre + "input_layernorm.weight")
		L.wq = add(pre + "self_attn.q_proj.weight")
		L.wk = add(pre + "self_attn.k_proj.weight")
		L.wv = add(pre + "self_attn.v_proj.weight")
		L.wo = add(pre + "self_attn.o_proj.weight")
		L.ln2 = add(pre + "post_attention_layernorm.weight")
		L.gate = add(pre + "mlp.gate_proj.weight")
		L.up = add(pre + "mlp.up_proj.weight")
		L.down = add(pre + "mlp.down_proj.weight")
	}
	tm.normF = add("model.norm.weight")
	tm.lmHead = add("lm_head.weight")
	return tm, nil
}

// Config returns the model's configuration.
func (tm *TrainModel) Config() Config { return tm.cfg }

// NumParams is the number of trainable values.
func (tm *TrainModel) NumParams() int {
	n := 0
	for _, p := range tm.params {
		n += len(p.Value)
	}
	return n
}

func (tm *TrainModel) acts(b, t int) *trainActs {
	if a := tm.act; a != nil && a.b == b && a.t == t {
		return a
	}
	c := tm.cfg
	n, d, q, i, v := b*t, c.HiddenSize, c.NumHeads*c.HeadDim, c.IntermediateSize, c.VocabSize
	f := func(k int) []float32 { return make([]float32, k) }
	a := &trainActs{b: b, t: t, xF: f(n * d), rF: f(n), xnF: f(n * d), logits: f(n * v),
		dx: f(n * d), dxn: f(n * d), dq: f(n * q), dk: f(n * q), dv: f(n * q), dAtt: f(n * q),
		dG: f(n * i), dU: f(n * i), dH: f(n * i)}
	a.layers = make([]layerActs, c.NumLayers)
	for l := range a.layers {
		a.layers[l] = layerActs{x: f(n * d), r1: f(n), xn1: f(n * d), q: f(n * q), k: f(n * q), v: f(n * q),
			p: f(b * c.NumHeads * t * t), att: f(n * q), x2: f(n * d), r2: f(n), xn2: f(n * d),
			g: f(n * i), u: f(n * i), h: f(n * i)}
	}
	if tm.ropeLen < t {
		tm.cos, tm.sin = ropeTables(t, c.HeadDim, c.RopeTheta)
		tm.ropeLen = t
	}
	tm.act = a
	return a
}

// Forward runs the model over tokens, B rows of T (row-major [B,T]), and
// returns the mean cross-entropy of targets (same shape; a negative target
// is not counted). The activations are kept for Backward.
func (tm *TrainModel) Forward(tokens, targets []int, b, t int) (float64, error) {
	c := tm.cfg
	if b <= 0 || t <= 0 || len(tokens) != b*t || len(targets) != b*t {
		return 0, fmt.Errorf("transformer: Forward: %d tokens and %d targets for B=%d × T=%d", len(tokens), len(targets), b, t)
	}
	if t > c.MaxPositions {
		return 0, fmt.Errorf("%w: rows of %d tokens > %d max positions", ErrCacheFull, t, c.MaxPositions)
	}
	for i, id := range tokens {
		if id < 0 || id >= c.VocabSize {
			return 0, fmt.Errorf("%w: token %d at index %d (vocabulary %d)", ErrBadToken, id, i, c.VocabSize)
		}
	}
	for i, id := range targets {
		if id >= c.VocabSize {
			return 0, fmt.Errorf("%w: target %d at index %d (vocabulary %d)", ErrBadToken, id, i, c.VocabSize)
		}
	}
	a := tm.acts(b, t)
	a.tokens, a.targets = tokens, targets
	n, d := b*t, c.HiddenSize
	x := a.layers[0].x
	for r, id := range tokens {
		copy(x[r*d:(r+1)*d], tm.embed.w[id*d:(id+1)*d])
	}
	for l := range tm.layers {
		out := a.xF
		if l+1 < len(tm.layers) {
			out = a.layers[l+1].x
		}
		tm.layerForward(out, &a.layers[l], &tm.layers[l], b, t)
	}
	rmsNormForward(a.xnF, a.rF, a.xF, tm.normF.w, n, d, c.RMSNormEps)
	kernels.MatMulNT(a.logits, a.xnF, tm.lmHead.w, n, c.VocabSize, d)
	return crossEntropyForward(a.logits, targets, n, c.VocabSize, &a.valid), nil
}

// Backward adds the gradient of the last Forward's loss to every
// parameter's gradient (accumulating, for gradient accumulation; Trainer
// zeroes them before each step).
func (tm *TrainModel) Backward() error {
	a := tm.act
	if a == nil || a.tokens == nil {
		return fmt.Errorf("transformer: Backward before Forward")
	}
	c := tm.cfg
	n, d, v := a.b*a.t, c.HiddenSize, c.VocabSize
	crossEntropyBackward(a.logits, a.targets, n, v, a.valid) // logits now hold dlogits
	tm.linearBackward(a.dxn, tm.lmHead.g, a.logits, a.xnF, tm.lmHead.w, n, v, d, false)
	clear(a.dx)
	rmsNormBackward(a.dx, tm.normF.g, a.dxn, a.xF, a.rF, tm.normF.w, n, d)
	for l := len(tm.layers) - 1; l >= 0; l-- {
		tm.layerBackward(a, &a.layers[l], &tm.layers[l]) // a.dx: gradient of the layer's output → of its input
	}
	for r, id := range a.tokens {
		g := tm.embed.g[id*d : (id+1)*d]
		for j, dv := range a.dx[r*d : (r+1)*d] {
			g[j] += dv
		}
	}
	a.tokens = nil // one Backward per Forward
	return nil
}

func (tm *TrainModel) layerForward(out []float32, la *layerActs, L *trainLayer, b, t int) {
	c := tm.cfg
	n, d, q, i := b*t, c.HiddenSize, c.NumHeads*c.HeadDim, c.IntermediateSize
	rmsNormForward(la.xn1, la.r1, la.x, L.ln1.w, n, d, c.RMSNormEps)
	kernels.MatMulNT(la.q, la.xn1, L.wq.w, n, q, d)
	kernels.MatMulNT(la.k, la.xn1, L.wk.w, n, q, d)
	kernels.MatMulNT(la.v, la.xn1, L.wv.w, n, q, d)
	ropeForward(la.q, tm.cos, tm.sin, b, t, c.NumHeads, c.HeadDim)
	ropeForward(la.k, tm.cos, tm.sin, b, t, c.NumHeads, c.HeadDim)
	attentionForward(la.att, la.p, la.q, la.k, la.v, b, t, c.NumHeads, c.HeadDim)
	kernels.MatMulNT(la.x2, la.att, L.wo.w, n, d, q)
	addTo(la.x2, la.x)
	rmsNormForward(la.xn2, la.r2, la.x2, L.ln2.w, n, d, c.RMSNormEps)
	kernels.MatMulNT(la.g, la.xn2, L.gate.w, n, i, d)
	kernels.MatMulNT(la.u, la.xn2, L.up.w, n, i, d)
	swigluForward(la.h, la.g, la.u)
	kernels.MatMulNT(out, la.h, L.down.w, n, d, i)
	addTo(out, la.x2)
}

// layerBackward turns a.dx from the gradient of the layer's output into the
// gradient of its input, accumulating the weights' gradients.
func (tm *TrainModel) layerBackward(a *trainActs, la *layerActs, L *trainLayer) {
	c := tm.cfg
	n, d, q, i := a.b*a.t, c.HiddenSize, c.NumHeads*c.HeadDim, c.IntermediateSize
	// MLP: out = x2 + down(h); dx2 starts as dout (a.dx) and gains the
	// norm path.
	tm.linearBackward(a.dH, L.down.g, a.dx, la.h, L.down.w, n, d, i, false)
	swigluBackward(a.dG, a.dU, a.dH, la.g, la.u)
	tm.linearBackward(a.dxn, L.gate.g, a.dG, la.xn2, L.gate.w, n, i, d, false)
	tm.linearBackward(a.dxn, L.up.g, a.dU, la.xn2, L.up.w, n, i, d, true)
	rmsNormBackward(a.dx, L.ln2.g, a.dxn, la.x2, la.r2, L.ln2.w, n, d)
	// Attention: x2 = x + o(att); a.dx is now dx2.
	tm.linearBackward(a.dAtt, L.wo.g, a.dx, la.att, L.wo.w, n, d, q, false)
	attentionBackward(a.dq, a.dk, a.dv, a.dAtt, la.p, la.q, la.k, la.v, a.b, a.t, c.NumHeads, c.HeadDim)
	ropeBackward(a.dq, tm.cos, tm.sin, a.b, a.t, c.NumHeads, c.HeadDim)
	ropeBackward(a.dk, tm.cos, tm.sin, a.b, a.t, c.NumHeads, c.HeadDim)
	tm.linearBackward(a.dxn, L.wq.g, a.dq, la.xn1, L.wq.w, n, q, d, false)
	tm.linearBackward(a.dxn, L.wk.g, a.dk, la.xn1, L.wk.w, n, q, d, true)
	tm.linearBackward(a.dxn, L.wv.g, a.dv, la.xn1, L.wv.w, n, q, d, true)
	rmsNormBackward(a.dx, L.ln1.g, a.dxn, la.x, la.r1, L.ln1.w, n, d)
}

// linearBackward is the backward of y[N,out] = x[N,in]·W[out,in]ᵀ: it sets
// dx = dy·W (or adds it when accumulate) and adds dyᵀ·x to dW. Both are
// read-in-place products (kernels.MatMulNN reads dy transposed through its
// strides), split over rows across goroutines in multiples of 6 (the
// kernel's row tile).
func (tm *TrainModel) linearBackward(dx, dW, dy, x, w []float32, nRows, out, in int, accumulate bool) {
	kernels.ParallelFor((nRows+5)/6, func(lo, hi int) {
		r0, r1 := lo*6, min(hi*6, nRows)
		kernels.MatMulNN(dx[r0*in:], in, dy[r0*out:], out, 1, w, in, r1-r0, in, out, accumulate)
	})
	kernels.ParallelFor((out+5)/6, func(lo, hi int) {
		o0, o1 := lo*6, min(hi*6, out)
		kernels.MatMulNN(dW[o0*in:], in, dy[o0:], 1, out, x, in, o1-o0, in, nRows, true)
	})
}

// rmsNormForward sets y = w·x·r with r = 1/√(mean(x²)+eps) per row of x
// [rows,d], keeping r for the backward pass.
func rmsNormForward(y, r, x, w []float32, rows, d int, eps float64) {
	for i := 0; i < rows; i++ {
		xr := x[i*d : (i+1)*d]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(ss/float64(d)+eps))
		r[i] = inv
		yr := y[i*d : (i+1)*d]
		for j, v := range xr {
			yr[j] = w[j] * (v * inv)
		}
	}
}

// rmsNormBackward adds to dx and dw the gradient of y = w·x·r given dy:
// dw += Σ dy·x·r, dx += r·w·dy − r³/d · x · Σ(w·dy·x).
func rmsNormBackward(dx, dw, dy, x, r, w []float32, rows, d int) {
	for i := 0; i < rows; i++ {
		xr, dyr, dxr := x[i*d:(i+1)*d], dy[i*d:(i+1)*d], dx[i*d:(i+1)*d]
		inv := float64(r[i])
		var dot float64
		for j, v := range xr {
			dot += float64(w[j]) * float64(dyr[j]) * float64(v)
			dw[j] += dyr[j] * v * r[i]
		}
		k := inv * inv * inv / float64(d) * dot
		for j, v := range xr {
			dxr[j] += float32(inv*float64(w[j])*float64(dyr[j]) - k*float64(v))
		}
	}
}

// ropeForward rotates x [B·T, H·hd] in place by position t within each row
// (rotate_half layout).
func ropeForward(x, cos, sin []float32, b, t, h, hd int) {
	ropeRotate(x, cos, sin, b, t, h, hd, 1)
}

// ropeBackward applies the inverse rotation to the gradient (a rotation's
// transpose is its inverse).
func ropeBackward(dx, cos, sin []float32, b, t, h, hd int) {
	ropeRotate(dx, cos, sin, b, t, h, hd, -1)
}

func ropeRotate(x, cos, sin []float32, b, t, h, hd int, sign float32) {
	half := hd / 2
	for r := 0; r < b*t; r++ {
		p := r % t
		cs, sn := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
		row := x[r*h*hd : (r+1)*h*hd]
		for hh := 0; hh < h; hh++ {
			x1, x2 := row[hh*hd:hh*hd+half], row[hh*hd+half:hh*hd+hd]
			for j := range x1 {
				s := sign * sn[j]
				a, bb := x1[j], x2[j]
				x1[j] = a*cs[j] - bb*s
				x2[j] = bb*cs[j] + a*s
			}
		}
	}
}

// refAttentionForward is the reference for attentionForward: causal
// softmax attention per row and head, p = softmax(q·kᵀ/√hd) over s ≤ t,
// out = p·v, one dot product at a time. q, k, v, out are [B·T,H·hd], p is
// [B,H,T,T] (zero above the diagonal).
func refAttentionForward(out, p, q, k, v []float32, b, t, h, hd int) {
	scale := float32(1 / math.Sqrt(float64(hd)))
	w := h * hd
	kernels.ParallelFor(b*h, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			bi, hh := bh/h, bh%h
			pb := p[bh*t*t : (bh+1)*t*t]
			for i := 0; i < t; i++ {
				qi := q[(bi*t+i)*w+hh*hd : (bi*t+i)*w+hh*hd+hd]
				row := pb[i*t : (i+1)*t]
				m := float32(math.Inf(-1))
				for j := 0; j <= i; j++ {
					kj := k[(bi*t+j)*w+hh*hd : (bi*t+j)*w+hh*hd+hd]
					row[j] = kernels.Dot(qi, kj) * scale
					m = max(m, row[j])
				}
				var sum float64
				for j := 0; j <= i; j++ {
					e := float32(math.Exp(float64(row[j] - m)))
					row[j] = e
					sum += float64(e)
				}
				inv := float32(1 / sum)
				oi := out[(bi*t+i)*w+hh*hd : (bi*t+i)*w+hh*hd+hd]
				clear(oi)
				for j := 0; j <= i; j++ {
					row[j] *= inv
					kernels.Axpy(row[j], v[(bi*t+j)*w+hh*hd:(bi*t+j)*w+hh*hd+hd], oi)
				}
				clear(row[i+1:])
			}
		}
	})
}

// refAttentionBackward is the reference for attentionBackward.
func refAttentionBackward(dq, dk, dv, dout, p, q, k, v []float32, b, t, h, hd int) {
	scale := float32(1 / math.Sqrt(float64(hd)))
	w := h * hd
	kernels.ParallelFor(b*h, func(lo, hi int) {
		dp := make([]float32, t)
		for bh := lo; bh < hi; bh++ {
			bi, hh := bh/h, bh%h
			pb := p[bh*t*t : (bh+1)*t*t]
			vec := func(x []float32, i int) []float32 { return x[(bi*t+i)*w+hh*hd : (bi*t+i)*w+hh*hd+hd] }
			for i := 0; i < t; i++ {
				clear(vec(dq, i))
				clear(vec(dk, i))
				clear(vec(dv, i))
			}
			for i := 0; i < t; i++ {
				row := pb[i*t : (i+1)*t]
				doi := vec(dout, i)
				var dot float64
				for j := 0; j <= i; j++ {
					dp[j] = kernels.Dot(doi, vec(v, j))
					dot += float64(row[j]) * float64(dp[j])
					kernels.Axpy(row[j], doi, vec(dv, j))
				}
				dqi, qi := vec(dq, i), vec(q, i)
				for j := 0; j <= i; j++ {
					ds := row[j] * (dp[j] - float32(dot)) * scale
					kernels.Axpy(ds, vec(k, j), dqi)
					kernels.Axpy(ds, qi, vec(dk, j))
				}
			}
		}
	})
}

// swigluForward sets h = silu(g)·u with the inference kernel
// (kernels.SiLUMul), split across goroutines.
func swigluForward(h, g, u []float32) {
	kernels.ParallelFor((len(g)+4095)/4096, func(lo, hi int) {
		a, b := lo*4096, min(hi*4096, len(g))
		copy(h[a:b], g[a:b])
		kernels.SiLUMul(h[a:b], u[a:b])
	})
}

// swigluBackward sets dg and du from dh for h = silu(g)·u.
func swigluBackward(dg, du, dh, g, u []float32) {
	kernels.ParallelFor((len(g)+4095)/4096, func(lo, hi int) {
		for i := lo * 4096; i < min(hi*4096, len(g)); i++ {
			gv := g[i]
			s := 1 / (1 + kernels.Expf(-gv))
			du[i] = dh[i] * gv * s
			dg[i] = dh[i] * u[i] * s * (1 + gv*(1-s))
		}
	})
}

// crossEntropyForward returns the mean of −log softmax(logits[r])[target[r]]
// over rows with target ≥ 0, replacing the logits by the probabilities and
// setting *valid to the number of rows counted.
func crossEntropyForward(logits []float32, targets []int, rows, v int, valid *int) float64 {
	var total float64
	*valid = 0
	for r := 0; r < rows; r++ {
		row := logits[r*v : (r+1)*v]
		m := row[0]
		for _, x := range row {
			m = max(m, x)
		}
		var sum float64
		for j, x := range row {
			e := math.Exp(float64(x - m))
			row[j] = float32(e)
			sum += e
		}
		if tg := targets[r]; tg >= 0 {
			total -= math.Log(float64(row[tg]) / sum)
			*valid++
		}
		inv := float32(1 / sum)
		for j := range row {
			row[j] *= inv
		}
	}
	if *valid == 0 {
		return 0
	}
	return total / float64(*valid)
}

// crossEntropyBackward turns the probabilities into dlogits = (p − onehot)/valid,
// zero for rows without a target.
func crossEntropyBackward(probs []float32, targets []int, rows, v, valid int) {
	scale := float32(1)
	if valid > 0 {
		scale = 1 / float32(valid)
	}
	for r := 0; r < rows; r++ {
		row := probs[r*v : (r+1)*v]
		tg := targets[r]
		if tg < 0 {
			clear(row)
			continue
		}
		row[tg] -= 1
		for j := range row {
			row[j] *= scale
		}
	}
}
