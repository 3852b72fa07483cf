package tokenizer

import (
	"math"

	"github.com/lvm-go/lvm/internal/kernels"
)

// This file is the network's forward pass, written to read like REFERENCE §2.
// Every function takes its input activation without consuming it and returns
// a new one taken from the workspace; the caller releases what it no longer
// needs with ws.put.

// forward runs the ResnetBlock: conv1(silu(norm1 x)), conv2(silu(norm2 ·)),
// plus x or nin_shortcut(x).
func (r *resBlock) forward(ws *workspace, x act) act {
	t := newAct(ws, x.h, x.w, x.c)
	r.norm1.forward(t.d, x.d, true)
	h := r.conv1.forward(ws, t, geomSame, nil)
	ws.put(t.d)
	r.norm2.forward(h.d, h.d, true)
	res := x.d
	var s act
	if r.nin != nil {
		s = r.nin.forward(ws, x, geomSame, nil)
		res = s.d
	}
	out := r.conv2.forward(ws, h, geomSame, res)
	ws.put(h.d)
	if r.nin != nil {
		ws.put(s.d)
	}
	return out
}

// forward runs the attention block: x + proj_out(v·softmax(qᵀk/√C)ᵀ) with
// q, k, v the 1×1 projections of norm(x), attending over all h·w positions.
// Queries are processed in bands so the score matrix stays within
// bandBudget.
func (a *attnBlock) forward(ws *workspace, x act) act {
	P, C := x.pixels(), x.c
	hn := newAct(ws, x.h, x.w, C)
	a.norm.forward(hn.d, x.d, false)
	q := a.q.forward(ws, hn, geomSame, nil)
	k := a.k.forward(ws, hn, geomSame, nil)
	v := a.v.forward(ws, hn, geomSame, nil)
	ws.put(hn.d)
	vt := ws.get(C * P) // vᵀ: [C, P]
	kernels.ParallelFor(C, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			row := vt[c*P : (c+1)*P]
			for p := range row {
				row[p] = v.d[p*C+c]
			}
		}
	})
	ws.put(v.d)
	o := newAct(ws, x.h, x.w, C)
	rows := max(1, min(P, bandBudget/P))
	s := ws.get(rows * P)
	scale := float32(1 / math.Sqrt(float64(C)))
	for i0 := 0; i0 < P; i0 += rows {
		n := min(rows, P-i0)
		gemmNT(s, q.d[i0*C:], k.d, n, P, C)
		kernels.ParallelFor(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				softmaxScaled(s[i*P:(i+1)*P], scale)
			}
		})
		gemmNT(o.d[i0*C:], s, vt, n, C, P)
	}
	ws.put(s)
	ws.put(vt)
	ws.put(q.d)
	ws.put(k.d)
	out := a.projO.forward(ws, o, geomSame, x.d)
	ws.put(o.d)
	return out
}

