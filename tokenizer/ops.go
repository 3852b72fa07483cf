package tokenizer

import (
	"math"
	"sync"

	"github.com/lvm-go/lvm/internal/kernels"
)

// gemmNT sets c[m×n] = a[m×k]·b[n×k]ᵀ. It is the package's only call into
// the matrix-product kernel, so a change of kernel API touches one place.
func gemmNT(c, a, b []float32, m, n, k int) {
	kernels.MatMulNT(c[:m*n], a[:m*k], b[:n*k], m, n, k)
}

// bandBudget bounds, in float32 elements, the scratch matrices a single
// layer builds at once (im2col patches, attention scores, code distances):
// large inputs are processed in bands of rows that fit. A variable only so
// that tests can force many bands; it is never changed outside tests.
var bandBudget = 1 << 22 // 16 MiB

// workspace hands out scratch float32 buffers and takes them back, so a
// forward pass allocates its few large buffers once and reuses them. It is
// owned by one call at a time.
type workspace struct {
	free [][]float32
}

// get returns a slice of length n (contents undefined), reusing the smallest
// free buffer that is large enough.
func (ws *workspace) get(n int) []float32 {
	best := -1
	for i, b := range ws.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(ws.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float32, n)
	}
	b := ws.free[best]
	ws.free[best] = ws.free[len(ws.free)-1]
	ws.free = ws.free[:len(ws.free)-1]
	return b[:n]
}

// put gives b back for reuse; b must not be used afterwards.
func (ws *workspace) put(b []float32) {
	if cap(b) > 0 {
		ws.free = append(ws.free, b[:0])
	}
}

// act is a channels-last activation: element (y, x, c) at d[(y·w+x)·c+c].
type act struct {
	h, w, c int
	d       []float32
}

func (a act) pixels() int { return a.h * a.w }

// newAct takes a buffer for an h×w×c activation from ws.
func newAct(ws *workspace, h, w, c int) act {
	return act{h: h, w: w, c: c, d: ws.get(h * w * c)}
}

// convGeom is how a 3×3 convolution samples its input.
type convGeom uint8

const (
	geomSame convGeom = iota // stride 1, zero padding 1 on every side
	geomDown                 // zero-pad right and bottom by 1, stride 2, no other padding
	geomUp                   // nearest-neighbour ×2 upsampling, then geomSame
)

// forward runs the convolution on in and returns the result (a new
// activation from ws). When res is non-nil it is added to the output
// (a residual connection); it must have the output's shape. in is not
// modified or released.
func (cv *conv) forward(ws *workspace, in act, g convGeom, res []float32) act {
	if cv.k == 1 {
		out := newAct(ws, in.h, in.w, cv.cout)
		P := in.pixels()
		rows := max(1, bandBudget/(cv.cout+cv.cin))
		for p0 := 0; p0 < P; p0 += rows {
			p1 := min(P, p0+rows)
			cv.product(out.d[p0*cv.cout:p1*cv.cout], in.d[p0*cv.cin:p1*cv.cin], p1-p0, cv.cin, sub(res, p0*cv.cout, p1*cv.cout))
		}
		return out
	}
	if cv.u4 != nil || cv.u != nil {
		up := 1
		if g == geomUp {
			up = 2
		}
		if cv.u4 != nil {
			return cv.winograd4(ws, in, up, res)
		}
		return cv.winograd(ws, in, up, res)
	}
	if cv.rgb && g == geomSame && res == nil {
		return cv.rgbConv(ws, in)
	}
	var up, stride, pad, ho, wo int
	switch g {
	case geomSame:
		up, stride, pad, ho, wo = 1, 1, 1, in.h, in.w
	case geomDown:
		up, stride, pad = 1, 2, 0
		ho, wo = (in.h-2)/2+1, (in.w-2)/2+1
	case geomUp:
		up, stride, pad, ho, wo = 2, 1, 1, 2*in.h, 2*in.w
	}
	out := newAct(ws, ho, wo, cv.cout)
	K := cv.k * cv.k * cv.cin
	rows := max(1, min(ho, bandBudget/(wo*K)))
	patches := ws.get(rows * wo * K)
	for y0 := 0; y0 < ho; y0 += rows {
		y1 := min(ho, y0+rows)
		im2col(patches, in, cv.k, stride, pad, up, y0, y1, wo)
		n := (y1 - y0) * wo
		o := out.d[y0*wo*cv.cout : y1*wo*cv.cout]
		cv.product(o, patches, n, K, sub(res, y0*wo*cv.cout, y1*wo*cv.cout))
	}
	ws.put(patches)
	return out
}

