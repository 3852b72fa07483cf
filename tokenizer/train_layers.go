package tokenizer

import (
	"math"

	"github.com/lvm-go/lvm/internal/kernels"
)

// This file holds the layers of VQGAN training (train_model.go) as plain
// forward/backward function pairs, in the style of transformer/train.go.
//
// Conventions, shared by every function here:
//
//   - An activation is a batch of channels-last images described by a
//     trShape{b, h, w, c}: element (n, y, x, ch) is at ((n·h + y)·w + x)·c + ch,
//     so a 1×1 convolution is one matrix product over b·h·w rows.
//   - Arguments come in a fixed order: outputs, inputs, parameters, then
//     shapes and scratch space.
//   - Forward functions overwrite their outputs. Backward functions ADD to
//     every gradient they are given (of inputs and of parameters alike), so
//     residual branches and shared inputs accumulate without extra code and
//     the caller clears a gradient buffer once, before its first use.
//   - Parameters are taken in PyTorch layout (convolution weights
//     [Cout, Cin, k, k]), the layout the optimizer and checkpoints see.
//
// The names carry a "tr" prefix: the training code is self-contained and
// shares no helper with the inference code of this package (which is
// optimised separately and may change).

// trGroups and trNormEps are the GroupNorm settings of every norm layer
// (REFERENCE §2).
const (
	trGroups  = 32
	trNormEps = 1e-6
)

// trBandBudget bounds, in float32 elements, the im2col patch matrix one
// convolution builds at once; larger batches are processed in bands of
// whole images (so one image's matrix is the floor: about 300 MB for a
// 256×256 level of width 128). A variable only so that tests can force
// many bands.
var trBandBudget = 1 << 22

// trShape is a batch of b channels-last images of h×w pixels and c channels.
type trShape struct{ b, h, w, c int }

// pixels is the number of rows b·h·w.
func (s trShape) pixels() int { return s.b * s.h * s.w }

// size is the number of values b·h·w·c.
func (s trShape) size() int { return s.b * s.h * s.w * s.c }

// withC is s with c channels.
func (s trShape) withC(c int) trShape { s.c = c; return s }

// trScratch holds growable buffers that the layer functions reuse from call
// to call, so that once the batch size is fixed a training step allocates
// only small bookkeeping (the closures handed to the worker pool). It
// belongs to one model and is not safe for concurrent use.
type trScratch struct {
	patches, patchesT, doutT, dpatch []float32
	xT, wp, wpT, tmpW, tmpDx         []float32
	scores, dots                     []float32
	chMean, chScale, chA, chB        []float32 // GroupNorm's per-channel statistics
	f64, gnPart, gnMean, norms       []float64
}

