package transformer

import (
	"gorgonia.org/tensor"

	"github.com/lvm-go/lvm/internal/kernels"
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
	// so that one head's keys are a contiguous [S × hd] matrix. Exactly one
	// pair is allocated: k, v for CacheF32, kh, vh (binary16 bits) for
	// CacheF16. Positions 0…pre.n−1 are read from the shared prefix pre
	// (when not nil) instead; positions ≥ n are garbage.
	cache  CacheType
	k, v   []float32
	kh, vh []uint16
	pre    *prefix

	logits    []float32 // [V] logits of the last token, valid when hasLogits
	hasLogits bool
	one       [1]int // Decode's token, so that it does not allocate

	buf      scratch
	head     []float32        // [rows × V] logits of the rows being emitted
	workers  []attnScratch    // one per attention worker
	spans    []span           // the spans of the pass in progress
	grp      []int            // span indices of a decode step, group by group (attention)
	grpStart []int            // start of each group in grp, and its end
	job      attnJob          // the attention call in progress
	runJob   func(lo, hi int) // st.attentionWorkers, bound once
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

// prefix is an immutable copy of the first n positions of a cache, made by
// Clone and shared by the state and all its clones: K candidates of one
// prompt keep one copy of the prompt's keys and values, and DecodeBatch
// reads it once per step for all of them. It is never written after it is
// made, so states sharing it stay independent.
type prefix struct {
	n      int
	k, v   []float32 // [L][KV][n][hd] (CacheF32)
	kh, vh []uint16  // [L][KV][n][hd] (CacheF16)
}

// attnScratch is one attention worker's buffers, sized for blocks of
// attnBlock queries against up to s keys.
type attnScratch struct {
	s      int       // keys the buffers hold
	sc     []float32 // [s × attnBlock] scores, then probabilities (transposed: key-major); [s] when decoding
	qt     []float32 // [hd × attnBlock] queries of one head, transposed
	kf, vf []float32 // [s × hd] one head's keys and values widened from a CacheF16 cache
	qg, o  []float32 // [K × hd] a decode group's queries of one head, and their outputs
	tmp    []float32 // [K × s] a decode group's scores against the shared prefix
}

// CacheType is the element type of a state's key-value cache.
type CacheType int

const (
	// CacheF32 keeps keys and values in float32: exact, the default.
	CacheF32 CacheType = iota
	// CacheF16 rounds keys and values to binary16 when they are stored:
	// half the memory (2 GiB instead of 4 for a full 7B state) and half
	// the cache traffic of decoding at long context, for a change of the
	// logits of the order of the rounding (2⁻¹¹ relative) of keys and
	// values. Arithmetic stays float32.
	CacheF16
)

// String returns "f32" or "f16".
func (c CacheType) String() string {
	if c == CacheF16 {
		return "f16"
	}
	return "f32"
}

// NewState returns an empty state whose cache can hold MaxPositions tokens.
// The cache is allocated at once (L·KV·MaxPositions·hd·2 float32, 4 GiB for
// the 7B model) but pages that are never written are never touched; use
// NewStateCap for a smaller bound.
func (m *Model) NewState() *State { return m.NewStateCap(m.cfg.MaxPositions) }

// NewStateCap returns an empty state whose cache holds at most capacity
// tokens, clamped to [1, MaxPositions].
func (m *Model) NewStateCap(capacity int) *State { return m.NewStateCache(capacity, CacheF32) }

// NewStateCache is NewStateCap with a cache of element type ct (CacheF32
// or CacheF16; any other value means CacheF32).
func (m *Model) NewStateCache(capacity int, ct CacheType) *State {
	c := &m.cfg
	capacity = min(max(capacity, 1), c.MaxPositions)
	n := c.NumLayers * c.NumKVHeads * capacity * c.HeadDim
	st := &State{
		m:        m,
		capacity: capacity,
		logits:   make([]float32, c.VocabSize),
	}
	if ct == CacheF16 {
		st.cache = CacheF16
		st.kh, st.vh = make([]uint16, n), make([]uint16, n)
	} else {
		st.k, st.v = make([]float32, n), make([]float32, n)
	}
	return st
}

// Cache reports the element type of the state's key-value cache.
func (st *State) Cache() CacheType { return st.cache }

// Len is the number of tokens in the cache (the position of the next one).
func (st *State) Len() int { return st.n }

// Cap is the number of tokens the cache can hold.
func (st *State) Cap() int { return st.capacity }

// Model returns the model the state belongs to.
func (st *State) Model() *Model { return st.m }

// Reset empties the state (Len 0, no logits), keeping its buffers (a
// shared prefix is left to the clones still using it).
func (st *State) Reset() {
	st.n = 0
	st.pre = nil
	st.hasLogits = false
}

// Clone returns an independent copy of the state: same tokens, cache and
// logits; later calls on either do not affect the other. The tokens
// cached so far become a prefix shared, read-only, by the state and its
// clones (copied once, by the first Clone after new tokens): cloning K
// candidates from one prompt costs one copy of the prompt's cache, not K,
// and DecodeBatch over them reads it once per step. Scratch buffers are
// not shared.
func (st *State) Clone() *State {
	st.freeze()
	cl := st.m.NewStateCache(st.capacity, st.cache)
	cl.n, cl.pre = st.n, st.pre
	cl.hasLogits = st.hasLogits
	copy(cl.logits, st.logits)
	return cl
}

// freeze makes all of st's cached tokens its shared prefix.
func (st *State) freeze() {
	if st.n == 0 {
		st.pre = nil
		return
	}
	old := st.pre
	if old != nil && old.n == st.n {
		return
	}
	c := &st.m.cfg
	hd, n, np := c.HeadDim, st.n, 0
	if old != nil {
		np = old.n
	}
	p := &prefix{n: n}
	size := c.NumLayers * c.NumKVHeads * n * hd
	if st.cache == CacheF16 {
		p.kh, p.vh = make([]uint16, size), make([]uint16, size)
	} else {
		p.k, p.v = make([]float32, size), make([]float32, size)
	}
	for b := 0; b < c.NumLayers*c.NumKVHeads; b++ {
		dst, own := b*n*hd, b*st.capacity*hd
		if st.cache == CacheF16 {
			if old != nil {
				copy(p.kh[dst:dst+np*hd], old.kh[b*np*hd:(b+1)*np*hd])
				copy(p.vh[dst:dst+np*hd], old.vh[b*np*hd:(b+1)*np*hd])
			}
			copy(p.kh[dst+np*hd:dst+n*hd], st.kh[own+np*hd:own+n*hd])
			copy(p.vh[dst+np*hd:dst+n*hd], st.vh[own+np*hd:own+n*hd])
		} else {
			if old != nil {
				copy(p.k[dst:dst+np*hd], old.k[b*np*hd:(b+1)*np*hd])
				copy(p.v[dst:dst+np*hd], old.v[b*np*hd:(b+1)*np*hd])
			}
			copy(p.k[dst+np*hd:dst+n*hd], st.k[own+np*hd:own+n*hd])
			copy(p.v[dst+np*hd:dst+n*hd], st.v[own+np*hd:own+n*hd])
		}
	}
	st.pre = p
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

// store copies the new keys and values of rows i0…i1−1 of a t-row block
// of layer l (rows of k and v, each [t × KV·hd], row i at position p0+i)
// into the cache, rounding them to binary16 for a CacheF16 cache.
func (st *State) store(l, p0, i0, i1 int, k, v []float32) {
	c := &st.m.cfg
	hd, kvh := c.HeadDim, c.NumKVHeads
	for g := 0; g < kvh; g++ {
		base := ((l*kvh+g)*st.capacity + p0) * hd
		for i := i0; i < i1; i++ {
			src := (i*kvh + g) * hd
			dst := base + i*hd
			if st.cache == CacheF16 {
				kernels.F32sToF16s(st.kh[dst:dst+hd], k[src:src+hd])
				kernels.F32sToF16s(st.vh[dst:dst+hd], v[src:src+hd])
			} else {
				copy(st.k[dst:dst+hd], k[src:src+hd])
				copy(st.v[dst:dst+hd], v[src:src+hd])
			}
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

// kvHead is the keys and values of positions 0…s−1 of one kv head of one
// layer, each a contiguous [· × hd] matrix per part: positions 0…np−1 in
// the shared prefix (pk, pv, or pkh, pvh for a CacheF16 cache), np…s−1 in
// the state's own cache (ok, ov, or okh, ovh; row 0 is position np).
type kvHead struct {
	np, s              int
	pk, pv, ok, ov     []float32
	pkh, pvh, okh, ovh []uint16
}

// cacheHead returns the first s keys and values of kv head g of layer l.
func (st *State) cacheHead(l, g, s int) kvHead {
	c := &st.m.cfg
	hd := c.HeadDim
	b := l*c.NumKVHeads + g
	h := kvHead{s: s}
	if p := st.pre; p != nil {
		h.np = min(p.n, s)
		lo, hi := b*p.n*hd, (b*p.n+h.np)*hd
		if st.cache == CacheF16 {
			h.pkh, h.pvh = p.kh[lo:hi], p.vh[lo:hi]
		} else {
			h.pk, h.pv = p.k[lo:hi], p.v[lo:hi]
		}
	}
	lo, hi := (b*st.capacity+h.np)*hd, (b*st.capacity+s)*hd
	if st.cache == CacheF16 {
		h.okh, h.ovh = st.kh[lo:hi], st.vh[lo:hi]
	} else {
		h.ok, h.ov = st.k[lo:hi], st.v[lo:hi]
	}
	return h
}