// product sets o[n×Cout] = a[n×K]·Wᵀ + bias (+ res when not nil) for the
// weight W [Cout, K] of an im2col-layout convolution (K = k·k·Cin), held
// as w or packed as wp (which adds the bias in the product).
func (cv *conv) product(o, a []float32, n, K int, res []float32) {
	if cv.wp != nil {
		gemmPacked(o, cv.cout, a, K, cv.wp, K, cv.cout/w4Panel, n, cv.b)
		if res != nil {
			kernels.ParallelFor(len(o), func(lo, hi int) {
				for i, r := range res[lo:hi] {
					o[lo+i] += r
				}
			})
		}
		return
	}
	gemmNT(o, a, cv.w, n, cv.cout, K)
	epilogue(o, cv.b, res)
}

func sub(s []float32, lo, hi int) []float32 {
	if s == nil {
		return nil
	}
	return s[lo:hi]
}

// epilogue adds the bias b (per channel, len(b) = C) and, if res is non-nil,
// the residual res to the channels-last rows of o.
func epilogue(o, b, res []float32) {
	C := len(b)
	kernels.ParallelFor(len(o)/C, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			row := o[p*C : (p+1)*C]
			if res != nil {
				r := res[p*C : (p+1)*C]
				for c := range row {
					row[c] = (row[c] + b[c]) + r[c]
				}
			} else {
				for c := range row {
					row[c] += b[c]
				}
			}
		}
	})
}

// im2col writes the k×k patches of output rows [y0, y1) (width wo) into dst,
// one row of k·k·Cin values per output pixel in (ky, kx, cin) order. The
// input is read through an optional nearest-neighbour upsampling by up, with
// zero padding pad at the top and left and whatever the stride leaves at the
// bottom and right.
func im2col(dst []float32, in act, k, stride, pad, up, y0, y1, wo int) {
	cin := in.c
	hl, wl := in.h*up, in.w*up
	K := k * k * cin
	kernels.ParallelFor((y1-y0)*wo, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			oy, ox := y0+i/wo, i%wo
			row := dst[i*K : (i+1)*K]
			for ky := 0; ky < k; ky++ {
				ly := oy*stride + ky - pad
				seg := row[ky*k*cin : (ky+1)*k*cin]
				if ly < 0 || ly >= hl {
					clear(seg)
					continue
				}
				srow := in.d[(ly/up)*in.w*cin:]
				for kx := 0; kx < k; kx++ {
					lx := ox*stride + kx - pad
					s := seg[kx*cin : (kx+1)*cin]
					if lx < 0 || lx >= wl {
						clear(s)
						continue
					}
					copy(s, srow[(lx/up)*cin:])
				}
			}
		}
	})
}

// avgPool2 halves the spatial size by averaging 2×2 blocks (avg_pool2d with
// kernel 2, stride 2; odd trailing rows/columns are dropped).
func avgPool2(ws *workspace, in act) act {
	out := newAct(ws, in.h/2, in.w/2, in.c)
	C := in.c
	kernels.ParallelFor(out.h, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			for x := 0; x < out.w; x++ {
				a := in.d[((2*y)*in.w+2*x)*C:]
				b := in.d[((2*y)*in.w+2*x+1)*C:]
				c := in.d[((2*y+1)*in.w+2*x)*C:]
				d := in.d[((2*y+1)*in.w+2*x+1)*C:]
				o := out.d[(y*out.w+x)*C : (y*out.w+x+1)*C]
				for i := range o {
					o[i] = (a[i] + b[i] + c[i] + d[i]) / 4
				}
			}
		}
	})
	return out
}