// trGrow returns (*buf)[:n], reallocating when the capacity is short. The
// contents are undefined.
func trGrow(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

func trGrow64(buf *[]float64, n int) []float64 {
	if cap(*buf) < n {
		*buf = make([]float64, n)
	}
	return (*buf)[:n]
}

// trSerialWork is the amount of work (in elements touched) below which a
// loop runs on the calling goroutine: handing out smaller pieces costs more
// than it saves, and more still on a busy machine.
const trSerialWork = 1 << 16

// trFor runs fn over [0, n) split across the kernels' threads
// (kernels.ParallelFor), or in one call when n items of cost elements each
// are too little work to share.
func trFor(n, cost int, fn func(lo, hi int)) {
	if n*cost < trSerialWork {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	kernels.ParallelFor(n, fn)
}

// trAddTo sets dst[i] += src[i].
func trAddTo(dst, src []float32) {
	dst = dst[:len(src)]
	trFor((len(src)+4095)/4096, 4096, func(lo, hi int) {
		for i := lo * 4096; i < min(hi*4096, len(src)); i++ {
			dst[i] += src[i]
		}
	})
}

// trTranspose sets dst[c·rows + r] = src[r·cols + c] for src [rows, cols].
func trTranspose(dst, src []float32, rows, cols int) {
	const blk = 32
	trFor((rows+blk-1)/blk, blk*cols, func(lo, hi int) {
		for r0 := lo * blk; r0 < min(hi*blk, rows); r0 += blk {
			for c0 := 0; c0 < cols; c0 += blk {
				r1 := min(r0+blk, rows)
				for c := c0; c < min(c0+blk, cols); c++ {
					d := dst[c*rows+r0 : c*rows+r1]
					for i := range d {
						d[i] = src[(r0+i)*cols+c]
					}
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Convolutions

// trConvGeom is how a convolution samples its input.
type trConvGeom uint8

const (
	// trSame: stride 1, zero padding (k−1)/2 on every side; the output has
	// the input's size. Used for 3×3 and 1×1 convolutions.
	trSame trConvGeom = iota
	// trDown: the Downsample convolution: zero-pad the right and bottom by
	// 1 (F.pad(x, (0,1,0,1))), then 3×3 with stride 2 and no other padding;
	// an h×w input (h, w even) gives h/2 × w/2.
	trDown
)

// stridePad returns the stride and the top/left padding of geometry g for
// kernel size k.
func (g trConvGeom) stridePad(k int) (stride, pad int) {
	if g == trDown {
		return 2, 0
	}
	return 1, (k - 1) / 2
}

// trConvOut is the output shape of a convolution with cout channels over
// an input of shape s.
func trConvOut(s trShape, cout int, g trConvGeom) trShape {
	if g == trDown {
		return trShape{s.b, s.h / 2, s.w / 2, cout}
	}
	return s.withC(cout)
}

// trPermuteW turns a PyTorch weight [cout, cin, k, k] into [cout, k, k, cin],
// the layout whose rows line up with trIm2col's patches.
func trPermuteW(dst, w []float32, cout, cin, k int) {
	kk := k * k
	for o := 0; o < cout; o++ {
		src, d := w[o*cin*kk:(o+1)*cin*kk], dst[o*cin*kk:(o+1)*cin*kk]
		for p := 0; p < kk; p++ {
			dp := d[p*cin : (p+1)*cin]
			for i := range dp {
				dp[i] = src[i*kk+p]
			}
		}
	}
}

// trPermuteWT turns a PyTorch weight [cout, cin, k, k] into the transpose
// of trPermuteW's layout, [k, k, cin, cout].
func trPermuteWT(dst, w []float32, cout, cin, k int) {
	kk := k * k
	for o := 0; o < cout; o++ {
		src := w[o*cin*kk : (o+1)*cin*kk]
		for i := 0; i < cin; i++ {
			for p := 0; p < kk; p++ {
				dst[(p*cin+i)*cout+o] = src[i*kk+p]
			}
		}
	}
}

// trIm2col writes the k×k patches of images [n0, n1) of in (shape s) into
// dst: one row of k·k·c values per output pixel, in (ky, kx, ci) order, the
// output pixels of each image row-major. Taps outside the input read 0.
func trIm2col(dst, in []float32, s trShape, k int, g trConvGeom, n0, n1 int) {
	stride, pad := g.stridePad(k)
	o := trConvOut(s, 0, g)
	cin, K := s.c, k*k*s.c
	trFor((n1-n0)*o.h, o.w*K, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, oy := n0+r/o.h, r%o.h
			img := in[n*s.h*s.w*cin : (n+1)*s.h*s.w*cin]
			for ox := 0; ox < o.w; ox++ {
				row := dst[(r*o.w+ox)*K : (r*o.w+ox+1)*K]
				for ky := 0; ky < k; ky++ {
					y := oy*stride + ky - pad
					seg := row[ky*k*cin : (ky+1)*k*cin]
					if y < 0 || y >= s.h {
						clear(seg)
						continue
					}
					for kx := 0; kx < k; kx++ {
						x := ox*stride + kx - pad
						t := seg[kx*cin : (kx+1)*cin]
						if x < 0 || x >= s.w {
							clear(t)
							continue
						}
						copy(t, img[(y*s.w+x)*cin:])
					}
				}
			}
		}
	})
}

// trCol2im is the adjoint of trIm2col: it adds every patch gradient in dp
// (rows as trIm2col lays them out, images [n0, n1)) to the input pixel the
// tap read, in dx (shape s). Each input pixel gathers its own
// contributions, so the work splits over pixels without races.
func trCol2im(dx, dp []float32, s trShape, k int, g trConvGeom, n0, n1 int) {
	stride, pad := g.stridePad(k)
	o := trConvOut(s, 0, g)
	cin, K := s.c, k*k*s.c
	trFor((n1-n0)*s.h, s.w*K, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, y := n0+r/s.h, r%s.h
			for x := 0; x < s.w; x++ {
				d := dx[((n*s.h+y)*s.w+x)*cin : ((n*s.h+y)*s.w+x+1)*cin]
				for ky := 0; ky < k; ky++ {
					ty := y + pad - ky
					if ty < 0 || ty%stride != 0 || ty/stride >= o.h {
						continue
					}
					oy := ty / stride
					for kx := 0; kx < k; kx++ {
						tx := x + pad - kx
						if tx < 0 || tx%stride != 0 || tx/stride >= o.w {
							continue
						}
						ox := tx / stride
						src := dp[(((n-n0)*o.h+oy)*o.w+ox)*K+(ky*k+kx)*cin:]
						for i := range d {
							d[i] += src[i]
						}
					}
				}
			}
		}
	})
}

// trImagesPerBand is how many images of rowsPerImage patch rows of width K
// fit in one band of trBandBudget values (at least 1).
func trImagesPerBand(rowsPerImage, K int) int {
	return max(1, trBandBudget/max(1, rowsPerImage*K))
}

// trPatches returns the im2col patches of images [n0, n1) of in, in
// sc.patches; for a 1×1 convolution the input rows are the patches.
func trPatches(in []float32, s trShape, k int, g trConvGeom, n0, n1 int, sc *trScratch) []float32 {
	per := s.h * s.w * s.c
	if k == 1 {
		return in[n0*per : n1*per]
	}
	o := trConvOut(s, 0, g)
	p := trGrow(&sc.patches, (n1-n0)*o.h*o.w*k*k*s.c)
	trIm2col(p, in, s, k, g, n0, n1)
	return p
}

// trConvForward sets out = conv(in) + bias for in of shape s, a weight w
// [cout, s.c, k, k] and bias [cout], with geometry g; out has shape
// trConvOut(s, cout, g). Each band of images is an im2col followed by one
// matrix product out[rows, cout] = patches[rows, k·k·cin] · w'[cout, k·k·cin]ᵀ
// (a 1×1 convolution uses the input itself as the patches).
func trConvForward(out, in, w, bias []float32, s trShape, cout, k int, g trConvGeom, sc *trScratch) {
	o := trConvOut(s, cout, g)
	K := k * k * s.c
	wp := w
	if k > 1 {
		wp = trGrow(&sc.wp, cout*K)
		trPermuteW(wp, w, cout, s.c, k)
	}
	per := o.h * o.w
	nb := trImagesPerBand(per, K)
	for n0 := 0; n0 < s.b; n0 += nb {
		n1 := min(s.b, n0+nb)
		rows := (n1 - n0) * per
		p := trPatches(in, s, k, g, n0, n1, sc)
		ob := out[n0*per*cout : n1*per*cout]
		kernels.MatMulNT(ob, p, wp, rows, cout, K)
		trAddBias(ob, bias)
	}
}

// trConvBackward adds to dx (skipped when nil), dw and db the gradients of
// trConvForward's out = conv(in) + bias given dout (shape
// trConvOut(s, cout, g)). Per band of images:
//
//	dW += doutᵀ · patches    one product over the band's rows, reading both
//	                          operands transposed: doutᵀ [cout, rows] and the
//	                          patches built directly as [k·k·cin, rows] in
//	                          PyTorch's (ci, ky, kx) order (trIm2colT)
//	dx += im2col(dout) · W_flipᵀ        (stride 1, k > 1)
//	dx += col2im(dout · W')             (1×1 and the strided Downsample)
func trConvBackward(dx, dw, db, dout, in, w []float32, s trShape, cout, k int, g trConvGeom, sc *trScratch) {
	o := trConvOut(s, cout, g)
	K := k * k * s.c
	trBiasBackward(db, dout, cout, sc)
	// The input gradient of a stride-1 3×3 convolution is itself a
	// convolution of dout with the flipped kernel (k·k·cout long dot
	// products, no scatter); other geometries multiply dout by the
	// permuted weight and scatter the patch gradients back (col2im).
	flip := dx != nil && k > 1 && g == trSame
	var wf []float32
	switch {
	case flip:
		wf = trGrow(&sc.wpT, K*cout)
		trFlipW(wf, w, cout, s.c, k)
	case dx != nil:
		wf = trGrow(&sc.wpT, K*cout)
		trPermuteWT(wf, w, cout, s.c, k)
	}
	per, perIn := o.h*o.w, s.h*s.w*s.c
	nb := trImagesPerBand(per, k*k*max(s.c, cout))
	for n0 := 0; n0 < s.b; n0 += nb {
		n1 := min(s.b, n0+nb)
		bs := s
		bs.b = n1 - n0
		rows := bs.b * per
		xT := trGrow(&sc.xT, bs.size())
		trTranspose(xT, in[n0*perIn:n1*perIn], bs.pixels(), s.c)
		pT := xT // 1×1: the transposed input is the transposed patches
		if k > 1 {
			pT = trGrow(&sc.patchesT, K*rows)
			trIm2colT(pT, xT, bs, k, g)
		}
		dob := dout[n0*per*cout : n1*per*cout]
		dT := trGrow(&sc.doutT, cout*rows)
		trTranspose(dT, dob, rows, cout)
		tmp := trGrow(&sc.tmpW, cout*K)
		kernels.MatMulNT(tmp, dT, pT, cout, K, rows)
		trAddTo(dw, tmp)
		if dx == nil {
			continue
		}
		switch {
		case flip:
			// dx = im2col(dout) · W_flipᵀ: a same-padded convolution of
			// dout, with k·k·cout long dot products.
			os := o
			os.b = bs.b
			dp := trGrow(&sc.dpatch, bs.pixels()*k*k*cout)
			trIm2col(dp, dout[n0*per*cout:], os, k, trSame, 0, bs.b)
			tmp := trGrow(&sc.tmpDx, bs.size())
			kernels.MatMulNT(tmp, dp, wf, bs.pixels(), s.c, k*k*cout)
			trAddTo(dx[n0*perIn:n1*perIn], tmp)
		default:
			dp := trGrow(&sc.dpatch, rows*K)
			kernels.MatMulNT(dp, dob, wf, rows, K, cout)
			if k == 1 {
				trAddTo(dx[n0*perIn:n1*perIn], dp)
			} else {
				trCol2im(dx, dp, s, k, g, n0, n1)
			}
		}
	}
}

// trFlipW turns a PyTorch weight [cout, cin, k, k] into the weight of the
// input-gradient convolution of a stride-1 same-padded convolution:
// dst [cin, k, k, cout] with dst[ci][ky][kx][co] = w[co][ci][k−1−ky][k−1−kx].
func trFlipW(dst, w []float32, cout, cin, k int) {
	kk := k * k
	for ci := 0; ci < cin; ci++ {
		for p := 0; p < kk; p++ {
			d := dst[(ci*kk+p)*cout : (ci*kk+p+1)*cout]
			src := ci*kk + (kk - 1 - p) // (k−1−ky)·k + (k−1−kx) = kk−1−p
			for co := range d {
				d[co] = w[co*cin*kk+src]
			}
		}
	}
}

// trIm2colT writes the transposed patches of a band of images: dst [k·k·c,
// rows] with the patch index in PyTorch's (ci, ky, kx) weight order and the
// rows (output pixels of all b images, row-major) contiguous. xT is the
// band's input channel-major, [c, b, h, w] (the transpose of its
// channels-last [b·h·w, c]); s describes the band. Taps outside the input
// read 0.
func trIm2colT(dst, xT []float32, s trShape, k int, g trConvGeom) {
	stride, pad := g.stridePad(k)
	o := trConvOut(s, 0, g)
	rows := s.b * o.h * o.w
	trFor(s.c*k*k, rows, func(lo, hi int) {
		for kk := lo; kk < hi; kk++ {
			ci, ky, kx := kk/(k*k), kk/k%k, kk%k
			plane := xT[ci*s.b*s.h*s.w : (ci+1)*s.b*s.h*s.w]
			d := dst[kk*rows : (kk+1)*rows]
			for n := 0; n < s.b; n++ {
				for oy := 0; oy < o.h; oy++ {
					seg := d[(n*o.h+oy)*o.w : (n*o.h+oy+1)*o.w]
					y := oy*stride + ky - pad
					if y < 0 || y >= s.h {
						clear(seg)
						continue
					}
					src := plane[(n*s.h+y)*s.w : (n*s.h+y+1)*s.w]
					if stride == 1 {
						// seg[ox] = src[ox + kx − pad] where in range.
						sh := kx - pad
						lo, hi := max(0, -sh), min(o.w, s.w-sh)
						clear(seg[:lo])
						if hi > lo {
							copy(seg[lo:hi], src[lo+sh:hi+sh])
						}
						clear(seg[max(hi, lo):])
						continue
					}
					for ox := range seg {
						x := ox*stride + kx - pad
						if x < 0 || x >= s.w {
							seg[ox] = 0
						} else {
							seg[ox] = src[x]
						}
					}
				}
			}
		}
	})
}

// trAddBias adds bias[ch] to every row of o [rows, len(bias)].
func trAddBias(o, bias []float32) {
	C := len(bias)
	trFor(len(o)/C, C, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			row := o[p*C : (p+1)*C]
			for c := range row {
				row[c] += bias[c]
			}
		}
	})
}

// trRowBlock is the fixed number of rows each partial sum covers in the
// reductions over pixels, so that results do not depend on the thread
// count.
const trRowBlock = 256

// trBiasBackward adds the column sums of dout [rows, c] to db [c]. Partial
// sums over fixed blocks of rows are added in order, in float64.
func trBiasBackward(db, dout []float32, c int, sc *trScratch) {
	rows := len(dout) / c
	nblk := (rows + trRowBlock - 1) / trRowBlock
	part := trGrow64(&sc.f64, nblk*c)
	trFor(nblk, trRowBlock*c, func(lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			acc := part[blk*c : (blk+1)*c]
			clear(acc)
			for r := blk * trRowBlock; r < min(rows, (blk+1)*trRowBlock); r++ {
				for j, v := range dout[r*c : (r+1)*c] {
					acc[j] += float64(v)
				}
			}
		}
	})
	for j := 0; j < c; j++ {
		var s float64
		for blk := 0; blk < nblk; blk++ {
			s += part[blk*c+j]
		}
		db[j] += float32(s)
	}
}

// ---------------------------------------------------------------------------
// GroupNorm and SiLU

// trGroupNormForward sets y = γ·(x − μ)/√(σ² + ε) + β with μ, σ² the mean and
// (biased) variance of each image's group of c/32 channels over all its
// pixels (32 groups, ε = 1e-6), for x and y of shape s (y may be x). mean and
// rstd [s.b·32] receive μ (rounded to float32) and 1/√(σ² + ε). Sums are
// accumulated in float64, per channel over fixed blocks of pixels, in two
// passes (the second about the mean).
func trGroupNormForward(y, mean, rstd, x, gamma, beta []float32, s trShape, sc *trScratch) {
	P, C, G := s.h*s.w, s.c, trGroups
	cg := C / G
	nblk := (P + trRowBlock - 1) / trRowBlock
	part := trGrow64(&sc.gnPart, s.b*nblk*C)
	meanC := trGrow(&sc.chMean, s.b*C) // each channel's group mean
	channelSums := func(sq bool) {
		trFor(s.b*nblk, trRowBlock*C, func(lo, hi int) {
			for u := lo; u < hi; u++ {
				n, blk := u/nblk, u%nblk
				acc := part[u*C : (u+1)*C]
				clear(acc)
				m := meanC[n*C : (n+1)*C]
				for p := blk * trRowBlock; p < min(P, (blk+1)*trRowBlock); p++ {
					row := x[(n*P+p)*C : (n*P+p+1)*C]
					if sq {
						for c, v := range row {
							d := float64(v - m[c])
							acc[c] += d * d
						}
					} else {
						for c, v := range row {
							acc[c] += float64(v)
						}
					}
				}
			}
		})
	}
	// groupSum adds up the partial sums of image n's group gi.
	groupSum := func(n, gi int) float64 {
		var t float64
		for blk := 0; blk < nblk; blk++ {
			for _, v := range part[(n*nblk+blk)*C+gi*cg : (n*nblk+blk)*C+(gi+1)*cg] {
				t += v
			}
		}
		return t
	}
	cnt := float64(P * cg)
	channelSums(false)
	mean64 := trGrow64(&sc.gnMean, s.b*G)
	for i := range mean64 {
		mean64[i] = groupSum(i/G, i%G) / cnt
		mean[i] = float32(mean64[i])
		for c := (i % G) * cg; c < (i%G+1)*cg; c++ {
			meanC[(i/G)*C+c] = mean[i]
		}
	}
	channelSums(true)
	for i := range mean64 {
		// The squares were taken about the float32 mean; remove the shift.
		d := mean64[i] - float64(mean[i])
		v := groupSum(i/G, i%G)/cnt - d*d
		rstd[i] = float32(1 / math.Sqrt(max(v, 0)+trNormEps))
	}
	trGroupNormApply(y, x, mean, rstd, gamma, beta, s, sc)
}

// trGroupNormApply sets y = (x − mean)·(rstd·γ) + β with the statistics of
// trGroupNormForward (y may be x): the normalisation alone, which the
// backward pass of GroupNorm+SiLU uses to recompute the pre-activation.
func trGroupNormApply(y, x, mean, rstd, gamma, beta []float32, s trShape, sc *trScratch) {
	P, C := s.h*s.w, s.c
	meanC, scaleC := trChannelStats(mean, rstd, gamma, s, sc)
	trFor(s.b*P, C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n := r / P
			m, sc := meanC[n*C:(n+1)*C], scaleC[n*C:(n+1)*C]
			xr, yr, bt := x[r*C:(r+1)*C], y[r*C:(r+1)*C], beta[:C]
			for c, v := range xr {
				yr[c] = (v-m[c])*sc[c] + bt[c]
			}
		}
	})
}

