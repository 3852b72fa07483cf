package kernels

import (
	"fmt"
	"math"

	"github.com/lvm-go/lvm/internal/half"
)

// Expf returns e^x rounded to float32, within 1 ulp of the exact value
// (results below the smallest normal float32 flush to zero). It reduces
// x = k·ln2 + r, |r| ≤ ln2/2, in float64 and evaluates the degree-7 Taylor
// polynomial of e^r (truncation error < 1e-8, a sixth of a float32 ulp).
// The vector kernels (SiLUMul, Softmax, SoftmaxColumns) compute exactly
// this function in every lane.
func Expf(x float32) float32 {
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

// SiLUMul sets g[i] = silu(g[i])·u[i] for i < len(g), where silu(z) =
// z/(1+e^−z) is rounded to float32 before the product (Expf for the
// exponential; the SwiGLU gate of a LLaMA MLP). Results are identical on
// every path. It runs on the calling goroutine and panics if u is
// shorter than g.
func SiLUMul(g, u []float32) {
	if len(u) < len(g) {
		panic(fmt.Sprintf("kernels.SiLUMul: len(u) = %d < len(g) = %d", len(u), len(g)))
	}
	n := 0
	if w := vecWidth(); w > 0 {
		n = len(g) &^ (w - 1)
		if n > 0 {
			siluMulVec(g[:n], u[:n])
		}
	}
	RefSiLUMul(g[n:], u[n:len(g)])
}

// RefSiLUMul is the reference for SiLUMul.
func RefSiLUMul(g, u []float32) {
	u = u[:len(g)]
	for i, z := range g {
		g[i] = float32(z/(1+Expf(-z))) * u[i]
	}
}

// Softmax sets x = softmax(scale·x) in place: the scaled values are
// rounded to float32, their maximum is subtracted before Expf, the sum is
// accumulated in float64 (in vector lanes, so in another order than
// RefSoftmax: results may differ from it by an ulp), and every value is
// multiplied by float32(1/sum). It runs on the calling goroutine.
func Softmax(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	n := 0
	if w := vecWidth(); w > 0 {
		n = len(x) &^ (w - 1)
	}
	mx := float32(math.Inf(-1))
	if n > 0 {
		mx = scaleMaxVec(x[:n], scale)
	}
	for i := n; i < len(x); i++ {
		v := x[i] * scale
		x[i] = v
		if v > mx {
			mx = v
		}
	}
	var sum float64
	if n > 0 {
		sum = expSubSumVec(x[:n], mx)
	}
	for i := n; i < len(x); i++ {
		e := Expf(x[i] - mx)
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	if n > 0 {
		scaleVec(x[:n], inv)
	}
	for i := n; i < len(x); i++ {
		x[i] *= inv
	}
}

// RefSoftmax is the reference for Softmax: x[i·stride] for i < n, the
// float64 sum accumulated in order.
func RefSoftmax(x []float32, n, stride int, scale float32) {
	if n == 0 {
		return
	}
	mx := float32(math.Inf(-1))
	for i := 0; i < n; i++ {
		v := x[i*stride] * scale
		x[i*stride] = v
		if v > mx {
			mx = v
		}
	}
	var sum float64
	for i := 0; i < n; i++ {
		e := Expf(x[i*stride] - mx)
		x[i*stride] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := 0; i < n; i++ {
		x[i*stride] *= inv
	}
}

// SoftmaxColumns applies the softmax of RefSoftmax down each of the first
// cols columns of the [rows × ld] matrix x (column j is x[j], x[ld+j], …,
// x[(rows−1)·ld+j]): the columns' results are identical to RefSoftmax's
// (each column's sum is accumulated in row order), vectorised across
// columns. Entries of −Inf get probability 0 (a causal mask). It runs on
// the calling goroutine and panics if x is too short.
func SoftmaxColumns(x []float32, rows, cols, ld int, scale float32) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if cols > ld || len(x) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("kernels.SoftmaxColumns: %d×%d columns of stride %d in %d values", rows, cols, ld, len(x)))
	}
	c := 0
	if w := vecWidth(); w > 0 {
		for ; c+w <= cols; c += w {
			softmaxColsVec(x[c:], rows, ld, scale)
		}
	}
	for ; c < cols; c++ {
		RefSoftmax(x[c:], rows, ld, scale)
	}
}

// F32sToF16s rounds src to binary16 into dst (to nearest, ties to even,
// as half.F32ToF16; NaNs stay NaNs but may keep another payload). It
// panics if dst is shorter than src.
func F32sToF16s(dst []uint16, src []float32) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("kernels.F32sToF16s: len(dst) = %d < len(src) = %d", len(dst), len(src)))
	}
	n := 0
	if w := vecWidth(); w > 0 {
		n = len(src) &^ (w - 1)
		if n > 0 {
			toF16Vec(dst[:n], src[:n])
		}
	}
	for i := n; i < len(src); i++ {
		dst[i] = half.F32ToF16(src[i])
	}
}

// F16sToF32s widens the binary16 values of src into dst (exact). It
// panics if dst is shorter than src.
func F16sToF32s(dst []float32, src []uint16) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("kernels.F16sToF32s: len(dst) = %d < len(src) = %d", len(dst), len(src)))
	}
	convertRow(bF16, dst, src)
}

// Rope rotates the pairs (x1[i], x2[i]) of rotary position embeddings in
// place: x1' = x1·cos − x2·sin and x2' = x2·cos + x1·sin with every product
// rounded to float32 before the sum (the same values on every path). It
// panics if x2, cos or sin is shorter than x1.
func Rope(x1, x2, cos, sin []float32) {
	n := len(x1)
	if len(x2) < n || len(cos) < n || len(sin) < n {
		panic(fmt.Sprintf("kernels.Rope: lengths %d, %d, %d, %d", len(x1), len(x2), len(cos), len(sin)))
	}
	v := 0
	if w := vecWidth(); w > 0 {
		v = n &^ (w - 1)
		if v > 0 {
			ropeVec(x1[:v], x2[:v], cos[:v], sin[:v])
		}
	}
	RefRope(x1[v:], x2[v:n], cos[v:n], sin[v:n])
}

// RefRope is the reference for Rope.
func RefRope(x1, x2, cos, sin []float32) {
	x2, cos, sin = x2[:len(x1)], cos[:len(x1)], sin[:len(x1)]
	for j := range x1 {
		a, b := x1[j], x2[j]
		x1[j] = float32(a*cos[j]) - float32(b*sin[j])
		x2[j] = float32(b*cos[j]) + float32(a*sin[j])
	}
}