// softmaxScaled replaces row by softmax(row·scale), in place.
func softmaxScaled(row []float32, scale float32) {
	m := float32(math.Inf(-1))
	for i, v := range row {
		v *= scale
		row[i] = v
		if v > m {
			m = v
		}
	}
	var sum float64
	for i, v := range row {
		e := exp32(v - m)
		row[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range row {
		row[i] *= inv
	}
}

func (m *midBlock) forward(ws *workspace, x act) act {
	h := m.block1.forward(ws, x)
	if m.attn != nil {
		t := m.attn.forward(ws, h)
		ws.put(h.d)
		h = t
	}
	out := m.block2.forward(ws, h)
	ws.put(h.d)
	return out
}

// forward runs one level: each ResnetBlock (followed by its attention block
// when the level applies them), then the resampling, downward for the
// encoder (down = true) and upward for the decoder.
func (l *level) forward(ws *workspace, x act, down bool) act {
	h, own := x, false
	step := func(next act) {
		if own {
			ws.put(h.d)
		}
		h, own = next, true
	}
	for j := range l.blocks {
		step(l.blocks[j].forward(ws, h))
		if l.applyAttn {
			step(l.attns[j].forward(ws, h))
		}
	}
	if l.resample {
		switch {
		case down && l.rconv != nil:
			step(l.rconv.forward(ws, h, geomDown, nil))
		case down:
			step(avgPool2(ws, h))
		case l.rconv != nil:
			step(l.rconv.forward(ws, h, geomUp, nil))
		default:
			step(upNearest2(ws, h))
		}
	}
	return h
}

// forward maps channels-last pixels [H, W, Cimg] to the encoder output
// [H/f, W/f, z_channels].
func (e *encoder) forward(ws *workspace, x act) act {
	h := e.convIn.forward(ws, x, geomSame, nil)
	for i := range e.levels {
		t := e.levels[i].forward(ws, h, true)
		ws.put(h.d)
		h = t
	}
	t := e.mid.forward(ws, h)
	ws.put(h.d)
	h = t
	e.normOut.forward(h.d, h.d, true)
	out := e.convOut.forward(ws, h, geomSame, nil)
	ws.put(h.d)
	return out
}

// forward maps a post_quant_conv output [h, w, z_channels] to raw pixels
// [h·f, w·f, Cimg] (not clamped).
func (d *decoder) forward(ws *workspace, z act) act {
	h := d.convIn.forward(ws, z, geomSame, nil)
	t := d.mid.forward(ws, h)
	ws.put(h.d)
	h = t
	for i := len(d.levels) - 1; i >= 0; i-- {
		t := d.levels[i].forward(ws, h, false)
		ws.put(h.d)
		h = t
	}
	d.normOut.forward(h.d, h.d, true)
	out := d.convOut.forward(ws, h, geomSame, nil)
	ws.put(h.d)
	return out
}

// latent runs encoder and quant_conv on one CHW image [Cimg, H, W] and
// returns the channels-last latent [H/f, W/f, E].
func (m *model) latent(ws *workspace, chw []float32, c, hgt, wid int) act {
	x := newAct(ws, hgt, wid, c)
	chwToHWC(x.d, chw, c, hgt*wid)
	z := m.enc.forward(ws, x)
	ws.put(x.d)
	q := m.quantConv.forward(ws, z, geomSame, nil)
	ws.put(z.d)
	return q
}

// decodeLatent runs post_quant_conv and the decoder on a channels-last
// latent [h, w, E] and returns channels-last raw pixels [h·f, w·f, Cimg].
func (m *model) decodeLatent(ws *workspace, z act) act {
	p := m.postQuantConv.forward(ws, z, geomSame, nil)
	out := m.dec.forward(ws, p)
	ws.put(p.d)
	return out
}

// lookup writes the codebook rows of codes (all in range) into z, a
// channels-last latent [len(codes), E].
func (m *model) lookup(z []float32, codes []int, E int) {
	for p, id := range codes {
		copy(z[p*E:(p+1)*E], m.codebook[id*E:(id+1)*E])
	}
}

// quantize sets codes[p] to the index of the codebook row nearest (in
// Euclidean distance) to row p of z ([P, E], channels-last latent); ties go
// to the lowest index. If margins is non-nil, margins[p] receives the gap
// between the second-best and the best squared distance.
//
// Distances come from a float32 product z·eᵀ; every code within a
// rounding-error bound of the best is then re-scored exactly in float64, so
// the choice is that of exact arithmetic.
func (m *model) quantize(ws *workspace, z []float32, P, E int, codes []int, margins []float64) {
	K := len(m.codeNorms)
	rows := max(1, min(P, bandBudget/K))
	dots := ws.get(rows * K)
	for p0 := 0; p0 < P; p0 += rows {
		n := min(rows, P-p0)
		gemmNT(dots, z[p0*E:], m.codebook, n, K, E)
		kernels.ParallelFor(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				p := p0 + i
				var mg *float64
				if margins != nil {
					mg = &margins[p]
				}
				codes[p] = m.nearest(z[p*E:(p+1)*E], dots[i*K:(i+1)*K], mg)
			}
		})
	}
	ws.put(dots)
}

// nearest picks the code for one latent vector zp given its float32 dot
// products with every code.
func (m *model) nearest(zp, dots []float32, margin *float64) int {
	E := len(zp)
	var zn float64
	for _, v := range zp {
		zn += float64(v) * float64(v)
	}
	// Approximate d_j = ‖e_j‖² − 2 z·e_j (‖z‖² is common to all j).
	best := math.Inf(1)
	for j, d := range dots {
		if v := m.codeNorms[j] - 2*float64(d); v < best {
			best = v
		}
	}
	// Bound on the float32 dot-product error (a generous multiple of
	// γ_E·‖z‖·max‖e‖, twice for d), so no code that could be the true best
	// is left out of the exact re-scoring.
	tol := 32*float64(E+2)*0x1p-24*math.Sqrt(zn)*m.maxCodeNorm + 1e-30
	bestJ, bestD, second := -1, math.Inf(1), math.Inf(1)
	for j, d := range dots {
		v := m.codeNorms[j] - 2*float64(d)
		if !(v <= best+tol) {
			if v+zn < second {
				second = v + zn
			}
			continue
		}
		// Exact squared distance.
		e := m.codebook[j*E : (j+1)*E]
		var s float64
		for i, zv := range zp {
			t := float64(zv) - float64(e[i])
			s += t * t
		}
		switch {
		case bestJ < 0 || s < bestD:
			if bestJ >= 0 && bestD < second {
				second = bestD
			}
			bestJ, bestD = j, s
		case s < second:
			second = s
		}
	}
	if bestJ < 0 { // only if every distance is NaN
		bestJ = 0
	}
	if margin != nil {
		*margin = second - bestD
	}
	return bestJ
}

// chwToHWC transposes C planes of P pixels into P rows of C channels.
func chwToHWC(dst, src []float32, C, P int) {
	kernels.ParallelFor(P, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			row := dst[p*C : (p+1)*C]
			for c := range row {
				row[c] = src[c*P+p]
			}
		}
	})
}

// hwcToCHW transposes P rows of C channels into C planes of P pixels.
func hwcToCHW(dst, src []float32, C, P int) {
	kernels.ParallelFor(C, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := dst[c*P : (c+1)*P]
			for p := range plane {
				plane[p] = src[p*C+c]
			}
		}
	})
}