// trChannelStats spreads per-group statistics over channels: meanC[n·C+c]
// is the mean of channel c's group in image n and scaleC[n·C+c] its rstd·γ_c
// (γ nil: rstd alone). They are returned in sc.chMean and sc.chScale.
func trChannelStats(mean, rstd, gamma []float32, s trShape, sc *trScratch) (meanC, scaleC []float32) {
	C, cg := s.c, s.c/trGroups
	meanC, scaleC = trGrow(&sc.chMean, s.b*C), trGrow(&sc.chScale, s.b*C)
	for n := 0; n < s.b; n++ {
		for c := 0; c < C; c++ {
			gi := n*trGroups + c/cg
			meanC[n*C+c] = mean[gi]
			scaleC[n*C+c] = rstd[gi]
			if gamma != nil {
				scaleC[n*C+c] *= gamma[c]
			}
		}
	}
	return meanC, scaleC
}

// trGroupNormBackward adds to dx, dgamma and dbeta the gradients of
// trGroupNormForward given dy, from the input x and the statistics it
// recorded. With x̂ = (x − μ)·rstd and g = dy·γ, per image and group of M
// values:
//
//	dβ += Σ dy,  dγ += Σ dy·x̂,  dx += rstd·(g − mean(g) − x̂·mean(g·x̂)).
//
// Σ g and Σ g·x̂ over a group are the γ-weighted sums of the per-channel
// Σ dy and Σ dy·x̂, so one pass of per-channel sums serves all four.
func trGroupNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma []float32, s trShape, sc *trScratch) {
	P, C, G := s.h*s.w, s.c, trGroups
	cg := C / G
	nblk := (P + trRowBlock - 1) / trRowBlock
	meanC, rstdC := trChannelStats(mean, rstd, nil, s, sc)
	// Per unit (image, block of pixels): Σdy and Σdy·x̂ per channel.
	part := trGrow64(&sc.gnPart, s.b*nblk*2*C)
	trFor(s.b*nblk, trRowBlock*C, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			n, blk := u/nblk, u%nblk
			acc := part[u*2*C : (u+1)*2*C]
			clear(acc)
			sdy, sdyx := acc[:C], acc[C:]
			m, rs := meanC[n*C:(n+1)*C], rstdC[n*C:(n+1)*C]
			for p := blk * trRowBlock; p < min(P, (blk+1)*trRowBlock); p++ {
				xr, dr := x[(n*P+p)*C:(n*P+p+1)*C], dy[(n*P+p)*C:(n*P+p+1)*C]
				for c, v := range xr {
					d := float64(dr[c])
					sdy[c] += d
					sdyx[c] += d * float64((v-m[c])*rs[c])
				}
			}
		}
	})
	// Per image and channel totals, then the group means of g and g·x̂.
	cnt := float64(P * cg)
	a := trGrow(&sc.chA, s.b*C) // per channel: mean(g) of its group
	b := trGrow(&sc.chB, s.b*C) // per channel: mean(g·x̂) of its group
	for n := 0; n < s.b; n++ {
		for gi := 0; gi < G; gi++ {
			var tg, tgx float64
			for c := gi * cg; c < (gi+1)*cg; c++ {
				var tdy, tdyx float64
				for blk := 0; blk < nblk; blk++ {
					u := (n*nblk + blk) * 2 * C
					tdy += part[u+c]
					tdyx += part[u+C+c]
				}
				dbeta[c] += float32(tdy)
				dgamma[c] += float32(tdyx)
				tg += tdy * float64(gamma[c])
				tgx += tdyx * float64(gamma[c])
			}
			for c := gi * cg; c < (gi+1)*cg; c++ {
				a[n*C+c], b[n*C+c] = float32(tg/cnt), float32(tgx/cnt)
			}
		}
	}
	trFor(s.b*P, C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n := r / P
			m, rs, an, bn := meanC[n*C:(n+1)*C], rstdC[n*C:(n+1)*C], a[n*C:(n+1)*C], b[n*C:(n+1)*C]
			xr, dr, dxr, gm := x[r*C:(r+1)*C], dy[r*C:(r+1)*C], dx[r*C:(r+1)*C], gamma[:C]
			for c, v := range xr {
				xh := (v - m[c]) * rs[c]
				dxr[c] += rs[c] * (dr[c]*gm[c] - an[c] - xh*bn[c])
			}
		}
	})
}

