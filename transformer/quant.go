package transformer

import (
	"fmt"
	"slices"
	"sync"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/internal/weights"
)

// Q8 stores the linear weights in 8 bits: blocks of 32 int8 values with one
// binary16 scale each (llama.cpp's Q8_0 format, 1.0625 bytes per weight),
// made at load time from f32, f16 or bf16 weights by LoadWith or
// NewRandom. The embedding table keeps its file dtype (one row is read
// per token) and the norms stay float32. Each product also rounds its
// activations to 8 bits per block of 32 and sums exact integer block
// products (kernels.MatMulNTQ8): on the golden fixture the perplexity moves
// by about 0.1 %.
const Q8 DType = "q8"

// LoadOptions changes how a checkpoint is turned into a Model.
type LoadOptions struct {
	// Quantize, when Q8, converts the linear weights (q, k, v, o, gate, up,
	// down and lm_head) to 8 bits at load time; "" keeps the file dtype.
	Quantize DType
	// Layout chooses how binary16 linear weights that are not quantised
	// are kept: LayoutAuto (the zero value), LayoutTiled or LayoutStored.
	Layout Layout
}

// Layout is how a model keeps its binary16 (F16) linear weights.
type Layout uint8

const (
	// LayoutAuto is the library's choice, today LayoutStored: measured end
	// to end on the 2-core reference machine (BENCHMARKS.md), the tiled
	// layout did not pay for the LVM-300M (decode 55 vs 51–58 tokens/s
	// between runs, 4 candidates 141 vs 154–182, prefill of 1024 tokens
	// 297 vs 320–332), although its products stream faster alone.
	LayoutAuto Layout = iota
	// LayoutTiled copies the linear weights into the tiled layout of the
	// matrix-vector kernels (kernels.F16Matrix: rows in tiles of 4 read in
	// one sequential stream, in huge pages where the system offers them),
	// whose products alone stream the weights of a decode step about 30 %
	// faster than the stored row-major layout (one thread), with the same
	// results, bit for bit; a copy of a model over TileLimit is refused
	// (kept stored), as it would double the resident memory while made. The model then no longer
	// refers to the checkpoint: Load closes it, and Close is a no-op. It
	// applies only when every linear weight is binary16.
	LayoutTiled
	// LayoutStored keeps the weights as stored: views of the checkpoint
	// (memory-mapped by Load) or of the tensors given to newModelWith.
	LayoutStored
)

// TileLimit is the largest total of binary16 linear weights, in bytes,
// that LayoutTiled copies into tiles.
const TileLimit = 4 << 30

func (o LoadOptions) check() error {
	switch o.Quantize {
	case "", Q8:
	default:
		return fmt.Errorf("transformer: cannot quantise to %q (want q8, or empty for the file dtype)", o.Quantize)
	}
	if o.Layout > LayoutStored {
		return fmt.Errorf("transformer: unknown layout %d", o.Layout)
	}
	return nil
}

// LoadWith is Load with options. With Quantize: Q8 the weights are read
// once from the memory map into an 8-bit copy (in parallel over Threads()
// goroutines) and the checkpoint is closed: the model then lives in the
// process's memory (about 53 % of an fp16 checkpoint) and Close is a no-op.
// Otherwise Layout says whether fp16 linear weights are copied into tiles
// (see Load).
func LoadWith(path string, opts LoadOptions) (*Model, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	m, err := load(path)
	if err != nil {
		return nil, err
	}
	if opts.Quantize == Q8 {
		if err := m.quantizeQ8(); err != nil {
			m.Close()
			return nil, err
		}
	} else if !m.tileF16(opts.Layout, false) {
		return m, nil
	}
	// Nothing refers to the mapped file any more.
	if err := m.Close(); err != nil {
		return nil, fmt.Errorf("transformer: %w", err)
	}
	return m, nil
}

// newModelWith is newModel with options. With Quantize: Q8 the model keeps
// 8-bit copies of the linear weights and a copy of the embedding table, and
// no longer refers to src's data; so does a model whose fp16 linear weights
// Layout copies into tiles (LayoutAuto: when they total at most TileLimit).
func newModelWith(cfg Config, src tensorSource, opts LoadOptions) (*Model, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	m, err := newModel(cfg, src)
	if err != nil {
		return nil, err
	}
	if opts.Quantize == Q8 {
		if err := m.quantizeQ8(); err != nil {
			return nil, err
		}
		return m, nil
	}
	m.tileF16(opts.Layout, false)
	return m, nil
}

// newRandomQ8 is NewRandom(c, Q8, seed): the f16 random weights quantised.
func newRandomQ8(c Config, seed uint64) (*Model, error) {
	m, err := newRandom(c, F16, seed, LayoutStored)
	if err != nil {
		return nil, err
	}
	if err := m.quantizeQ8(); err != nil {
		return nil, err
	}
	return m, nil
}

