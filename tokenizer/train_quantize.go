package tokenizer

import (
	"math"

	"github.com/lvm-go/lvm/internal/kernels"
)

// The vector quantiser of VQGAN training, as a forward/backward pair (see
// train_layers.go for the conventions).
//
// The forward pass maps each latent row z_i to its nearest codebook row
// e_{c_i}; the decoder reads z_q = e_{c_i} exactly. The losses are those of
// VQ-VAE / taming-transformers, with sg the stop-gradient:
//
//	codebook   = mean over the n·E latent values of (sg(z) − e)²
//	commitment = β · mean (z − sg(e))²
//
// (equal values, different gradients), and the straight-through estimator
// z_q = z + sg(e − z) passes the decoder's gradient to z unchanged and none
// of it to the codebook.

// trQuantizeForward sets codes[i] to argmin_j ‖z_i − e_j‖² for each of the n
// rows z_i of z [n, e] against codebook [k, e] (ties go to the lowest index,
// as in the inference quantiser) and copies that codebook row into row i of
// zq [n, e]. When margins is non-nil, margins[i] receives the gap between
// the second-best and the best squared distance.
//
// Distances come from a float32 product z·eᵀ; every code within a bound of
// the float32 rounding error of the best is re-scored exactly in float64,
// so the choice is the exact-arithmetic one.
func trQuantizeForward(zq []float32, codes []int, margins []float64, z, codebook []float32, n, k, e int, sc *trScratch) {
	norms := trGrow64(&sc.norms, k)
	maxNorm := 0.0
	for j := range norms {
		var s float64
		for _, v := range codebook[j*e : (j+1)*e] {
			s += float64(v) * float64(v)
		}
		norms[j] = s
		maxNorm = math.Max(maxNorm, math.Sqrt(s))
	}
	rows := max(1, min(n, trBandBudget/k))
	dots := trGrow(&sc.dots, rows*k)
	for i0 := 0; i0 < n; i0 += rows {
		m := min(rows, n-i0)
		kernels.MatMulNT(dots[:m*k], z[i0*e:(i0+m)*e], codebook, m, k, e)
		trFor(m, 4*k, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				i := i0 + r
				zi := z[i*e : (i+1)*e]
				best, second := trNearest(zi, dots[r*k:(r+1)*k], codebook, norms, maxNorm)
				codes[i] = best
				copy(zq[i*e:(i+1)*e], codebook[best*e:(best+1)*e])
				if margins != nil {
					margins[i] = second
				}
			}
		})
	}
}

// trNearest returns the index of the codebook row nearest to zi, given the
// float32 dot products of zi with every row and the rows' squared norms, and
// the gap between the second-best and the best squared distance (+Inf with
// one code).
func trNearest(zi, dots, codebook []float32, norms []float64, maxNorm float64) (int, float64) {
	e := len(zi)
	var zn float64
	for _, v := range zi {
		zn += float64(v) * float64(v)
	}
	best := math.Inf(1)
	for j, d := range dots {
		best = math.Min(best, norms[j]-2*float64(d))
	}
	// A generous bound on the float32 dot-product error (twice, for d).
	tol := 32*float64(e+2)*0x1p-24*math.Sqrt(zn)*maxNorm + 1e-30
	bestJ, bestD, second := -1, math.Inf(1), math.Inf(1)
	for j, d := range dots {
		v := norms[j] - 2*float64(d)
		if !(v <= best+tol) {
			second = math.Min(second, v+zn)
			continue
		}
		var s float64
		for i, c := range codebook[j*e : (j+1)*e] {
			t := float64(zi[i]) - float64(c)
			s += t * t
		}
		switch {
		case bestJ < 0 || s < bestD:
			if bestJ >= 0 {
				second = math.Min(second, bestD)
			}
			bestJ, bestD = j, s
		default:
			second = math.Min(second, s)
		}
	}
	if bestJ < 0 { // every distance NaN
		return 0, 0
	}
	return bestJ, second - bestD
}

// trQuantizeBackward adds the gradients of the quantiser to dz [n, e] and
// dcodebook [k, e], given dzq (the decoder's gradient with respect to z_q),
// the latents z, their quantised rows zq and codes:
//
//	dz                += dzq + 2β·(z − zq)/(n·e)   (straight-through + commitment)
//	dcodebook[codes[i]] += 2·(zq_i − z_i)/(n·e)     (codebook loss)
//
// The codebook rows are accumulated in row order, so the sums do not depend
// on the thread count.
func trQuantizeBackward(dz, dcodebook, dzq, z, zq []float32, codes []int, e int, beta float64) {
	n := len(codes)
	k := float32(2 / float64(n*e))
	kb := float32(2 * beta / float64(n*e))
	for i := 0; i < n*e; i++ {
		dz[i] += dzq[i] + kb*(z[i]-zq[i])
	}
	for i, c := range codes {
		d := dcodebook[c*e : (c+1)*e]
		for j := range d {
			d[j] += k * (zq[i*e+j] - z[i*e+j])
		}
	}
}

// trCodeStats returns the number of distinct codes among codes and the
// perplexity exp(−Σ p_j log p_j) of their frequencies p_j (1 when a single
// code is used, k when all k codes are used equally).
func trCodeStats(codes []int, k int, counts []int) (used int, perplexity float64) {
	counts = counts[:k]
	clear(counts)
	for _, c := range codes {
		counts[c]++
	}
	var h float64
	for _, n := range counts {
		if n == 0 {
			continue
		}
		used++
		p := float64(n) / float64(len(codes))
		h -= p * math.Log(p)
	}
	return used, math.Exp(h)
}
