//go:build amd64 && !purego

package tokenizer

import (
	"runtime"
	"unsafe"

	"github.com/lvm-go/lvm/internal/kernels"
)

//go:noescape
func w4gemmAVX512(a *float32, lda int, b *float32, c *float32, ldc int, k int, mt int, bias *float32)

//go:noescape
func w4inAVX512(dst *float32, vs, ld int, src *[36]uintptr, step *[36]uintptr, ntiles, nch int, tmp *float32)

//go:noescape
func w4outAVX512(m *float32, ms, ld int, dst, res, step *[16]uintptr, bias *float32, ntiles, nch int, tmp *float32)

//go:noescape
func normSiLUAVX512(d, s *float32, rows, c int, mh, ml, sc, beta *float32)

//go:noescape
func colSumAVX512(acc *float64, src *float32, rows, c int)

//go:noescape
func colSqDevAVX512(acc *float64, src *float32, rows, c int, mean *float64)

//go:noescape
func rgbConvAVX512(dst *float32, src, step *[9]uintptr, w, bias *float32, n, cin int)

// haveAVX512 reports whether the CPU and the OS support the AVX-512
// kernels of this package (the kernels package's detection).
var haveAVX512 = kernels.HasAVX512()

// w4gemmAsm is w4gemmGo on the AVX-512 kernel; the slices are checked
// against the extent the kernel touches.
func w4gemmAsm(c []float32, ldc int, a []float32, lda int, b []float32, k, mt int, bias []float32) {
	_ = a[(6*mt-1)*lda+k-1]
	_ = b[k*w4Panel-1]
	_ = c[(6*mt-1)*ldc+w4Panel-1]
	var bp *float32
	if bias != nil {
		_ = bias[w4Panel-1]
		bp = &bias[0]
	}
	w4gemmAVX512(&a[0], lda, &b[0], &c[0], ldc, k, mt, bp)
}

func f32addr(s []float32, off int) uintptr { return uintptr(unsafe.Pointer(&s[off])) }

// w4inAsm runs the input transform of n tiles on channels [0, nch), nch a
// multiple of 16 (see w4inGo for the arguments). Every address the kernel
// reads or writes is checked first.
func w4inAsm(v []float32, vOff, vs, ld int, in, zeros []float32, off *[36]int, step, n, nch int) {
	_ = v[vOff+35*vs+(n-1)*ld+nch-1]
	_ = zeros[nch-1]
	var src, steps [36]uintptr
	for p, o := range off {
		if o < 0 {
			src[p] = f32addr(zeros, 0)
			continue
		}
		_ = in[o+(n-1)*step+nch-1]
		src[p] = f32addr(in, o)
		steps[p] = uintptr(4 * step)
	}
	var tmp [36 * 16]float32
	w4inAVX512(&v[vOff], 4*vs, 4*ld, &src, &steps, n, nch, &tmp[0])
	runtime.KeepAlive(v)
	runtime.KeepAlive(in)
	runtime.KeepAlive(zeros)
}

// w4outAsm runs the output transform of n tiles on channels [0, nch), nch
// a multiple of 16 (see w4outGo for the arguments).
func w4outAsm(out, res, m []float32, mOff, ms, ld int, bias []float32, off *[16]int, step, n, nch int, discard []float32) {
	_ = m[mOff+35*ms+(n-1)*ld+nch-1]
	_ = bias[nch-1]
	var dst, rs, steps [16]uintptr
	for p, o := range off {
		if o < 0 {
			_ = discard[nch-1]
			dst[p], rs[p] = f32addr(discard, 0), f32addr(discard, 0)
			continue
		}
		_ = out[o+(n-1)*step+nch-1]
		dst[p] = f32addr(out, o)
		if res != nil {
			_ = res[o+(n-1)*step+nch-1]
			rs[p] = f32addr(res, o)
		}
		steps[p] = uintptr(4 * step)
	}
	var tmp [24 * 16]float32
	rp := &rs
	if res == nil {
		rp = nil
	}
	w4outAVX512(&m[mOff], 4*ms, 4*ld, &dst, rp, &steps, &bias[0], n, nch, &tmp[0])
	runtime.KeepAlive(out)
	runtime.KeepAlive(res)
	runtime.KeepAlive(discard)
}

// normSiLUAsm is normSiLURowGo over rows rows of c channels.
func normSiLUAsm(d, s []float32, rows, c int, mh, ml, sc, beta []float32) {
	if rows == 0 || c == 0 {
		return
	}
	_, _ = d[rows*c-1], s[rows*c-1]
	_, _, _, _ = mh[c-1], ml[c-1], sc[c-1], beta[c-1]
	normSiLUAVX512(&d[0], &s[0], rows, c, &mh[0], &ml[0], &sc[0], &beta[0])
}

// colSumAsm is colSum's loop for len(acc) a multiple of 8.
func colSumAsm(acc []float64, src []float32, rows int) {
	c := len(acc)
	_ = src[rows*c-1]
	colSumAVX512(&acc[0], &src[0], rows, c)
}

// colSqDevAsm is colSqDev's loop for len(acc) a multiple of 8.
func colSqDevAsm(acc []float64, src []float32, rows int, mean []float64) {
	c := len(acc)
	_, _ = src[rows*c-1], mean[c-1]
	colSqDevAVX512(&acc[0], &src[0], rows, c, &mean[0])
}

// rgbConvAsm runs the three-output 3×3 convolution kernel on n pixels of a
// row (see rgbRun).
func rgbConvAsm(dst []float32, in, zeros []float32, off *[9]int, step int, w, bias []float32, n, cin int) {
	_ = dst[3*n-1]
	_ = w[27*cin-1]
	_ = zeros[cin-1]
	var src, steps [9]uintptr
	for t, o := range off {
		if o < 0 {
			src[t] = f32addr(zeros, 0)
			continue
		}
		_ = in[o+(n-1)*step+cin-1]
		src[t] = f32addr(in, o)
		steps[t] = uintptr(4 * step)
	}
	b := [4]float32{bias[0], bias[1], bias[2], 0}
	rgbConvAVX512(&dst[0], &src, &steps, &w[0], &b[0], n, cin)
	runtime.KeepAlive(in)
	runtime.KeepAlive(zeros)
}
