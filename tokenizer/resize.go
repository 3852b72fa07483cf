package tokenizer

import (
	"math"

	"github.com/lvm-go/lvm/internal/kernels"
)

// Pillow's fixed-point resampling constants: coefficients carry
// precisionBits fractional bits (32 − 8 for the result − 2 for the overshoot
// of negative filter lobes), and every accumulator starts at one half.
const (
	precisionBits = 32 - 8 - 2
	accHalf       = int32(1) << (precisionBits - 1)
	bicubicA      = -0.5 // Pillow's bicubic (Keys) parameter
	bicubicSupp   = 2.0  // its support radius at scale 1
)

// bicubicWeight is Pillow's bicubic kernel (a = −0.5) at x, evaluated in
// float64 in exactly its order of operations. The explicit float64
// conversions forbid the compiler from fusing a multiply and an add into one
// FMA (allowed by the Go spec; done on arm64 and with GOAMD64=v3), which
// could change the last bit of a coefficient and so, rarely, a rounded pixel.
func bicubicWeight(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		t := float64((bicubicA+2)*x) - (bicubicA + 3)
		return float64(float64(t*x)*x) + 1
	}
	if x < 2 {
		t := float64((x-5)*x) + 8
		t = float64(t*x) - 4
		return t * bicubicA
	}
	return 0
}

// resampleCoeffs holds one pass's filter: for output index i the taps start
// at source index start[i] and cover n[i] sources, with fixed-point weights
// k[i·ksize : i·ksize+n[i]].
type resampleCoeffs struct {
	ksize    int
	start, n []int
	k        []int32
}

// bicubicCoeffs computes Pillow's precompute_coeffs + normalize_coeffs_8bpc
// for resampling inSize samples to outSize with the bicubic filter over the
// whole source (box 0..inSize): per output index the centre
// (i+0.5)·scale, the support 2·max(scale,1) rounded to a source window, the
// weights kernel((j − centre + 0.5)/max(scale,1)) normalised by their sum in
// float64, then rounded half away from zero to precisionBits fixed point.
func bicubicCoeffs(inSize, outSize int) resampleCoeffs {
	// Pillow keeps the box in float32: (double)(in1 - in0) / outSize.
	scale := float64(float32(inSize)) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := bicubicSupp * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := resampleCoeffs{
		ksize: ksize,
		start: make([]int, outSize),
		n:     make([]int, outSize),
		k:     make([]int32, outSize*ksize),
	}
	w := make([]float64, ksize)
	ss := 1 / filterscale
	for i := 0; i < outSize; i++ {
		center := (float64(i) + 0.5) * scale
		lo := int(center - support + 0.5) // truncation toward zero, as C's (int)
		if lo < 0 {
			lo = 0
		}
		hi := int(center + support + 0.5)
		if hi > inSize {
			hi = inSize
		}
		n := hi - lo
		if n > ksize { // cannot happen for a consistent support; stay in bounds anyway
			n = ksize
		}
		if n < 0 {
			n = 0
		}
		var sum float64
		for j := 0; j < n; j++ {
			v := bicubicWeight((float64(j+lo) - center + 0.5) * ss)
			w[j] = v
			sum += v
		}
		k := c.k[i*ksize : i*ksize+n]
		for j := range k {
			v := w[j]
			if sum != 0 {
				v /= sum
			}
			if v < 0 {
				k[j] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				k[j] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		c.start[i], c.n[i] = lo, n
	}
	return c
}

// clip8 turns an accumulator into a byte as Pillow does: drop the fraction
// (arithmetic shift, i.e. floor) and clamp to 0..255.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resizeBicubic resamples the interleaved RGB image src (w×h pixels, 3 bytes
// each, row-major, len(src) >= 3·w·h) to nw×nh and returns a new slice of
// 3·nw·nh bytes; src is not modified. The result equals Pillow's
// `Image.resize((nw, nh), Image.BICUBIC)` on an RGB image byte for byte: the
// same float64 coefficients (antialiased when shrinking: support scales
// with in/out), the same 22-bit fixed point, a horizontal pass first (only
// over the source rows the vertical pass reads) then a vertical pass, each
// rounding and clipping to uint8; a pass whose dimension does not change is
// skipped, and an unchanged size returns a copy.
//
// It returns nil if a size is not positive or src is too short. Rows are
// split across kernels.Threads() goroutines.
func resizeBicubic(src []uint8, w, h, nw, nh int) []uint8 {
	if w <= 0 || h <= 0 || nw <= 0 || nh <= 0 || len(src) < 3*w*h {
		return nil
	}
	needH, needV := nw != w, nh != h
	if !needH && !needV {
		return append([]uint8(nil), src[:3*w*h]...)
	}
	cur, rowOff := src, 0
	var vc resampleCoeffs
	if needV {
		vc = bicubicCoeffs(h, nh)
	}
	if needH {
		// Only rows [first, last) of the source feed the vertical pass.
		first, last := 0, h
		if needV {
			first = vc.start[0]
			last = vc.start[nh-1] + vc.n[nh-1]
			rowOff = first
		}
		cur = resampleRows(src, w, nw, first, last, bicubicCoeffs(w, nw))
	}
	if !needV {
		return cur
	}
	return resampleCols(cur, nw, rowOff, nh, vc)
}

// resampleRows is the horizontal pass: rows [first,last) of the w-wide RGB
// image src, each resampled to nw pixels with c, into a new
// (last−first)×nw image.
func resampleRows(src []uint8, w, nw, first, last int, c resampleCoeffs) []uint8 {
	out := make([]uint8, 3*nw*(last-first))
	kernels.ParallelFor(last-first, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			in := src[3*w*(first+y) : 3*w*(first+y+1)]
			o := out[3*nw*y : 3*nw*(y+1)]
			for x := 0; x < nw; x++ {
				s, n := c.start[x], c.n[x]
				k := c.k[x*c.ksize : x*c.ksize+n]
				p := in[3*s : 3*(s+n)]
				s0, s1, s2 := accHalf, accHalf, accHalf
				for j, kj := range k {
					q := p[3*j : 3*j+3 : 3*j+3]
					s0 += int32(q[0]) * kj
					s1 += int32(q[1]) * kj
					s2 += int32(q[2]) * kj
				}
				o[3*x], o[3*x+1], o[3*x+2] = clip8(s0), clip8(s1), clip8(s2)
			}
		}
	})
	return out
}

// resampleCols is the vertical pass: output row y of width w (RGB) mixes the
// rows c.start[y]−rowOff … of src with c's weights; src holds the source rows
// from rowOff on.
func resampleCols(src []uint8, w, rowOff, nh int, c resampleCoeffs) []uint8 {
	rowLen := 3 * w
	out := make([]uint8, rowLen*nh)
	kernels.ParallelFor(nh, func(lo, hi int) {
		acc := make([]int32, rowLen)
		for y := lo; y < hi; y++ {
			for i := range acc {
				acc[i] = accHalf
			}
			s, n := c.start[y]-rowOff, c.n[y]
			for j, kj := range c.k[y*c.ksize : y*c.ksize+n] {
				row := src[(s+j)*rowLen : (s+j+1)*rowLen]
				for i, v := range row {
					acc[i] += int32(v) * kj
				}
			}
			o := out[y*rowLen : (y+1)*rowLen]
			for i, v := range acc {
				o[i] = clip8(v)
			}
		}
	})
	return out
}
