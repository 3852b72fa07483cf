package transformer

import (
	"fmt"
	"slices"
	"sync"

	"github.com/lvm-go/lvm/internal/kernels"
)

// Q8 stores the linear weights in 8 bits: blocks of 32 int8 values with one
// binary16 scale each (llama.cpp's Q8_0 format, 1.0625 bytes per weight),
// made at load time from f32, f16 or bf16 weights by LoadWith, NewModelWith
// or NewRandom. The embedding table keeps its file dtype (one row is read
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
}

func (o LoadOptions) check() error {
	switch o.Quantize {
	case "", Q8:
		return nil
	}
	return fmt.Errorf("transformer: cannot quantise to %q (want q8, or empty for the file dtype)", o.Quantize)
}

// LoadWith is Load with options. With Quantize: Q8 the weights are read
// once from the memory map into an 8-bit copy (in parallel over Threads()
// goroutines) and the checkpoint is closed: the model then lives in the
// process's memory (about 53 % of an fp16 checkpoint) and Close is a no-op.
func LoadWith(path string, opts LoadOptions) (*Model, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	m, err := Load(path)
	if err != nil || opts.Quantize == "" {
		return m, err
	}
	if err := m.quantizeQ8(); err != nil {
		m.Close()
		return nil, err
	}
	// Nothing refers to the mapped file any more.
	if err := m.Close(); err != nil {
		return nil, fmt.Errorf("transformer: %w", err)
	}
	return m, nil
}

// NewModelWith is NewModel with options. With Quantize: Q8 the model keeps
// 8-bit copies of the linear weights and a copy of the embedding table, and
// no longer refers to src's data.
func NewModelWith(cfg Config, src TensorSource, opts LoadOptions) (*Model, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	m, err := NewModel(cfg, src)
	if err != nil || opts.Quantize == "" {
		return m, err
	}
	if err := m.quantizeQ8(); err != nil {
		return nil, err
	}
	return m, nil
}

// newRandomQ8 is NewRandom(c, Q8, seed): the f16 random weights quantised.
func newRandomQ8(c Config, seed uint64) (*Model, error) {
	m, err := NewRandom(c, F16, seed)
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
	var mats []*matrix
	for l := range w.layers {
		lw := &w.layers[l]
		mats = append(mats, &lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.wGate, &lw.wUp, &lw.wDown)
	}
	// lm_head may alias the embedding (tied): it gets its own 8-bit copy.
	mats = append(mats, &w.lmHead)
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
	w.q8, w.f32, w.u16 = q, nil, nil
	return nil
}

// bytes returns the storage of w in its dtype.
func (w *matrix) bytes() int64 {
	if w.q8 != nil {
		return int64(w.q8.Bytes())
	}
	return 4*int64(len(w.f32)) + 2*int64(len(w.u16))
}

// WeightBytes returns the bytes of weights the model holds, memory-mapped
// or in memory: every matrix in its storage dtype (for Q8, the 8-bit
// values, scales and row-tile padding), a tied lm_head once, and the
// float32 norms.
func (m *Model) WeightBytes() int64 {
	w := &m.w
	n := w.embed.bytes() + 4*int64(len(w.norm))
	if w.lmHead.q8 != nil || !m.cfg.TieWordEmbeddings {
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
