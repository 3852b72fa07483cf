package transformer

import (
	"math"
	"sync"

	"github.com/lvm-go/lvm/internal/kernels"
)

// trainAttnBlock is the number of query rows the training attention handles
// per block: a block's scores cover only the keys up to its last row, so
// the causal upper triangle is mostly skipped.
const trainAttnBlock = 64

// trainScratchPool holds a worker's buffers between training steps, so that a
// step allocates nothing once they have grown to the row length.
var trainScratchPool = sync.Pool{New: func() any { return new([]float32) }}

// trainScratch returns a pooled buffer of n values (contents undefined) and the
// function that gives it back.
func trainScratch(n int) ([]float32, func()) {
	p := trainScratchPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	return (*p)[:n], func() { trainScratchPool.Put(p) }
}

// attentionForward computes causal softmax attention per row and head:
// p = softmax(q·kᵀ/√hd) over s ≤ t, out = p·v. q, k, v, out are [B·T,H·hd],
// p is [B,H,T,T] (zero above the diagonal). The products are blocked
// matrix products (kernels.MatMulNN) over heads split across goroutines;
// refAttentionForward is the one-dot-at-a-time reference.
func attentionForward(out, p, q, k, v []float32, b, t, h, hd int) {
	scale := float32(1 / math.Sqrt(float64(hd)))
	w := h * hd
	kernels.ParallelFor(b*h, func(lo, hi int) {
		kt, done := trainScratch(hd * t) // the head's keys transposed, [hd,T]
		defer done()
		for bh := lo; bh < hi; bh++ {
			base := bh/h*t*w + bh%h*hd
			pb := p[bh*t*t : (bh+1)*t*t]
			transposeHead(kt, k[base:], t, hd, w)
			for i0 := 0; i0 < t; i0 += trainAttnBlock {
				i1 := min(i0+trainAttnBlock, t)
				kernels.MatMulNN(pb[i0*t:], t, q[base+i0*w:], w, 1, kt, t, i1-i0, i1, hd, false)
				for i := i0; i < i1; i++ {
					kernels.Softmax(pb[i*t:i*t+i+1], scale)
					clear(pb[i*t+i+1 : (i+1)*t])
				}
				kernels.MatMulNN(out[base+i0*w:], w, pb[i0*t:], t, 1, v[base:], w, i1-i0, hd, i1, false)
			}
		}
	})
}

// attentionBackward sets dq, dk, dv from dout for attentionForward, given
// its probabilities p: with dP = dout·vᵀ and dS = p⊙(dP − Σ_s p·dP)/√hd,
// dq = dS·k, dk = dSᵀ·q and dv = pᵀ·dout, as blocked matrix products.
// refAttentionBackward is the reference.
func attentionBackward(dq, dk, dv, dout, p, q, k, v []float32, b, t, h, hd int) {
	scale := float32(1 / math.Sqrt(float64(hd)))
	w := h * hd
	kernels.ParallelFor(b*h, func(lo, hi int) {
		vt, doneV := trainScratch(hd * t) // the head's values transposed, [hd,T]
		defer doneV()
		ds, doneS := trainScratch(t * t) // dS [T,T], zero above the diagonal
		defer doneS()
		for bh := lo; bh < hi; bh++ {
			base := bh/h*t*w + bh%h*hd
			pb := p[bh*t*t : (bh+1)*t*t]
			transposeHead(vt, v[base:], t, hd, w)
			for i0 := 0; i0 < t; i0 += trainAttnBlock {
				i1 := min(i0+trainAttnBlock, t)
				kernels.MatMulNN(ds[i0*t:], t, dout[base+i0*w:], w, 1, vt, t, i1-i0, i1, hd, false)
				for i := i0; i < i1; i++ {
					row, pr := ds[i*t:i*t+i+1], pb[i*t:i*t+i+1]
					var dot float64
					for j, x := range row {
						dot += float64(pr[j]) * float64(x)
					}
					for j, x := range row {
						row[j] = pr[j] * (x - float32(dot)) * scale
					}
					clear(ds[i*t+i+1 : (i+1)*t])
				}
				kernels.MatMulNN(dq[base+i0*w:], w, ds[i0*t:], t, 1, k[base:], w, i1-i0, hd, i1, false)
			}
			// Key/value rows j only receive from query rows i ≥ j: read the
			// columns of dS and p from the diagonal down (transposed A).
			for j0 := 0; j0 < t; j0 += trainAttnBlock {
				j1 := min(j0+trainAttnBlock, t)
				kernels.MatMulNN(dk[base+j0*w:], w, ds[j0*t+j0:], 1, t, q[base+j0*w:], w, j1-j0, hd, t-j0, false)
				kernels.MatMulNN(dv[base+j0*w:], w, pb[j0*t+j0:], 1, t, dout[base+j0*w:], w, j1-j0, hd, t-j0, false)
			}
		}
	})
}

// transposeHead sets dst[d·t + j] = src[j·w + d] for j < t, d < hd: one
// head's [T,hd] slice of a [T, w] matrix, transposed.
func transposeHead(dst, src []float32, t, hd, w int) {
	for j := 0; j < t; j++ {
		row := src[j*w : j*w+hd]
		for d, x := range row {
			dst[d*t+j] = x
		}
	}
}