// trExp is e^x in float32 (relative error about 2⁻²³): Cephes' expf
// polynomial after the reduction x = n·ln2 + r, |r| ≤ ln2/2, with n
// rounded by the 1.5·2²³ trick. It returns +Inf above 88.72, 0 below −87.33
// (no subnormal results) and NaN for NaN.
func trExp(x float32) float32 {
	const (
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
		log2e = 1.44269504088896341
		magic = 12582912 // 1.5·2²³: adding it rounds |v| < 2²² to an integer
	)
	switch {
	case x > 88.72:
		return float32(math.Inf(1))
	case x < -87.33:
		return 0
	case x != x:
		return x
	}
	kf := x*log2e + magic
	fn := kf - magic
	n := int32(math.Float32bits(kf)) - 0x4b400000
	r := x - fn*ln2Hi - fn*ln2Lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	e := p*r*r + r + 1
	if n > 127 { // only n = 128 is possible below 88.72
		return e * 2 * math.Float32frombits(uint32(127+127)<<23)
	}
	return e * math.Float32frombits(uint32(n+127)<<23)
}

// trSiLUForward sets y = x·σ(x) (y may be x). It and trSiLUBackward are the
// plain SiLU pair, the reference for the pair the model runs
// (trSiLUForwardKeep, trSiLUBackwardFromOutput).
func trSiLUForward(y, x []float32) {
	y = y[:len(x)]
	trFor((len(x)+4095)/4096, 8*4096, func(lo, hi int) {
		lo, hi = lo*4096, min(hi*4096, len(x))
		var buf [512]float32
		for c0 := lo; c0 < hi; c0 += len(buf) {
			xs := x[c0:min(hi, c0+len(buf))]
			sg := buf[:len(xs)]
			trSigmoidRow(sg, xs)
			ys := y[c0 : c0+len(xs)]
			for i, v := range xs {
				ys[i] = v * sg[i]
			}
		}
	})
}

