package sampling

import "math"

// Exp returns e^x for x <= 0 (the softmax of max-shifted logits) computed
// with float64 operations whose every rounding is explicit, so the result is
// bit-identical on every platform (the standard library's math.Exp uses
// assembly on some architectures, and the compiler may fuse multiply-adds
// where a conversion does not forbid it). Accuracy is within 2 ulp.
func Exp(x float64) float64 {
	switch {
	case x != x:
		return x
	case x < -745.2:
		return 0
	case x > 709.7:
		return math.Inf(1)
	}
	// x = k·ln2 + r with |r| <= ln2/2, ln2 split in a high part with
	// trailing zero bits so that k·ln2Hi is exact.
	const (
		ln2Hi  = 6.93147180369123816490e-01
		ln2Lo  = 1.90821492927058770002e-10
		invLn2 = 1.44269504088896338700e+00
	)
	k := math.Floor(float64(x*invLn2) + 0.5)
	r := float64(float64(x-float64(k*ln2Hi)) - float64(k*ln2Lo))
	// Taylor series of e^r to degree 13 (|r| < 0.35: the error is < 1e-17).
	p := 1.0 / 6227020800
	for _, c := range [...]float64{1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880,
		1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1} {
		p = float64(float64(p*r) + c)
	}
	return math.Ldexp(p, int(k))
}
