package transformer

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gorgonia.org/tensor"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/internal/weights"
)

// layerWeights are the weights of one decoder layer (llama2.c style: every
// field is named after the Hugging Face tensor model.layers.N.<...>).
type layerWeights struct {
	attnNorm []float32 // [D]      input_layernorm.weight
	wq       matrix    // [H·hd, D]  self_attn.q_proj.weight
	wk       matrix    // [KV·hd, D] self_attn.k_proj.weight
	wv       matrix    // [KV·hd, D] self_attn.v_proj.weight
	wo       matrix    // [D, H·hd]  self_attn.o_proj.weight
	mlpNorm  []float32 // [D]      post_attention_layernorm.weight
	wGate    matrix    // [I, D]   mlp.gate_proj.weight
	wUp      matrix    // [I, D]   mlp.up_proj.weight
	wDown    matrix    // [D, I]   mlp.down_proj.weight
}

// modelWeights are all the weights of a LlamaForCausalLM.
type modelWeights struct {
	embed  matrix         // [V, D] model.embed_tokens.weight
	layers []layerWeights // [L]
	norm   []float32      // [D]    model.norm.weight
	lmHead matrix         // [V, D] lm_head.weight (aliases embed when tied)
}

// Model is a loaded LLaMA causal language model. It is immutable once
// built (Load, LoadFS, NewRandom) and safe for concurrent use; each
// sequence keeps its own State.
type Model struct {
	cfg Config
	w   modelWeights
	set *weights.Set // owned checkpoint, closed by Close (nil from newModel)

	// RoPE tables [MaxPositions × hd/2]: cos/sin of pos·θ^(−2i/hd), computed
	// in float32 as Hugging Face does (the full tables are cat(f, f)).
	cos, sin []float32
}

// newModel builds a Model of configuration cfg from the tensors of src,
// checking every expected tensor's name, dtype and shape. The model keeps
// views of the tensors' data (no copy of the matrices); it does not take
// ownership of src.
func newModel(cfg Config, src tensorSource) (*Model, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, err := loadWeights(cfg, src)
	if err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, w: w}
	m.cos, m.sin = ropeTables(cfg.MaxPositions, cfg.HeadDim, cfg.RopeTheta)
	return m, nil
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Close releases the checkpoint opened by Load. The model and every state
// made from it must not be used afterwards. It is a no-op for a model
// that holds no open checkpoint (LoadFS, NewRandom, or one that LoadWith
// copied into memory).
func (m *Model) Close() error {
	if m.set == nil {
		return nil
	}
	err := m.set.Close()
	m.set = nil
	return err
}

// ropeTables returns cos and sin of f[p,i] = p·invFreq[i] for p < maxPos and
// i < hd/2, where invFreq[i] = 1/θ^(2i/hd). Every step is rounded to float32
// as in Hugging Face's LlamaRotaryEmbedding.
func ropeTables(maxPos, hd int, theta float64) (cos, sin []float32) {
	half := hd / 2
	inv := make([]float32, half)
	for i := range inv {
		e := float32(2*i) / float32(hd)
		inv[i] = 1 / float32(math.Pow(float64(float32(theta)), float64(e)))
	}
	cos = make([]float32, maxPos*half)
	sin = make([]float32, maxPos*half)
	for p := 0; p < maxPos; p++ {
		for i, f := range inv {
			a := float64(float32(p) * f)
			cos[p*half+i] = float32(math.Cos(a))
			sin[p*half+i] = float32(math.Sin(a))
		}
	}
	return cos, sin
}

// maxChunk is the most tokens one pass through the layers handles: longer
// prefills are split (exactly: each chunk attends to the cache and causally
// to itself), bounding the activation buffers at maxChunk rows.
const maxChunk = 256

// Errors returned for bad input; they are wrapped with the details.
var (
	ErrEmptyInput = errors.New("transformer: empty input")
	ErrBadToken   = errors.New("transformer: token id out of range")
	ErrCacheFull  = errors.New("transformer: cache full")
	ErrNoLogits   = errors.New("transformer: no logits (nothing computed since the last reset or error)")
)