// trSiLUBackward adds dy·σ(x)·(1 + x·(1 − σ(x))) to dx.
func trSiLUBackward(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	trFor((len(x)+4095)/4096, 8*4096, func(lo, hi int) {
		lo, hi = lo*4096, min(hi*4096, len(x))
		var buf [512]float32
		for c0 := lo; c0 < hi; c0 += len(buf) {
			xs := x[c0:min(hi, c0+len(buf))]
			sg := buf[:len(xs)]
			trSigmoidRow(sg, xs)
			dys, dxs := dy[c0:c0+len(xs)], dx[c0:c0+len(xs)]
			for i, v := range xs {
				dxs[i] += dys[i] * sg[i] * (1 + v*(1-sg[i]))
			}
		}
	})
}

// trSiLUForwardKeep is trSiLUForward that also keeps sig = σ(x) for
// trSiLUBackwardFromOutput (y may be x; sig may not).
func trSiLUForwardKeep(y, sig, x []float32) {
	y, sig = y[:len(x)], sig[:len(x)]
	trFor((len(x)+4095)/4096, 8*4096, func(lo, hi int) {
		lo, hi = lo*4096, min(hi*4096, len(x))
		trSigmoidRow(sig[lo:hi], x[lo:hi])
		for i, v := range x[lo:hi] {
			y[lo+i] = v * sig[lo+i]
		}
	})
}

