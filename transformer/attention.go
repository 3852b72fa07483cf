package transformer

import (
	"math"
	"sync/atomic"

	"github.com/lvm-go/lvm/internal/kernels"
)

const (
	// attnBlock is the number of queries of one head handled by one
	// attention work item on the matrix-product path.
	attnBlock = 64
	// attnGEMMMin is the smallest chunk that takes the matrix-product path;
	// shorter ones (decoding) use dot products straight from the cache.
	attnGEMMMin = 8
)

// attention computes causal softmax attention for layer l over the rows of
// drv's activations (drv.buf.q after RoPE → drv.buf.att [rows × H·hd]): for
// each span, its t queries at positions p0…p0+t−1 against its own state's
// cached keys and values of positions 0…p0+t−1 (the new ones already
// stored). Query head h reads key/value head h/(H/KV). The work, items of
// (span, head, block of queries), is spread over the kernel threads.
func (m *Model) attention(drv *State, spans []span, l, t int) {
	c := &m.cfg
	j := &drv.job
	j.spans, j.l, j.t = spans, l, t
	j.blocks, j.bs = 1, t
	if t >= attnGEMMMin {
		j.bs = attnBlock
		j.blocks = (t + attnBlock - 1) / attnBlock
	}
	j.items = len(spans) * c.NumHeads * j.blocks
	j.next.Store(0)
	s := 0
	for _, sp := range spans {
		s = max(s, sp.p0+t)
	}
	nw := min(kernels.Threads(), j.items)
	drv.attnWorkers(nw, s, j.bs > 1)
	if drv.runJob == nil {
		drv.runJob = drv.attentionWorkers // bound once: no allocation per call
	}
	kernels.ParallelFor(nw, drv.runJob)
	j.spans = nil
}

// attnJob describes the attention call in progress: the spans' queries
// (t each) of layer l, split into items (span, head, block of bs queries)
// handed out through next.
type attnJob struct {
	spans             []span
	l, t              int
	blocks, bs, items int
	next              atomic.Int64
}

// attentionWorkers runs workers lo…hi−1 of st.job: each takes items until
// none are left, using its own scratch buffers.
func (st *State) attentionWorkers(lo, hi int) {
	m, j := st.m, &st.job
	nh := m.cfg.NumHeads
	perSpan := nh * j.blocks
	for w := lo; w < hi; w++ {
		ws := &st.workers[w]
		for {
			it := int(j.next.Add(1) - 1)
			if it >= j.items {
				break
			}
			sp, rem := j.spans[it/perSpan], it%perSpan
			// Latest (longest) query blocks first, for balance.
			blk, h := j.blocks-1-rem/nh, rem%nh
			i0, i1 := blk*j.bs, min((blk+1)*j.bs, j.t)
			if j.bs > 1 {
				m.attendBlock(&st.buf, ws, sp, j.l, h, i0, i1)
			} else {
				m.attendRows(&st.buf, ws, sp, j.l, h, i0, i1)
			}
		}
	}
}

// attnScale is 1/√hd rounded to float32, the factor applied to q·k.
func (m *Model) attnScale() float32 { return float32(1 / math.Sqrt(float64(m.cfg.HeadDim))) }

// attendBlock is one work item of the matrix-product path: queries i0…i1−1
// of span sp, head h. Scores [rows × S] = q·Kᵀ over the S = p0+i1 keys
// visible to the last row, masked and softmaxed row by row, then multiplied
// by V (through a transposed copy, since the product kernel wants both
// operands along k).
func (m *Model) attendBlock(b *scratch, ws *attnScratch, sp span, l, h, i0, i1 int) {
	c := &m.cfg
	hd, qd := c.HeadDim, c.NumHeads*c.HeadDim
	rows, s := i1-i0, sp.p0+i1
	kh, vh := sp.st.cacheHead(l, h/(c.NumHeads/c.NumKVHeads), s)

	q := ws.q[:rows*hd]
	for r := 0; r < rows; r++ {
		src := (sp.r0+i0+r)*qd + h*hd
		copy(q[r*hd:(r+1)*hd], b.q[src:src+hd])
	}
	sc := ws.sc[:rows*s]
	kernels.MatMulNT(sc, q, kh, rows, s, hd)
	scale := m.attnScale()
	for r := 0; r < rows; r++ {
		valid := sp.p0 + i0 + r + 1
		row := sc[r*s : (r+1)*s]
		softmaxScaled(row[:valid], scale)
		clear(row[valid:])
	}
	vt := ws.vt[:hd*s]
	for j := 0; j < s; j++ {
		vj := vh[j*hd : (j+1)*hd]
		for d, x := range vj {
			vt[d*s+j] = x
		}
	}
	o := ws.o[:rows*hd]
	kernels.MatMulNT(o, sc, vt, rows, hd, s)
	for r := 0; r < rows; r++ {
		dst := (sp.r0+i0+r)*qd + h*hd
		copy(b.att[dst:dst+hd], o[r*hd:(r+1)*hd])
	}
}

// attendRows is the dot-product path for a few queries (decoding): for each
// query i0…i1−1 of span sp, head h, scores against its visible keys,
// softmax, and the probability-weighted sum of values accumulated straight
// into b.att.
func (m *Model) attendRows(b *scratch, ws *attnScratch, sp span, l, h, i0, i1 int) {
	c := &m.cfg
	hd, qd := c.HeadDim, c.NumHeads*c.HeadDim
	kh, vh := sp.st.cacheHead(l, h/(c.NumHeads/c.NumKVHeads), sp.p0+i1)
	scale := m.attnScale()
	for i := i0; i < i1; i++ {
		valid := sp.p0 + i + 1
		row := (sp.r0+i)*qd + h*hd
		q := b.q[row : row+hd]
		sc := ws.sc[:valid]
		for j := range sc {
			sc[j] = kernels.Dot(q, kh[j*hd:(j+1)*hd])
		}
		softmaxScaled(sc, scale)
		out := b.att[row : row+hd]
		clear(out)
		for j, p := range sc {
			kernels.Axpy(p, vh[j*hd:(j+1)*hd], out)
		}
	}
}

// attnWorkers makes sure st has nw worker buffers able to attend over s
// keys, with the block buffers when gemm is set.
func (st *State) attnWorkers(nw, s int, gemm bool) {
	if len(st.workers) < nw {
		st.workers = append(st.workers, make([]attnScratch, nw-len(st.workers))...)
	}
	hd := st.m.cfg.HeadDim
	for w := range st.workers[:nw] {
		ws := &st.workers[w]
		need := s
		if need > ws.s {
			// Grow geometrically so that decoding reallocates rarely.
			need = max(min(max(need, 2*ws.s, 64), st.m.cfg.MaxPositions), s)
		} else {
			need = ws.s
		}
		rows := 1
		if gemm {
			rows = attnBlock
		}
		if len(ws.sc) < rows*need {
			ws.sc = make([]float32, rows*need)
		}
		if gemm {
			if len(ws.vt) < hd*need {
				ws.vt = make([]float32, hd*need)
			}
			if len(ws.q) < attnBlock*hd {
				ws.q = make([]float32, attnBlock*hd)
				ws.o = make([]float32, attnBlock*hd)
			}
		}
		ws.s = need
	}
}
