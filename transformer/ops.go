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
// The sum of squares is accumulated in float64. dst and x may not overlap
// unless they are identical.
func rmsNorm(dst, x, w []float32, rows, d int, eps float64) {
	w = w[:d]
	for r := 0; r < rows; r++ {
		xr := x[r*d : (r+1)*d]
		dr := dst[r*d : (r+1)*d]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
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
// SwiGLU gate, split across the kernel threads when large.
func siluMul(g, u []float32) {
	u = u[:len(g)]
	if len(g) < parallelMin {
		siluMulRange(g, u)
		return
	}
	kernels.ParallelFor(len(g), func(lo, hi int) { siluMulRange(g[lo:hi], u[lo:hi]) })
}

func siluMulRange(g, u []float32) {
	u = u[:len(g)]
	for i, z := range g {
		g[i] = float32(z/(1+expf(-z))) * u[i]
	}
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

// expf returns e^x rounded to float32, within 1 ulp of the exact value
// (results below the smallest normal float32 flush to zero). It reduces
// x = k·ln2 + r, |r| ≤ ln2/2, in float64 and evaluates the degree-7 Taylor
// polynomial of e^r (truncation error < 1e-8, a sixth of a float32 ulp).
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < -87.3:
		return 0
	case x > 88.72:
		return float32(math.Inf(1))
	}
	const (
		log2e = 1.44269504088896338700
		ln2   = 0.693147180559945309417
		round = 0x1.8p52 // adding and subtracting it rounds to an integer
	)
	xd := float64(x)
	k := float64(xd*log2e+round) - round
	r := xd - k*ln2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return float32(p * math.Float64frombits(uint64(int64(k)+1023)<<52))
}