// trSiLUBackwardFromOutput is trSiLUBackward computed from the output y =
// x·σ(x) and sig = σ(x) that trSiLUForwardKeep kept, with no exponential:
// dx += dy·(σ + y·(1 − σ)), since σ·(1 + x·(1 − σ)) = σ + y·(1 − σ).
func trSiLUBackwardFromOutput(dx, dy, y, sig []float32) {
	dx, dy, y = dx[:len(sig)], dy[:len(sig)], y[:len(sig)]
	trFor((len(sig)+4095)/4096, 4*4096, func(lo, hi int) {
		for i := lo * 4096; i < min(hi*4096, len(sig)); i++ {
			sg := sig[i]
			dx[i] += dy[i] * (sg + y[i]*(1-sg))
		}
	})
}

// trSigmoidRow sets y[i] = σ(x[i]) = 1/(1 + e^(−x[i])) in float32 (y may be
// x; relative error a few 2⁻²⁴), with trExp's reduction and polynomial
// written out in the loop so that iterations overlap, and the argument
// clamped to [−87, 88] instead of branching: beyond it σ is 0 or 1 to
// float32 precision (for x ≤ −88 it gives ≈ 6e-39, a subnormal, rather than
// the exact value). NaN gives NaN.
func trSigmoidRow(y, x []float32) {
	const (
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
		log2e = 1.44269504088896341
		magic = 12582912
	)
	y = y[:len(x)]
	for i, xv := range x {
		v := min(max(-xv, -87), 88)
		kf := v*log2e + magic
		fn := kf - magic
		r := v - fn*ln2Hi - fn*ln2Lo
		p := float32(1.9875691500e-4)
		p = p*r + 1.3981999507e-3
		p = p*r + 8.3334519073e-3
		p = p*r + 4.1665795894e-2
		p = p*r + 1.6666665459e-1
		p = p*r + 5.0000001201e-1
		e := (p*r*r + r + 1) * math.Float32frombits((math.Float32bits(kf)-(0x4b400000-127))<<23)
		y[i] = 1 / (1 + e)
		if xv != xv {
			y[i] = xv
		}
	}
}

