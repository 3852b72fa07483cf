package transformer

import (
	"math"

	"github.com/lvm-go/lvm/internal/kernels"
)

// parallelMin is the number of elements below which an elementwise pass
// runs on the calling goroutine.
const parallelMin = 1 << 15

// rmsNorm sets dst[r,:] = w · x[r,:] / sqrt(mean(x[r,:]²) + eps) for rows
// rows of width d (Hugging Face LlamaRMSNorm: the product with the
// reciprocal root is rounded to float32 before the weight multiplies it).
// The sum of squares is accumulated in float64 (four partial sums). dst
// and x may not overlap unless they are identical.
func rmsNorm(dst, x, w []float32, rows, d int, eps float64) {
	w = w[:d]
	for r := 0; r < rows; r++ {
		xr := x[r*d : (r+1)*d]
		dr := dst[r*d : (r+1)*d]
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= len(xr); i += 4 {
			a, b, c, e := float64(xr[i]), float64(xr[i+1]), float64(xr[i+2]), float64(xr[i+3])
			s0 += a * a
			s1 += b * b
			s2 += c * c
			s3 += e * e
		}
		for ; i < len(xr); i++ {
			s0 += float64(xr[i]) * float64(xr[i])
		}
		ss := (s0 + s1) + (s2 + s3)
		inv := float32(1 / math.Sqrt(ss/float64(d)+eps))
		for i, v := range xr {
			dr[i] = w[i] * float32(v*inv)
		}
	}
}

// addTo sets x[i] += y[i].
func addTo(x, y []float32) {
	y = y[:len(x)]
	for i := range x {
		x[i] += y[i]
	}
}

// siluMul sets g[i] = silu(g[i]) · u[i], silu(z) = z / (1 + e^−z), the
// SwiGLU gate (kernels.SiLUMul), split across the kernel threads when
// large.
func siluMul(g, u []float32) {
	u = u[:len(g)]
	if len(g) < parallelMin {
		kernels.SiLUMul(g, u)
		return
	}
	kernels.ParallelFor(len(g), func(lo, hi int) { kernels.SiLUMul(g[lo:hi], u[lo:hi]) })
}

// softmaxScaled sets x[i] = softmax(scale·x)[i] in place: the scaled scores
// are rounded to float32, the maximum is subtracted before exponentiating,
// and the sum is accumulated in float64.
func softmaxScaled(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	mx := float32(math.Inf(-1))
	for i, v := range x {
		v *= scale
		x[i] = v
		if v > mx {
			mx = v
		}
	}
	var sum float64
	for i, v := range x {
		e := expf(v - mx)
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// expf returns e^x rounded to float32, within 1 ulp (kernels.Expf, the
// exponential of every vector kernel).
func expf(x float32) float32 { return kernels.Expf(x) }
