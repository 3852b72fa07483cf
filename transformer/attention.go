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
	// shorter ones (decoding) use matrix-vector products straight from the
	// cache.
	attnGEMMMin = 8
)

// attention computes causal softmax attention for layer l over the rows of
// drv's activations (drv.buf.q after RoPE → drv.buf.att [rows × H·hd]): for
// each span, its t queries at positions p0…p0+t−1 against its own state's
// cached keys and values of positions 0…p0+t−1 (the new ones already
// stored). Query head h reads key/value head h/(H/KV). The work, items of
// (span, head, block of queries) — or, when decoding several states, of
// (group of states sharing a prefix, head) — is spread over the kernel
// threads.
//
// The memory it needs is linear in the context: a worker holds the scores
// of one block of queries against the keys it sees ([S × attnBlock]), never
// a [T × T] matrix.
func (m *Model) attention(drv *State, spans []span, l, t int) {
	c := &m.cfg
	j := &drv.job
	j.spans, j.l, j.t = spans, l, t
	j.blocks, j.bs, j.groups = 1, t, 0
	switch {
	case t >= attnGEMMMin:
		j.bs = attnBlock
		j.blocks = (t + attnBlock - 1) / attnBlock
		j.items = len(spans) * c.NumHeads * j.blocks
	case t == 1:
		j.groups = drv.groupSpans(spans)
		j.items = j.groups * c.NumHeads
	default:
		j.items = len(spans) * c.NumHeads
	}
	j.next.Store(0)
	s, f16 := 0, false
	for _, sp := range spans {
		s = max(s, sp.p0+t)
		f16 = f16 || sp.st.cache == CacheF16
	}
	nw := min(kernels.Threads(), j.items)
	drv.attnWorkers(nw, s, len(spans), j.bs > 1, f16)
	if drv.runJob == nil {
		drv.runJob = drv.attentionWorkers // bound once: no allocation per call
	}
	kernels.ParallelFor(nw, drv.runJob)
	j.spans = nil
}

// attnJob describes the attention call in progress: the spans' queries
// (t each) of layer l, split into items (span, head, block of bs queries),
// or (group, head) when groups > 0, handed out through next.
type attnJob struct {
	spans             []span
	l, t              int
	blocks, bs, items int
	groups            int
	next              atomic.Int64
}

// groupSpans orders the spans of a decode step into groups of states that
// share a prefix (st.grp holds span indices group by group, st.grpStart
// the start of each group and one past the end) and returns the number of
// groups. A state without a prefix is a group of its own.
func (st *State) groupSpans(spans []span) int {
	st.grp = st.grp[:0]
	st.grpStart = append(st.grpStart[:0], 0)
	for i, sp := range spans {
		seen := false
		for _, j := range st.grp {
			if j == i {
				seen = true
				break
			}
		}
		if seen {
			continue
		}
		st.grp = append(st.grp, i)
		if p := sp.st.pre; p != nil {
			for j := i + 1; j < len(spans); j++ {
				if spans[j].st.pre == p {
					st.grp = append(st.grp, j)
				}
			}
		}
		st.grpStart = append(st.grpStart, len(st.grp))
	}
	return len(st.grpStart) - 1
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
			switch {
			case j.groups > 0:
				g, h := it/nh, it%nh
				m.attendGroup(&st.buf, ws, j.spans, st.grp[st.grpStart[g]:st.grpStart[g+1]], j.l, h)
			case j.bs > 1:
				sp, rem := j.spans[it/perSpan], it%perSpan
				// Latest (longest) query blocks first, for balance.
				blk, h := j.blocks-1-rem/nh, rem%nh
				i0, i1 := blk*j.bs, min((blk+1)*j.bs, j.t)
				m.attendBlock(&st.buf, ws, sp, j.l, h, i0, i1)
			default:
				m.attendRows(&st.buf, ws, j.spans[it/nh], j.l, it%nh, 0, j.t)
			}
		}
	}
}

// attnScale is 1/√hd rounded to float32, the factor applied to q·k.
func (m *Model) attnScale() float32 { return float32(1 / math.Sqrt(float64(m.cfg.HeadDim))) }

// keyScores sets sc[i·n + j] = q_i·key_j for m queries q [m × hd] and the
// n keys of kf (or, binary16, kh), read in place.
func keyScores(sc, q, kf []float32, kh []uint16, m, n, hd int) {
	if kh != nil {
		kernels.MatMulNTF16Serial(sc, q, kh[:n*hd], m, n, hd)
	} else {
		kernels.MatMulNTSerial(sc, q, kf[:n*hd], m, n, hd)
	}
}