// ---------------------------------------------------------------------------
// Resampling without convolution

// trUpsampleForward sets y [b, 2h, 2w, c] to the nearest-neighbour ×2
// upsampling of x (shape s).
func trUpsampleForward(y, x []float32, s trShape) {
	C, W2 := s.c, 2*s.w
	trFor(s.b*2*s.h, 2*s.w*C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, y2 := r/(2*s.h), r%(2*s.h)
			src := x[(n*s.h+y2/2)*s.w*C:]
			dst := y[r*W2*C : (r+1)*W2*C]
			for x2 := 0; x2 < W2; x2++ {
				copy(dst[x2*C:(x2+1)*C], src[(x2/2)*C:(x2/2+1)*C])
			}
		}
	})
}

// trUpsampleBackward adds to dx (shape s) the sum of the four gradients in
// dy [b, 2h, 2w, c] that each input pixel was copied to.
func trUpsampleBackward(dx, dy []float32, s trShape) {
	C, W2 := s.c, 2*s.w
	trFor(s.b*s.h, 4*s.w*C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, yy := r/s.h, r%s.h
			for xx := 0; xx < s.w; xx++ {
				d := dx[(r*s.w+xx)*C : (r*s.w+xx+1)*C]
				for dy2 := 0; dy2 < 2; dy2++ {
					row := dy[((n*2*s.h+2*yy+dy2)*W2)*C:]
					a, b := row[(2*xx)*C:(2*xx+1)*C], row[(2*xx+1)*C:(2*xx+2)*C]
					for i := range d {
						d[i] += a[i] + b[i]
					}
				}
			}
		}
	})
}

// trAvgPoolForward sets y [b, h/2, w/2, c] to the means of the 2×2 blocks
// of x (shape s, h and w even): avg_pool2d(kernel 2, stride 2), the
// Downsample of a model without resample_with_conv.
func trAvgPoolForward(y, x []float32, s trShape) {
	C, ho, wo := s.c, s.h/2, s.w/2
	trFor(s.b*ho, 4*wo*C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, oy := r/ho, r%ho
			for ox := 0; ox < wo; ox++ {
				p := ((n*s.h+2*oy)*s.w + 2*ox) * C
				a, b := x[p:p+C], x[p+C:p+2*C]
				c, d := x[p+s.w*C:p+s.w*C+C], x[p+s.w*C+C:p+s.w*C+2*C]
				o := y[(r*wo+ox)*C : (r*wo+ox+1)*C]
				for i := range o {
					o[i] = (a[i] + b[i] + c[i] + d[i]) / 4
				}
			}
		}
	})
}