// checkTokens validates a block of tokens to append to st.
func (m *Model) checkTokens(st *State, tokens []int) error {
	if st == nil || st.m != m {
		return errors.New("transformer: state belongs to another model (or is nil)")
	}
	if len(tokens) == 0 {
		return ErrEmptyInput
	}
	for i, t := range tokens {
		if t < 0 || t >= m.cfg.VocabSize {
			return fmt.Errorf("%w: token %d at index %d (vocabulary %d)", ErrBadToken, t, i, m.cfg.VocabSize)
		}
	}
	if st.n+len(tokens) > st.capacity {
		if st.capacity == m.cfg.MaxPositions {
			return fmt.Errorf("%w: %d cached + %d new tokens > %d max positions", ErrCacheFull, st.n, len(tokens), st.capacity)
		}
		return fmt.Errorf("%w: %d cached + %d new tokens > capacity %d", ErrCacheFull, st.n, len(tokens), st.capacity)
	}
	return nil
}

// Prefill appends tokens to the state's cache in one pass (matrix-matrix
// products over the whole block) and leaves the logits of the last token in
// the state (State.LastLogits, State.Logits). Invalid input (no tokens, an
// id outside [0, V), more tokens than the cache has room for) is an error
// wrapping ErrEmptyInput, ErrBadToken or ErrCacheFull that leaves the state
// untouched. ctx is checked before every layer; when it is done, the error
// wraps ctx.Err() and the state keeps its previous tokens but has no logits.
func (m *Model) Prefill(ctx context.Context, st *State, tokens []int) error {
	if err := m.checkTokens(st, tokens); err != nil {
		return err
	}
	return m.forward(ctx, st, tokens, len(tokens)-1, func(_ int, logits []float32) {
		copy(st.logits, logits)
	})
}

// Decode appends one token to the state and computes its logits: Prefill of
// a single token.
func (m *Model) Decode(ctx context.Context, st *State, token int) error {
	if st == nil {
		return m.checkTokens(nil, nil)
	}
	st.one[0] = token
	return m.Prefill(ctx, st, st.one[:])
}

// PrefillAll is Prefill that also returns the logits at every appended
// position, a new [T, V] float32 tensor (row i predicts the token after
// tokens[i]).
func (m *Model) PrefillAll(ctx context.Context, st *State, tokens []int) (*tensor.Dense, error) {
	if err := m.checkTokens(st, tokens); err != nil {
		return nil, err
	}
	v := m.cfg.VocabSize
	out := make([]float32, len(tokens)*v)
	err := m.forward(ctx, st, tokens, 0, func(i int, logits []float32) {
		copy(out[i*v:(i+1)*v], logits)
		if i == len(tokens)-1 {
			copy(st.logits, logits)
		}
	})
	if err != nil {
		return nil, err
	}
	return tensor.New(tensor.WithShape(len(tokens), v), tensor.WithBacking(out)), nil
}

// span is the part of a forward pass that belongs to one sequence: rows
// r0…r0+t−1 of the activations are its tokens at positions p0…p0+t−1 (t is
// the same for every span of a pass).
type span struct {
	st     *State
	r0, p0 int
}

// forward runs tokens (already validated) through the network at positions
// st.Len()…, writing their keys and values into the cache, and calls emit
// with the logits [V] of every token index i >= r0, in order; the logits
// slice is scratch, valid only during the call. On success the tokens are
// committed to the cache (Len grows) and the state has logits; on error
// (cancellation) neither.
func (m *Model) forward(ctx context.Context, st *State, tokens []int, r0 int, emit func(i int, logits []float32)) error {
	st.hasLogits = false
	c := &m.cfg
	d := c.HiddenSize
	for c0 := 0; c0 < len(tokens); c0 += maxChunk {
		c1 := min(c0+maxChunk, len(tokens))
		t := c1 - c0
		b := st.scratch(t)
		spans := st.spanSlice(1)
		spans[0] = span{st: st, r0: 0, p0: st.n + c0}
		for i := 0; i < t; i++ {
			m.w.embed.row(b.x[i*d:(i+1)*d], tokens[c0+i])
		}
		if err := m.layers(ctx, st, spans, t); err != nil {
			return err
		}
		// Final norm and the head, for the rows that need logits.
		lo := max(r0, c0) - c0
		if lo >= t {
			continue
		}
		head := m.head(st, lo, t)
		v := c.VocabSize
		for r := 0; r < t-lo; r++ {
			emit(c0+lo+r, head[r*v:(r+1)*v])
		}
	}
	st.n += len(tokens)
	st.hasLogits = true
	return nil
}