// valueSum sets (adds, with acc) out[i·ldo + d] = Σ_j p(i, j)·value_j[d]
// for m rows of probabilities p(i, j) = p[i·ais + j] over the n values of
// vf (or vh), read in place.
func valueSum(out []float32, ldo int, p []float32, ais int, vf []float32, vh []uint16, m, n, hd int, acc bool) {
	if vh != nil {
		kernels.MatMulNNF16(out, ldo, p, ais, 1, vh[:n*hd], hd, m, hd, n, acc)
	} else {
		kernels.MatMulNN(out, ldo, p, ais, 1, vf[:n*hd], hd, m, hd, n, acc)
	}
}

// attendBlock is one work item of the matrix-product path: queries i0…i1−1
// of span sp, head h, against the S = p0+i1 keys visible to the last of
// them. With Qᵀ [hd × attnBlock] the block's queries transposed (unused
// columns keep stale finite values), the scores are computed key-major,
// Sᵀ [S × attnBlock] = K·Qᵀ (kernels.MatMulNN, reading the cache in place),
// the keys after each query are masked with −Inf, each column (query) gets
// its softmax (kernels.SoftmaxColumns: per query exactly the row softmax of
// the reference), and O [rows × hd] = P·V reads P through Sᵀ's strides and
// writes straight into b.att. A binary16 cache is widened into the
// worker's buffers first.
func (m *Model) attendBlock(b *scratch, ws *attnScratch, sp span, l, h, i0, i1 int) {
	c := &m.cfg
	hd, qd := c.HeadDim, c.NumHeads*c.HeadDim
	rows, s := i1-i0, sp.p0+i1
	kv := sp.st.cacheHead(l, h/(c.NumHeads/c.NumKVHeads), s)
	np := kv.np
	if kv.okh != nil {
		kernels.F16sToF32s(ws.kf, kv.pkh)
		kernels.F16sToF32s(ws.kf[np*hd:], kv.okh)
		kernels.F16sToF32s(ws.vf, kv.pvh)
		kernels.F16sToF32s(ws.vf[np*hd:], kv.ovh)
		kv.pk, kv.ok = ws.kf[:np*hd], ws.kf[np*hd:s*hd]
		kv.pv, kv.ov = ws.vf[:np*hd], ws.vf[np*hd:s*hd]
	}

	qt := ws.qt[:hd*attnBlock]
	for r := 0; r < rows; r++ {
		src := b.q[(sp.r0+i0+r)*qd+h*hd:]
		src = src[:hd]
		for p, x := range src {
			qt[p*attnBlock+r] = x
		}
	}
	sc := ws.sc[:s*attnBlock]
	kernels.MatMulNN(sc, attnBlock, kv.pk, hd, 1, qt, attnBlock, np, attnBlock, hd, false)
	kernels.MatMulNN(sc[np*attnBlock:], attnBlock, kv.ok, hd, 1, qt, attnBlock, s-np, attnBlock, hd, false)
	// Query r (position q0+r) sees keys 0…q0+r.
	q0 := sp.p0 + i0
	ninf := float32(math.Inf(-1))
	for j := q0 + 1; j < s; j++ {
		row := sc[j*attnBlock : j*attnBlock+min(j-q0, rows)]
		for r := range row {
			row[r] = ninf
		}
	}
	cols := min(attnBlock, (rows+15)&^15)
	kernels.SoftmaxColumns(sc, s, cols, attnBlock, m.attnScale())
	dst := b.att[(sp.r0+i0)*qd+h*hd:]
	kernels.MatMulNN(dst, qd, sc, 1, attnBlock, kv.pv, hd, rows, hd, np, false)
	kernels.MatMulNN(dst, qd, sc[np*attnBlock:], 1, attnBlock, kv.ov, hd, rows, hd, s-np, np > 0)
}