// upNearest2 doubles the spatial size by nearest-neighbour repetition.
func upNearest2(ws *workspace, in act) act {
	out := newAct(ws, 2*in.h, 2*in.w, in.c)
	C := in.c
	kernels.ParallelFor(out.h, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			for x := 0; x < out.w; x++ {
				copy(out.d[(y*out.w+x)*C:(y*out.w+x+1)*C], in.d[((y/2)*in.w+x/2)*C:])
			}
		}
	})
	return out
}

// normEps is the GroupNorm epsilon of every norm layer.
const normEps = 1e-6

// forward applies the group norm to src, optionally followed by SiLU, and
// writes the result to dst (which may be src itself). Statistics are taken
// in two passes with float64 accumulation.
func (n *norm) forward(dst, src []float32, silu bool) {
	C := n.c
	G := normGroups
	cg := C / G
	P := len(src) / C
	T := max(1, min(kernels.Threads(), P))
	// Statistics are accumulated per channel (each goroutine its own row of
	// partial), then summed over the channels of each group.
	partial := make([]float64, T*C)
	chunk := func(fn func(t, lo, hi int)) {
		var wg sync.WaitGroup
		for t := 0; t < T; t++ {
			wg.Add(1)
			go func(t int) {
				defer wg.Done()
				fn(t, t*P/T, (t+1)*P/T)
			}(t)
		}
		wg.Wait()
	}
	groupSums := func(out []float64) {
		for t := 0; t < T; t++ {
			for c, v := range partial[t*C : (t+1)*C] {
				out[c/cg] += v
			}
		}
	}
	// Pass 1: sums.
	chunk(func(t, lo, hi int) { colSum(partial[t*C:(t+1)*C], src[lo*C:hi*C], hi-lo) })
	cnt := float64(P * cg)
	mean := make([]float64, G)
	groupSums(mean)
	meanC := make([]float64, C)
	for c := range meanC {
		meanC[c] = mean[c/cg] / cnt
	}
	for g := range mean {
		mean[g] /= cnt
	}
	clear(partial)
	// Pass 2: centred sums of squares.
	chunk(func(t, lo, hi int) { colSqDev(partial[t*C:(t+1)*C], src[lo*C:hi*C], hi-lo, meanC) })
	variance := make([]float64, G)
	groupSums(variance)
	// Per channel: y = ((x − meanHi) − meanLo)·scale + beta, with the
	// float64 mean split into two float32 parts. Subtracting the mean first
	// (rather than folding it into a shift) avoids cancellation when the
	// mean is large against the spread.
	scale := make([]float32, C)
	meanHi := make([]float32, C)
	meanLo := make([]float32, C)
	for g := 0; g < G; g++ {
		rstd := 1 / math.Sqrt(variance[g]/cnt+normEps)
		hi := float32(mean[g])
		lo := float32(mean[g] - float64(hi))
		for c := g * cg; c < (g+1)*cg; c++ {
			scale[c] = float32(rstd * float64(n.gamma[c]))
			meanHi[c], meanLo[c] = hi, lo
		}
	}
	beta := n.beta[:C]
	// Pass 3: normalise, then SiLU.
	chunk(func(_, lo, hi int) {
		if silu && w4Asm {
			normSiLUAsm(dst[lo*C:hi*C], src[lo*C:hi*C], hi-lo, C, meanHi, meanLo, scale, beta)
			return
		}
		for p := lo; p < hi; p++ {
			s := src[p*C : (p+1)*C]
			d := dst[p*C : (p+1)*C]
			mh, ml, sc := meanHi[:len(s)], meanLo[:len(s)], scale[:len(s)]
			if silu {
				normSiLURowGo(d, s, mh, ml, sc, beta)
			} else {
				for c, v := range s {
					d[c] = ((v-mh[c])-ml[c])*sc[c] + beta[c]
				}
			}
		}
	})
}

// colSum adds to acc[c] the sum over the rows rows of src (channels-last,
// len(acc) channels) of channel c, in float64.
func colSum(acc []float64, src []float32, rows int) {
	C := len(acc)
	if w4Asm && C%8 == 0 && rows > 0 {
		colSumAsm(acc, src, rows)
		return
	}
	for p := 0; p < rows; p++ {
		for c, v := range src[p*C : (p+1)*C] {
			acc[c] += float64(v)
		}
	}
}