// DecodeBatch appends tokens[i] to states[i], for every i, in one pass:
// the rows of all the states go through each weight matrix together
// (matrix-matrix products with m = len(states)), so K candidates sharing a
// prompt decode for about the memory traffic of one. Each state ends as
// Decode would leave it (bit for bit with the current kernels, whose rows
// do not depend on m). The states must be distinct and belong to m; they
// may hold different numbers of tokens. Errors are as for Prefill, naming
// the state's index; invalid input changes no state.
func (m *Model) DecodeBatch(ctx context.Context, states []*State, tokens []int) error {
	if len(states) != len(tokens) {
		return fmt.Errorf("transformer: DecodeBatch: %d states but %d tokens", len(states), len(tokens))
	}
	if len(states) == 0 {
		return fmt.Errorf("%w: DecodeBatch with no states", ErrEmptyInput)
	}
	for i, st := range states {
		if err := m.checkTokens(st, tokens[i:i+1]); err != nil {
			return fmt.Errorf("state %d: %w", i, err)
		}
		for j := range i {
			if states[j] == st {
				return fmt.Errorf("transformer: DecodeBatch: states %d and %d are the same state", j, i)
			}
		}
	}
	c := &m.cfg
	d, v, k := c.HiddenSize, c.VocabSize, len(states)
	drv := states[0] // its buffers hold the pass's activations
	for _, st := range states {
		st.hasLogits = false
	}
	b := drv.scratch(k)
	spans := drv.spanSlice(k)
	for i, st := range states {
		spans[i] = span{st: st, r0: i, p0: st.n}
		m.w.embed.row(b.x[i*d:(i+1)*d], tokens[i])
	}
	if err := m.layers(ctx, drv, spans, 1); err != nil {
		return err
	}
	head := m.head(drv, 0, k)
	for i, st := range states {
		copy(st.logits, head[i*v:(i+1)*v])
		st.n++
		st.hasLogits = true
	}
	return nil
}

// layers runs every decoder layer over the activations of drv (the rows of
// spans, t each), checking ctx before each.
func (m *Model) layers(ctx context.Context, drv *State, spans []span, t int) error {
	for l := range m.w.layers {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("transformer: at layer %d of %d: %w", l, m.cfg.NumLayers, err)
		}
		m.layer(l, drv, spans, t)
	}
	return nil
}

// head applies the final norm and lm_head to rows lo…hi−1 of drv's
// residual stream, returning their logits [(hi−lo) × V] in drv's scratch.
func (m *Model) head(drv *State, lo, hi int) []float32 {
	c := &m.cfg
	d, rows := c.HiddenSize, hi-lo
	b := &drv.buf
	rmsNorm(b.xb, b.x[lo*d:hi*d], m.w.norm, rows, d, c.RMSNormEps)
	out := drv.headScratch(rows)
	m.w.lmHead.mulT(out, b.xb, rows)
	return out
}

// layer runs decoder layer l over the residual stream of drv (rows of
// spans, t each: a span's row r0+i is its token at position p0+i), exactly
// as LlamaDecoderLayer:
//
//	x = x + o_proj(attention(rope(q_proj(norm1(x))), rope(k_proj(…)), v_proj(…)))
//	x = x + down_proj(silu(gate_proj(norm2(x))) · up_proj(norm2(x)))
//
// The projections that read the same input (q, k, v; gate, up) run as one
// parallel section (kernels.MatMulNTBatch), and the elementwise steps of a
// long chunk are split over the threads too.
func (m *Model) layer(l int, drv *State, spans []span, t int) {
	c := &m.cfg
	lw := &m.w.layers[l]
	b := &drv.buf
	d, rows, in := c.HiddenSize, len(spans)*t, c.IntermediateSize

	// Attention block.
	m.norm(b.xb, b.x, lw.attnNorm, rows)
	mulT3(&lw.wq, &lw.wk, &lw.wv, b.q, b.k, b.v, b.xb, rows) // [rows × H·hd], [rows × KV·hd] ×2
	m.ropeStore(drv, spans, l, t)
	m.attention(drv, spans, l, t) // b.att [rows × H·hd]
	lw.wo.mulT(b.proj, b.att, rows)
	addTo(b.x[:rows*d], b.proj[:rows*d])

	// MLP block.
	m.norm(b.xb, b.x, lw.mlpNorm, rows)
	mulT2(&lw.wGate, &lw.wUp, b.gate, b.up, b.xb, rows) // [rows × I] ×2
	siluMul(b.gate[:rows*in], b.up[:rows*in])
	lw.wDown.mulT(b.proj, b.gate, rows)
	addTo(b.x[:rows*d], b.proj[:rows*d])
}