// trAvgPoolBackward adds dy/4 (dy [b, h/2, w/2, c]) to each of the four
// pixels of dx (shape s) that the mean covered.
func trAvgPoolBackward(dx, dy []float32, s trShape) {
	C, ho, wo := s.c, s.h/2, s.w/2
	trFor(s.b*ho, 4*wo*C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, oy := r/ho, r%ho
			for ox := 0; ox < wo; ox++ {
				g := dy[(r*wo+ox)*C : (r*wo+ox+1)*C]
				p := ((n*s.h+2*oy)*s.w + 2*ox) * C
				for _, off := range [4]int{0, C, s.w * C, s.w*C + C} {
					d := dx[p+off : p+off+C]
					for i := range d {
						d[i] += g[i] / 4
					}
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Spatial self-attention (the core of an AttnBlock)

// trAttentionForward sets, for each image of shape s (P = h·w positions, C =
// c channels), o = softmax(q·kᵀ/√C)·v with q, k, v, o [P, C] (rows are
// positions). p [s.b, P, P] receives the softmax probabilities.
func trAttentionForward(o, p, q, k, v []float32, s trShape, sc *trScratch) {
	P, C := s.h*s.w, s.c
	scale := float32(1 / math.Sqrt(float64(C)))
	vT := trGrow(&sc.scores, C*P)
	for n := 0; n < s.b; n++ {
		qn, kn, vn := q[n*P*C:(n+1)*P*C], k[n*P*C:(n+1)*P*C], v[n*P*C:(n+1)*P*C]
		pn := p[n*P*P : (n+1)*P*P]
		kernels.MatMulNT(pn, qn, kn, P, P, C)
		trFor(P, 4*P, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				trSoftmax(pn[i*P:(i+1)*P], scale)
			}
		})
		trTranspose(vT, vn, P, C)
		kernels.MatMulNT(o[n*P*C:(n+1)*P*C], pn, vT, P, C, P)
	}
}

// trSoftmax replaces row by softmax(row·scale).
func trSoftmax(row []float32, scale float32) {
	m := float32(math.Inf(-1))
	for i, v := range row {
		row[i] = v * scale
		m = max(m, row[i])
	}
	var sum float64
	for i, v := range row {
		e := trExp(v - m)
		row[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range row {
		row[i] *= inv
	}
}

// trAttentionBackward adds to dq, dk and dv the gradients of
// trAttentionForward given do, from the probabilities p it recorded. With
// A = p and S = q·kᵀ/√C, per image:
//
//	dA = do·vᵀ,  dv += Aᵀ·do,  dS = A ⊙ (dA − rowsum(dA ⊙ A)),
//	dq += dS·k/√C,  dk += dSᵀ·q/√C.
func trAttentionBackward(dq, dk, dv, do, p, q, k, v []float32, s trShape, sc *trScratch) {
	P, C := s.h*s.w, s.c
	scale := float32(1 / math.Sqrt(float64(C)))
	buf := trGrow(&sc.scores, 2*P*P+2*C*P+P*C)
	dA, aT := buf[:P*P], buf[P*P:2*P*P]
	xT, yT := buf[2*P*P:2*P*P+C*P], buf[2*P*P+C*P:2*P*P+2*C*P]
	tmp := buf[2*P*P+2*C*P:]
	for n := 0; n < s.b; n++ {
		off := n * P * C
		qn, kn, vn, don := q[off:off+P*C], k[off:off+P*C], v[off:off+P*C], do[off:off+P*C]
		pn := p[n*P*P : (n+1)*P*P]
		kernels.MatMulNT(dA, don, vn, P, P, C)
		// dv += Aᵀ·do: rows of Aᵀ against columns of do (rows of doᵀ).
		trTranspose(aT, pn, P, P)
		trTranspose(xT, don, P, C)
		kernels.MatMulNT(tmp, aT, xT, P, C, P)
		trAddTo(dv[off:off+P*C], tmp)
		// dS, scaled by 1/√C, in place of dA.
		trFor(P, 4*P, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				a, d := pn[i*P:(i+1)*P], dA[i*P:(i+1)*P]
				var dot float64
				for j := range a {
					dot += float64(a[j]) * float64(d[j])
				}
				for j := range a {
					d[j] = a[j] * (d[j] - float32(dot)) * scale
				}
			}
		})
		// dq += dS·k.
		trTranspose(xT, kn, P, C)
		kernels.MatMulNT(tmp, dA, xT, P, C, P)
		trAddTo(dq[off:off+P*C], tmp)
		// dk += dSᵀ·q.
		trTranspose(aT, dA, P, P)
		trTranspose(yT, qn, P, C)
		kernels.MatMulNT(tmp, aT, yT, P, C, P)
		trAddTo(dk[off:off+P*C], tmp)
	}
}

// ---------------------------------------------------------------------------
// Reconstruction loss

// trMSE returns mean((pred − target)²) over all values, in float64.
func trMSE(pred, target []float32) float64 {
	var s float64
	for i, v := range pred {
		d := float64(v) - float64(target[i])
		s += d * d
	}
	return s / float64(len(pred))
}

// trMSEBackward adds the gradient of scale·trMSE(pred, target),
// 2·scale·(pred − target)/n, to dpred.
func trMSEBackward(dpred, pred, target []float32, scale float64) {
	k := float32(2 * scale / float64(len(pred)))
	for i, v := range pred {
		dpred[i] += k * (v - target[i])
	}
}