// colSqDev adds to acc[c] the sum over the rows of src of
// (src[p][c] − mean[c])², in float64.
func colSqDev(acc []float64, src []float32, rows int, mean []float64) {
	C := len(acc)
	if w4Asm && C%8 == 0 && rows > 0 {
		colSqDevAsm(acc, src, rows, mean)
		return
	}
	mean = mean[:C]
	for p := 0; p < rows; p++ {
		for c, v := range src[p*C : (p+1)*C] {
			d := float64(v) - mean[c]
			acc[c] += d * d
		}
	}
}

// exp32 is e^x in float32 with a relative error below 2·2⁻²⁴ over the
// whole range: it returns +Inf above 88.72, 0 below −103.97 (subnormal
// results are computed), NaN for NaN.
func exp32(x float32) float32 {
	const (
		ln2Hi  = 0.693359375
		ln2Lo  = -2.12194440e-4
		log2e  = 1.44269504088896341
		maxArg = 88.72283905206835
		minArg = -103.97207708
		magic  = 12582912 // 1.5·2²³: adding it rounds |v| < 2²² to an integer
	)
	if x > maxArg {
		return float32(math.Inf(1))
	}
	if x < minArg {
		return 0
	}
	// x = n·ln2 + r, |r| ≤ ln2/2, n from round-to-nearest of x·log2e.
	kf := x*log2e + magic
	n := int32(math.Float32bits(kf)) - 0x4b400000
	fn := kf - magic
	r := x - fn*ln2Hi - fn*ln2Lo
	// Minimax polynomial for e^r on [-ln2/2, ln2/2] (Cephes expf).
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	if n < -126 || n > 127 { // rare: scale in two steps
		h := n / 2
		return y * math.Float32frombits(uint32(h+127)<<23) * math.Float32frombits(uint32(n-h+127)<<23)
	}
	return y * math.Float32frombits(uint32(n+127)<<23)
}

// normSiLURow sets d[c] = silu(((s[c] − mh[c]) − ml[c])·sc[c] + beta[c])
// for c < len(s), silu(y) = y / (1 + e^(−y)), with the AVX-512 kernel
// where there is one and normSiLURowGo otherwise.
func normSiLURow(d, s, mh, ml, sc, beta []float32) {
	if w4Asm {
		normSiLUAsm(d, s, 1, len(s), mh, ml, sc, beta)
		return
	}
	normSiLURowGo(d, s, mh, ml, sc, beta)
}

// normSiLURowGo is the reference of normSiLURow (and the kernel where
// there is no assembly). The exponential is exp32's,
// written out so that the loop body has no call. Outside y ∈ [−88, 87] the
// result is y itself or 0 to float32 precision (|silu(y)| < 1e−36 below
// −88), so the exponent stays in range and the scaling by 2ⁿ needs no
// checks. NaN stays NaN.
func normSiLURowGo(d, s, mh, ml, sc, beta []float32) {
	const (
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
		log2e = 1.44269504088896341
		magic = 12582912 // 1.5·2²³: adding it rounds to an integer
	)
	n := len(s)
	d, mh, ml, sc, beta = d[:n], mh[:n], ml[:n], sc[:n], beta[:n]
	for c, v := range s {
		y := ((v-mh[c])-ml[c])*sc[c] + beta[c]
		x := -y
		if x > 88 { // silu(y) ≈ y·e^y, below 1e−36 in magnitude (and 0 at −∞)
			d[c] = 0
			continue
		}
		if x < -87 { // e^(−y) < 2⁻¹²⁵: 1 + e^(−y) rounds to 1
			x = -87
		}
		kf := x*log2e + magic
		fn := kf - magic
		r := x - fn*ln2Hi - fn*ln2Lo
		p := float32(1.9875691500e-4)
		p = p*r + 1.3981999507e-3
		p = p*r + 8.3334519073e-3
		p = p*r + 4.1665795894e-2
		p = p*r + 1.6666665459e-1
		p = p*r + 5.0000001201e-1
		// The low bits of kf hold n + 0x4b400000; moved into the exponent
		// field with the bias adjusted they make 2ⁿ.
		e := (p*r*r + r + 1) * math.Float32frombits((math.Float32bits(kf)-(0x4b400000-127))<<23)
		d[c] = y / (1 + e)
	}
}