// attendRows is the matrix-vector path for a few queries (decoding): for
// each query i0…i1−1 of span sp, head h, the scores against its visible
// keys (products with the cache rows as they are stored, binary16 widened
// in registers), their softmax, and the probability-weighted sum of the
// values, written straight into b.att.
func (m *Model) attendRows(b *scratch, ws *attnScratch, sp span, l, h, i0, i1 int) {
	c := &m.cfg
	hd, qd := c.HeadDim, c.NumHeads*c.HeadDim
	kv := sp.st.cacheHead(l, h/(c.NumHeads/c.NumKVHeads), sp.p0+i1)
	np := kv.np
	scale := m.attnScale()
	for i := i0; i < i1; i++ {
		valid := sp.p0 + i + 1
		row := (sp.r0+i)*qd + h*hd
		q := b.q[row : row+hd]
		sc := ws.sc[:valid]
		out := b.att[row : row+hd]
		keyScores(sc, q, kv.pk, kv.pkh, 1, np, hd)
		keyScores(sc[np:], q, kv.ok, kv.okh, 1, valid-np, hd)
		kernels.Softmax(sc, scale)
		valueSum(out, hd, sc, 0, kv.pv, kv.pvh, 1, np, hd, false)
		valueSum(out, hd, sc[np:], 0, kv.ov, kv.ovh, 1, valid-np, hd, np > 0)
	}
}

// attendGroup is a decode work item for head h of a group of spans (one
// query each) whose states share a prefix: the prefix's keys and values
// are read once for all the group's queries (products with m = the group
// size), then each state's own positions are added. Every query gets
// exactly the values attendRows gives it alone.
func (m *Model) attendGroup(b *scratch, ws *attnScratch, spans []span, grp []int, l, h int) {
	if len(grp) == 1 {
		m.attendRows(b, ws, spans[grp[0]], l, h, 0, 1)
		return
	}
	c := &m.cfg
	hd, qd := c.HeadDim, c.NumHeads*c.HeadDim
	g, n := h/(c.NumHeads/c.NumKVHeads), len(grp)
	np, smax := spans[grp[0]].st.pre.n, 0
	for _, i := range grp {
		smax = max(smax, spans[i].p0+1)
	}
	qg := ws.qg[:n*hd]
	for x, i := range grp {
		src := spans[i].r0*qd + h*hd
		copy(qg[x*hd:(x+1)*hd], b.q[src:src+hd])
	}
	pre := spans[grp[0]].st.cacheHead(l, g, np)
	tmp := ws.tmp[:n*np]
	keyScores(tmp, qg, pre.pk, pre.pkh, n, np, hd)
	sc := ws.sc[:n*smax]
	scale := m.attnScale()
	for x, i := range grp {
		sp := spans[i]
		valid := sp.p0 + 1
		kv := sp.st.cacheHead(l, g, valid)
		row := sc[x*smax : x*smax+valid]
		copy(row, tmp[x*np:(x+1)*np])
		keyScores(row[np:], qg[x*hd:(x+1)*hd], kv.ok, kv.okh, 1, valid-np, hd)
		kernels.Softmax(row, scale)
	}
	o := ws.o[:n*hd]
	valueSum(o, hd, sc, smax, pre.pv, pre.pvh, n, np, hd, false)
	for x, i := range grp {
		sp := spans[i]
		valid := sp.p0 + 1
		kv := sp.st.cacheHead(l, g, valid)
		valueSum(o[x*hd:], hd, sc[x*smax+np:], 0, kv.ov, kv.ovh, 1, valid-np, hd, true)
		dst := sp.r0*qd + h*hd
		copy(b.att[dst:dst+hd], o[x*hd:(x+1)*hd])
	}
}

// attnWorkers makes sure st has nw worker buffers able to attend over s
// keys for up to k spans, with the block buffers when gemm is set (and
// those widening a binary16 cache when f16 is).
func (st *State) attnWorkers(nw, s, k int, gemm, f16 bool) {
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
		rows := k
		if gemm {
			rows = max(k, attnBlock)
		}
		if len(ws.sc) < rows*need {
			ws.sc = make([]float32, rows*need)
		}
		if k > 1 && len(ws.tmp) < k*need {
			ws.tmp = make([]float32, k*need)
		}
		if len(ws.qg) < k*hd {
			ws.qg = make([]float32, k*hd)
			ws.o = make([]float32, k*hd)
		}
		if gemm {
			if len(ws.qt) < attnBlock*hd {
				ws.qt = make([]float32, attnBlock*hd)
			}
			if f16 && len(ws.kf) < hd*need {
				ws.kf = make([]float32, hd*need)
				ws.vf = make([]float32, hd*need)
			}
		}
		ws.s = need
	}
}