// product describes y[t×rows] = x·wᵀ for kernels.MatMulNTBatch; ok is
// false for a matrix the batch cannot take (a quantised one), which must
// go through mulT.
func product(w *matrix, y, x []float32, t int) (p kernels.Product, ok bool) {
	if w.q8 != nil {
		return p, false
	}
	p = kernels.Product{C: y[:t*w.rows], A: x[:t*w.cols], M: t, N: w.rows, K: w.cols}
	n := w.rows * w.cols
	switch {
	case w.f16t != nil:
		p.F16M = w.f16t
	case w.dtype == weights.F16 && len(w.u16) == n:
		p.F16 = w.u16
	case w.dtype == weights.BF16 && len(w.u16) == n:
		p.BF16 = w.u16
	case w.dtype == weights.F32 && len(w.f32) == n:
		p.B32 = w.f32
	default:
		return p, false
	}
	return p, true
}

// mulT3 sets ya = x·waᵀ, yb = x·wbᵀ and yc = x·wcᵀ (t rows), in one
// parallel section when the matrices allow it.
func mulT3(wa, wb, wc *matrix, ya, yb, yc, x []float32, t int) {
	pa, oka := product(wa, ya, x, t)
	pb, okb := product(wb, yb, x, t)
	pc, okc := product(wc, yc, x, t)
	if oka && okb && okc {
		kernels.MatMulNTBatch(pa, pb, pc)
		return
	}
	wa.mulT(ya, x, t)
	wb.mulT(yb, x, t)
	wc.mulT(yc, x, t)
}

// mulT2 is mulT3 for two matrices.
func mulT2(wa, wb *matrix, ya, yb, x []float32, t int) {
	pa, oka := product(wa, ya, x, t)
	pb, okb := product(wb, yb, x, t)
	if oka && okb {
		kernels.MatMulNTBatch(pa, pb)
		return
	}
	wa.mulT(ya, x, t)
	wb.mulT(yb, x, t)
}

// norm is rmsNorm over rows rows of width D with weight w and the model's
// epsilon, split across the kernel threads for a long chunk.
func (m *Model) norm(dst, x, w []float32, rows int) {
	d, eps := m.cfg.HiddenSize, m.cfg.RMSNormEps
	if rows*d < parallelMin {
		rmsNorm(dst, x, w, rows, d, eps)
		return
	}
	kernels.ParallelFor(rows, func(lo, hi int) {
		rmsNorm(dst[lo*d:hi*d], x[lo*d:hi*d], w, hi-lo, d, eps)
	})
}

// ropeStore applies RoPE to the new queries and keys of every span (at
// their positions) and stores the keys and values in the spans' caches,
// split across the kernel threads for a long chunk.
func (m *Model) ropeStore(drv *State, spans []span, l, t int) {
	c := &m.cfg
	qd, kvd := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	if len(spans)*t*(qd+kvd) < parallelMin {
		for _, sp := range spans {
			m.ropeStoreRows(drv, sp, l, 0, t)
		}
		return
	}
	for _, sp := range spans {
		kernels.ParallelFor(t, func(lo, hi int) { m.ropeStoreRows(drv, sp, l, lo, hi) })
	}
}

// ropeStoreRows is ropeStore for rows i0…i1−1 of span sp.
func (m *Model) ropeStoreRows(drv *State, sp span, l, i0, i1 int) {
	c := &m.cfg
	b := &drv.buf
	qd, kvd := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	m.rope(b.q[(sp.r0+i0)*qd:], i1-i0, c.NumHeads, sp.p0+i0)
	m.rope(b.k[(sp.r0+i0)*kvd:], i1-i0, c.NumKVHeads, sp.p0+i0)
	sp.st.store(l, sp.p0, i0, i1, b.k[sp.r0*kvd:], b.v[sp.r0*kvd:])
}

// rope rotates, in place, the n heads of each of the t rows of x
// ([t × n·hd], row i at position p0+i) in the rotate_half layout:
// x' = x·cos + rotate_half(x)·sin.
func (m *Model) rope(x []float32, t, n, p0 int) {
	hd := m.cfg.HeadDim
	half := hd / 2
	for i := 0; i < t; i++ {
		cs := m.cos[(p0+i)*half : (p0+i+1)*half]
		sn := m.sin[(p0+i)*half : (p0+i+1)*half]
		row := x[i*n*hd : (i+1)*n*hd]
		for h := 0; h < n; h++ {
			kernels.Rope(row[h*hd:h*hd+half], row[h*hd+half:h*hd+hd], cs, sn)
		}
	}
}
