package transformer

import (
	"gorgonia.org/tensor"
)

// State is one sequence's evaluation state: its key-value cache, the
// scratch buffers of the forward pass and the logits of its last token.
// Buffers are allocated when first needed and reused by every later call
// (a decode step makes no allocation of its own). A State belongs to the Model that made
// it and must not be used by two goroutines at once; different states of
// one model may run concurrently.
type State struct {
	m        *Model
	capacity int // positions the cache can hold (≤ MaxPositions)
	n        int // tokens held: positions 0..n−1

	// Cache [L][KV][capacity][hd]: keys (after RoPE) and values, head-major
	// so that one head's keys are a contiguous [S × hd] matrix. Positions
	// ≥ n are garbage.
	k, v []float32

	logits    []float32 // [V] logits of the last token, valid when hasLogits
	hasLogits bool
	one       [1]int // Decode's token, so that it does not allocate

	buf     scratch
	head    []float32        // [rows × V] logits of the rows being emitted
	workers []attnScratch    // one per attention worker
	spans   []span           // the spans of the pass in progress
	job     attnJob          // the attention call in progress
	runJob  func(lo, hi int) // st.attentionWorkers, bound once
}

// scratch holds the activations of one pass: a prefill chunk (at most
// maxChunk tokens) or one row per state of a DecodeBatch.
type scratch struct {
	rows int       // capacity in rows
	x    []float32 // [T × D] residual stream
	xb   []float32 // [T × D] normalized input of a block
	q    []float32 // [T × H·hd] queries
	k    []float32 // [T × KV·hd] new keys, before they go to the cache
	v    []float32 // [T × KV·hd] new values
	att  []float32 // [T × H·hd] attention output
	proj []float32 // [T × D] o_proj / down_proj output
	gate []float32 // [T × I] gate_proj output, then silu(gate)·up
	up   []float32 // [T × I] up_proj output
}

// attnScratch is one attention worker's buffers, sized for blocks of
// attnBlock queries against up to s keys.
type attnScratch struct {
	s  int       // keys the buffers hold
	sc []float32 // [attnBlock × s] scores, then probabilities
	vt []float32 // [hd × s] values of one head, transposed
	q  []float32 // [attnBlock × hd] queries of one head
	o  []float32 // [attnBlock × hd] outputs of one head
}

// NewState returns an empty state whose cache can hold MaxPositions tokens.
// The cache is allocated at once (L·KV·MaxPositions·hd·2 float32, 4 GiB for
// the 7B model) but pages that are never written are never touched; use
// NewStateCap for a smaller bound.
func (m *Model) NewState() *State { return m.NewStateCap(m.cfg.MaxPositions) }

// NewStateCap returns an empty state whose cache holds at most capacity
// tokens, clamped to [1, MaxPositions].
func (m *Model) NewStateCap(capacity int) *State {
	c := &m.cfg
	capacity = min(max(capacity, 1), c.MaxPositions)
	n := c.NumLayers * c.NumKVHeads * capacity * c.HeadDim
	return &State{
		m:        m,
		capacity: capacity,
		k:        make([]float32, n),
		v:        make([]float32, n),
		logits:   make([]float32, c.VocabSize),
	}
}

// Len is the number of tokens in the cache (the position of the next one).
func (st *State) Len() int { return st.n }

// Cap is the number of tokens the cache can hold.
func (st *State) Cap() int { return st.capacity }

// Model returns the model the state belongs to.
func (st *State) Model() *Model { return st.m }

// Reset empties the state (Len 0, no logits), keeping its buffers.
func (st *State) Reset() {
	st.n = 0
	st.hasLogits = false
}

// Clone returns an independent copy of the state: same tokens, cache and
// logits; later calls on either do not affect the other. Only the used part
// of the cache is copied; scratch buffers are not shared.
func (st *State) Clone() *State {
	m := st.m
	c := &m.cfg
	cl := m.NewStateCap(st.capacity)
	cl.n = st.n
	cl.hasLogits = st.hasLogits
	copy(cl.logits, st.logits)
	block := st.capacity * c.HeadDim
	used := st.n * c.HeadDim
	for b := 0; b < c.NumLayers*c.NumKVHeads; b++ {
		copy(cl.k[b*block:b*block+used], st.k[b*block:b*block+used])
		copy(cl.v[b*block:b*block+used], st.v[b*block:b*block+used])
	}
	return cl
}

// LastLogits returns the logits [V] of the last token, a view owned by the
// state: valid until the next Prefill, Decode or Reset (the zero-allocation
// path for samplers, which may modify it in place). It is nil when there
// are none (an empty state, or after an error).
func (st *State) LastLogits() []float32 {
	if !st.hasLogits {
		return nil
	}
	return st.logits
}

// Logits returns a copy of the last token's logits as a [V] float32 tensor,
// or ErrNoLogits.
func (st *State) Logits() (*tensor.Dense, error) {
	if !st.hasLogits {
		return nil, ErrNoLogits
	}
	out := make([]float32, len(st.logits))
	copy(out, st.logits)
	return tensor.New(tensor.WithShape(len(out)), tensor.WithBacking(out)), nil
}

// scratch returns the activation buffers sized for t rows, growing them
// (to at least t rows; at most maxChunk unless t is larger, for a batch)
// when needed.
func (st *State) scratch(t int) *scratch {
	b := &st.buf
	if b.rows >= t {
		return b
	}
	c := &st.m.cfg
	rows := t
	if rows > 1 {
		rows = max(min(max(rows, 2*b.rows), maxChunk), t)
	}
	d, qd, kvd, i := c.HiddenSize, c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim, c.IntermediateSize
	*b = scratch{
		rows: rows,
		x:    make([]float32, rows*d),
		xb:   make([]float32, rows*d),
		q:    make([]float32, rows*qd),
		k:    make([]float32, rows*kvd),
		v:    make([]float32, rows*kvd),
		att:  make([]float32, rows*qd),
		proj: make([]float32, rows*d),
		gate: make([]float32, rows*i),
		up:   make([]float32, rows*i),
	}
	return b
}

// headScratch returns a buffer for rows logit rows.
func (st *State) headScratch(rows int) []float32 {
	n := rows * st.m.cfg.VocabSize
	if len(st.head) < n {
		st.head = make([]float32, n)
	}
	return st.head[:n]
}

// store copies t new keys and values of layer l (rows of k and v, each
// [t × KV·hd]) into the cache at positions p0…p0+t−1.
func (st *State) store(l, p0, t int, k, v []float32) {
	c := &st.m.cfg
	hd, kvh := c.HeadDim, c.NumKVHeads
	for g := 0; g < kvh; g++ {
		base := ((l*kvh+g)*st.capacity + p0) * hd
		kc := st.k[base : base+t*hd]
		vc := st.v[base : base+t*hd]
		for i := 0; i < t; i++ {
			src := (i*kvh + g) * hd
			copy(kc[i*hd:(i+1)*hd], k[src:src+hd])
			copy(vc[i*hd:(i+1)*hd], v[src:src+hd])
		}
	}
}

// spanSlice returns a reusable slice of n spans.
func (st *State) spanSlice(n int) []span {
	if cap(st.spans) < n {
		st.spans = make([]span, n)
	}
	return st.spans[:n]
}

// cacheHead returns the first s keys and values of kv head g of layer l,
// each a contiguous [s × hd] matrix.
func (st *State) cacheHead(l, g, s int) (k, v []float32) {
	c := &st.m.cfg
	base := (l*c.NumKVHeads + g) * st.capacity * c.HeadDim
	return st.k[base : base+s*c.HeadDim], st.v[base : base+s*c.HeadDim]
}