// quantizeQ8 replaces every linear weight of m by its 8-bit copy (all in
// one allocation, in huge pages where the system offers them) and the
// embedding views by a copy in memory, so that the model no longer refers
// to the tensors it was built from. Each matrix's views are dropped as soon
// as it is quantised.
func (m *Model) quantizeQ8() error {
	w := &m.w
	// lm_head may alias the embedding (tied): it gets its own 8-bit copy.
	mats := m.linear()
	shapes := make([][2]int, len(mats))
	for i, mt := range mats {
		shapes[i] = [2]int{mt.rows, mt.cols}
	}
	qs := kernels.NewQ8Matrices(shapes...)
	for i, mt := range mats {
		if err := mt.quantizeQ8(qs[i]); err != nil {
			return err
		}
	}
	w.embed.f32 = slices.Clone(w.embed.f32)
	w.embed.u16 = slices.Clone(w.embed.u16)
	return nil
}

// quantizeQ8 fills q (w's shape) with w row by row, in parallel, and makes
// it w's storage, dropping the views. A value the format cannot hold (not
// finite, or beyond ±8.3e6) is an error naming the tensor and the row.
func (w *matrix) quantizeQ8(q *kernels.Q8Matrix) error {
	var mu sync.Mutex
	var first error
	kernels.ParallelFor(w.rows, func(lo, hi int) {
		buf := make([]float32, w.cols)
		for r := lo; r < hi; r++ {
			w.row(buf, r)
			if err := q.SetRow(r, buf); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("transformer: tensor %s row %d: %w", w.name, r, err)
				}
				mu.Unlock()
				return
			}
		}
	})
	if first != nil {
		return first
	}
	w.q8, w.f32, w.u16, w.f16t = q, nil, nil, nil
	return nil
}

// linear returns the model's linear weights: q, k, v, o, gate, up and down
// of every layer, then lm_head (which may alias the embedding).
func (m *Model) linear() []*matrix {
	w := &m.w
	var mats []*matrix
	for l := range w.layers {
		lw := &w.layers[l]
		mats = append(mats, &lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.wGate, &lw.wUp, &lw.wDown)
	}
	return append(mats, &w.lmHead)
}

// tileF16 copies every linear weight of m into the tiled layout
// (kernels.F16Matrix, one allocation) when layout asks for it and they are
// all binary16 views, and the embedding views into a copy in memory, so
// that the model no longer refers to the tensors it was built from; it
// reports whether it did. With inPlace (the weights are m's own, writable
// memory: NewRandom) a matrix whose shape needs no padding is reordered
// where it is instead of copied, and the embedding is copied only when a
// tied lm_head shares its memory.
func (m *Model) tileF16(layout Layout, inPlace bool) bool {
	if layout != LayoutTiled {
		return false
	}
	mats := m.linear()
	var total int64
	for _, mt := range mats {
		if mt.dtype != weights.F16 || mt.q8 != nil || mt.f16t != nil || len(mt.u16) != mt.rows*mt.cols {
			return false
		}
		total += 2 * int64(mt.rows) * int64(mt.cols)
	}
	if total > TileLimit {
		return false
	}
	w := &m.w
	// The embedding first: a tied lm_head shares its memory.
	if !inPlace || m.cfg.TieWordEmbeddings {
		w.embed.f32 = slices.Clone(w.embed.f32)
		w.embed.u16 = slices.Clone(w.embed.u16)
	}
	var copies []*matrix
	for _, mt := range mats {
		if inPlace {
			if t := kernels.TileF16InPlace(mt.u16, mt.rows, mt.cols); t != nil {
				mt.f16t, mt.u16 = t, nil
				continue
			}
		}
		copies = append(copies, mt)
	}
	shapes := make([][2]int, len(copies))
	for i, mt := range copies {
		shapes[i] = [2]int{mt.rows, mt.cols}
	}
	ts := kernels.NewF16Matrices(shapes...)
	for i, mt := range copies {
		ts[i].SetRows(0, mt.u16)
		mt.f16t, mt.u16 = ts[i], nil
	}
	return true
}

// bytes returns the storage of w in its dtype.
func (w *matrix) bytes() int64 {
	switch {
	case w.q8 != nil:
		return int64(w.q8.Bytes())
	case w.f16t != nil:
		return int64(w.f16t.Bytes())
	}
	return 4*int64(len(w.f32)) + 2*int64(len(w.u16))
}

// WeightBytes returns the bytes of weights the model holds, memory-mapped
// or in memory: every matrix in its storage dtype (for Q8, the 8-bit
// values, scales and row-tile padding; for tiled fp16, the padding of
// tiles), a tied lm_head once unless it has a copy of its own, and the
// float32 norms.
func (m *Model) WeightBytes() int64 {
	w := &m.w
	n := w.embed.bytes() + 4*int64(len(w.norm))
	if w.lmHead.q8 != nil || w.lmHead.f16t != nil || !m.cfg.TieWordEmbeddings {
		n += w.lmHead.bytes()
	}
	for l := range w.layers {
		lw := &w.layers[l]
		n += 4 * int64(len(lw.attnNorm)+len(lw.mlpNorm))
		for _, mt := range []*matrix{&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.wGate, &lw.wUp, &lw.wDown} {
			n += mt.bytes()
		}
	}
	return n
}
