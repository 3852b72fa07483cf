package tokenizer

import (
	"sync/atomic"

	"github.com/lvm-go/lvm/internal/kernels"
)

// Stride-1 3×3 convolutions of moderate width run, where the AVX-512
// kernels are available, as Winograd F(4×4, 3×3): each 4×4 block of
// outputs comes from a 6×6 input tile d as
//
//	Y = Aᵀ [ U ⊙ V ] A,   U = G g Gᵀ (per kernel, at load time),   V = Bᵀ d B
//
// so that 36 multiplications make 16 outputs (2.25 per output, against 9
// for direct convolution and 4 for F(2×2, 3×3)). The interpolation points
// are 0, 1, −1, 2, −½ and ∞: of the usual choices for F(4,3) (0, ±1, ±2;
// 0, ±1, ±½) they gave the smallest float32 error in a simulation of
// 128-channel layers, by 2 to 3×, and every coefficient of Bᵀ and Aᵀ is
// exact in binary (±1, ±2, ±½, ±1.5, ±2.5, 4, ¼, 8, ⅛). The error is still
// about ten times that of direct convolution (1e-5 of the output's RMS at
// most, TestWinograd4Accuracy), and errors made in the small, deep layers
// are the ones the rest of the network amplifies most, so F(4,3) is used
// only at 32×32 and above (w4MinSize): there the whole network stays as
// close to float64 as PyTorch's own float32 output is (golden fixture).
//
//	     | 1  1.5  −2  −1.5   1  0 |        | 1     0     0    |
//	     | 0  −1  −2.5 −0.5   1  0 |        | −1/3  −1/3  −1/3 |
//	Bᵀ = | 0   1   0.5 −2.5   1  0 |    G = | 1/3   −1/3  1/3  |
//	     | 0 −0.5  −1   0.5   1  0 |        | 1/15  2/15  4/15 |
//	     | 0   2   −1   −2    1  0 |        | −16/15 8/15 −4/15|
//	     | 0   1   1.5  −2  −1.5 1 |        | 0     0     1    |
//
//	Aᵀ = | 1  1   1  1   1    0 |
//	     | 0  1  −1  2  −½    0 |
//	     | 0  1   1  4   ¼    0 |
//	     | 0  1  −1  8  −⅛    1 |
//
// The per-point products M_ξ[tiles × Cout] = V_ξ[tiles × Cin] · U_ξ[Cin × Cout]
// run on a register-tiled kernel (6 tiles × 64 output channels, the weights
// packed at load time in panels of 64 output channels) that broadcasts one
// input value against four vectors of weights, so no horizontal sums are
// needed and short Cin costs nothing extra. The input and output
// transforms run 16 channels at a time. Work goes in bands of tile rows
// whose transformed input and output (tile by tile: the 36 points of a tile
// together) stay within half of bandBudget.

// w4Panel is the width (output channels) of one packed weight panel and of
// the product kernel's register tile; w4Rows is its height (tiles).
const (
	w4Panel = 64
	w4Rows  = 6
)

// w4Enabled selects F(4,3) for the layers useWinograd4 accepts; w4Asm
// selects the assembly kernels over their Go references. Both are
// variables only so that tests can cover every combination.
var (
	w4Enabled = haveAVX512
	w4Asm     = haveAVX512
)

// w4MaxWeights bounds Cin·Cout of the layers run as F(4,3): their
// transformed weights take 36·Cin·Cout floats, 4× the plain weights (85 MB
// for one 768×768 layer). The wider layers of the released configuration
// (768 channels) act on 16×16 and 32×32 images, a few percent of the
// arithmetic, and keep F(2,3), whose weights are 2.25× smaller.
const w4MaxWeights = 512 * 512

// w4MinSize is the smallest image side (at the configured resolution) of
// the layers run as F(4,3); see useWinograd4. A variable for tests.
var w4MinSize = 32

// useWinograd4 reports whether a stride-1 3×3 convolution with these widths
// runs as F(4,3).
func useWinograd4(cin, cout int) bool {
	return w4Enabled && cin >= 16 && cout >= 16 && cin*cout <= w4MaxWeights
}

// usePacked reports whether an im2col-layout convolution (1×1, strided, or
// thin 3×3) with cout outputs runs on the packed product kernel.
func usePacked(cout int) bool { return w4Enabled && cout%w4Panel == 0 }

// packPanels lays out w [n, k] (row-major) as panels of 64 rows:
// p[((j/64)·k + i)·64 + j%64] = w[j·k + i]; n must be a multiple of 64.
func packPanels(w []float32, n, k int) []float32 {
	p := make([]float32, n*k)
	for j := 0; j < n; j++ {
		q, jj := j/w4Panel, j%w4Panel
		for i, v := range w[j*k : (j+1)*k] {
			p[(q*k+i)*w4Panel+jj] = v
		}
	}
	return p
}

// gemmPacked sets c[r·ldc + j] = bias[j] + Σ_i a[r·lda + i]·W[j][i] for
// r < m, j < 64·np, i < k, W held as np panels (packPanels). Units of 16
// register tiles of rows (all panels) are shared among the threads; the
// last m mod 6 rows go through a zero-padded copy.
func gemmPacked(c []float32, ldc int, a []float32, lda int, wp []float32, k, np, m int, bias []float32) {
	mt := m / w4Rows
	const blk = 16
	parallelUnits(w4ceil(mt, blk), func(u int) {
		t0 := u * blk
		t1 := min(mt, t0+blk)
		r0 := t0 * w4Rows
		for q := 0; q < np; q++ {
			w4gemm(c[r0*ldc+q*w4Panel:], ldc, a[r0*lda:], lda, wp[q*k*w4Panel:], k, t1-t0, panelOf(bias, q))
		}
	})
	r0 := mt * w4Rows
	if r0 == m {
		return
	}
	ta := make([]float32, w4Rows*k+w4Rows*w4Panel)
	tc := ta[w4Rows*k:]
	for r := r0; r < m; r++ {
		copy(ta[(r-r0)*k:(r-r0+1)*k], a[r*lda:r*lda+k])
	}
	for q := 0; q < np; q++ {
		w4gemm(tc, w4Panel, ta, k, wp[q*k*w4Panel:], k, 1, panelOf(bias, q))
		for r := r0; r < m; r++ {
			copy(c[r*ldc+q*w4Panel:r*ldc+(q+1)*w4Panel], tc[(r-r0)*w4Panel:])
		}
	}
}

// panelOf returns the 64 values of panel q of bias, nil if bias is nil.
func panelOf(bias []float32, q int) []float32 {
	if bias == nil {
		return nil
	}
	return bias[q*w4Panel : (q+1)*w4Panel]
}

// w4G is G of the file comment.
var w4G = [6][3]float64{
	{1, 0, 0},
	{-1.0 / 3, -1.0 / 3, -1.0 / 3},
	{1.0 / 3, -1.0 / 3, 1.0 / 3},
	{1.0 / 15, 2.0 / 15, 4.0 / 15},
	{-16.0 / 15, 8.0 / 15, -4.0 / 15},
	{0, 0, 1},
}

// w4Weights transforms PyTorch weights [Cout, Cin, 3, 3] into
// U_ξ = G g Gᵀ (computed in float64) packed as
// u[((ξ·np + o/64)·Cin + i)·64 + o%64], np = ⌈Cout/64⌉ panels, with zeros
// for the output channels past Cout.
func w4Weights(w []float32, cout, cin int) []float32 {
	return packedWinoWeights(w, cout, cin, 6)
}

// wG6 is G of F(4,3) (w4G) applied to the column (a, b, c), written out.
func wG6(a, b, c float64, v *[6]float64) {
	s := a + c
	v[0] = a
	v[1] = -(s + b) / 3
	v[2] = (s - b) / 3
	v[3] = (a + 2*b + 4*c) / 15
	v[4] = (-16*a + 8*b - 4*c) / 15
	v[5] = c
}

// wG4 is G of F(2,3) (winograd.go) applied to the column (a, b, c).
func wG4(a, b, c float64, v *[6]float64) {
	s := a + c
	v[0] = a
	v[1] = (s + b) / 2
	v[2] = (s - b) / 2
	v[3] = c
}

// packedWinoWeights transforms every 3×3 kernel g_{o,i} of w [Cout, Cin, 3, 3]
// into U = G g Gᵀ (in float64; n = 6 for F(4,3) with wG6, 4 for F(2,3)
// with wG4) and lays U out point by point in panels of 64 output
// channels: U[ξ] (ξ = r·n + c) at u[((ξ·np + o/64)·Cin + i)·64 + o%64].
// Units of work are (panel, input channel) pairs, whose 64 outputs are
// contiguous in every point's plane.
func packedWinoWeights(w []float32, cout, cin, n int) []float32 {
	np := w4ceil(cout, w4Panel)
	plane := np * cin * w4Panel
	u := make([]float32, n*n*plane)
	kernels.ParallelFor(np*cin, func(lo, hi int) {
		// One unit's values, point by point, written out a plane at a time
		// (planes a multiple of 4 KiB apart would evict each other from
		// the L1 cache if written in turn).
		var buf [36][w4Panel]float32
		for qi := lo; qi < hi; qi++ {
			q, i := qi/cin, qi%cin
			o0, o1 := q*w4Panel, min(cout, (q+1)*w4Panel)
			for o := o0; o < o1; o++ {
				g := w[(o*cin+i)*9 : (o*cin+i)*9+9]
				// t[c] = G·(column c of g), then row r of (G·g)·Gᵀ is G
				// applied to row r of t. (Two copies so that wG6 and wG4
				// are inlined.)
				var t [3][6]float64
				var row [6]float64
				if n == 6 {
					for c := 0; c < 3; c++ {
						wG6(float64(g[c]), float64(g[3+c]), float64(g[6+c]), &t[c])
					}
					for r := 0; r < 6; r++ {
						wG6(t[0][r], t[1][r], t[2][r], &row)
						for c, v := range row {
							buf[r*6+c][o-o0] = float32(v)
						}
					}
					continue
				}
				for c := 0; c < 3; c++ {
					wG4(float64(g[c]), float64(g[3+c]), float64(g[6+c]), &t[c])
				}
				for r := 0; r < 4; r++ {
					wG4(t[0][r], t[1][r], t[2][r], &row)
					for c, v := range row[:4] {
						buf[r*4+c][o-o0] = float32(v)
					}
				}
			}
			for x := 0; x < n*n; x++ {
				copy(u[x*plane+qi*w4Panel:x*plane+qi*w4Panel+o1-o0], buf[x][:o1-o0])
			}
		}
	})
	return u
}

func w4ceil(a, b int) int { return (a + b - 1) / b }

// parallelUnits runs fn(u) for every u in [0, n) on up to Threads()
// goroutines that take units from a shared counter, so that a core slowed
// by other work takes fewer.
func parallelUnits(n int, fn func(u int)) {
	var next atomic.Int64
	kernels.ParallelFor(min(n, kernels.Threads()), func(_, _ int) {
		for {
			u := int(next.Add(1)) - 1
			if u >= n {
				return
			}
			fn(u)
		}
	})
}

// w4Seg is the number of tiles of a row one transform unit handles.
const w4Seg = 16

// winograd4 runs the convolution (stride 1, zero padding 1) on in read
// through nearest-neighbour upsampling by up (1 or 2), adding res if
// non-nil, as F(4×4, 3×3).
func (cv *conv) winograd4(ws *workspace, in act, up int, res []float32) act {
	H, W := in.h*up, in.w*up
	cin, cout := cv.cin, cv.cout
	np := w4ceil(cout, w4Panel)
	ldm := np * w4Panel
	out := newAct(ws, H, W, cout)
	th, tw := w4ceil(H, 4), w4ceil(W, 4)
	// Bands of half of bandBudget (8 MiB of transformed input and output
	// in all; smaller bands measured slower, as each re-reads the weights
	// from L3).
	rows := max(1, min(th, bandBudget/(2*36*(cin+ldm)*tw)))
	ntMax := w4round(rows*tw, w4Rows)
	// Element (ξ, t, c) of V is at ξ·vx + t·vt + c, of M at ξ·mx + t·mt + c:
	// tile by tile, so that the transforms read and write one contiguous
	// block per tile.
	vx, vt, mx, mt := cin, 36*cin, ldm, 36*ldm
	V := ws.get(36 * ntMax * cin)
	M := ws.get(36 * ntMax * ldm)
	zeros := ws.get(cin)
	clear(zeros)
	for ty0 := 0; ty0 < th; ty0 += rows {
		ty1 := min(th, ty0+rows)
		nt := (ty1 - ty0) * tw
		ntP := w4round(nt, w4Rows)
		for x := 0; x < 36; x++ { // rows that only pad the last register tile
			for t := nt; t < ntP; t++ {
				clear(V[x*vx+t*vt : x*vx+t*vt+cin])
			}
		}
		w4Input(V, vx, vt, in, up, zeros, ty0, ty1, tw)
		w4Products(M, mx, mt, V, vx, vt, cin, cv.u4, np, ntP, 36)
		w4Output(out, M, mx, mt, cv.b, res, ty0, ty1, tw)
	}
	ws.put(zeros)
	ws.put(M)
	ws.put(V)
	return out
}

func w4round(a, b int) int { return w4ceil(a, b) * b }

// w4Input writes V_ξ = (Bᵀ d B)[ξ] for the tiles of tile rows [ty0, ty1)
// (tw tiles a row): v[ξ·vx + t·vt + c] for tile t = (ty−ty0)·tw + tx.
// Tile (ty, tx) reads rows 4ty−1 … 4ty+4 and columns 4tx−1 … 4tx+4 of the
// (upsampled) input, zeros outside it.
func w4Input(v []float32, vx, vt int, in act, up int, zeros []float32, ty0, ty1, tw int) {
	cin := in.c
	hl, wl := in.h*up, in.w*up
	segs := w4ceil(tw, w4Seg)
	// Tiles whose six columns all lie inside the input: 1 ≤ tx ≤ (wl−5)/4.
	inLo, inHi := 1, (wl-5)/4+1
	if wl < 5 {
		inHi = 0
	}
	parallelUnits((ty1-ty0)*segs, func(u int) {
		ty := ty0 + u/segs
		tx0 := (u % segs) * w4Seg
		tx1 := min(tw, tx0+w4Seg)
		var rowOff [6]int
		for i := range rowOff {
			ly := 4*ty - 1 + i
			rowOff[i] = -1
			if ly >= 0 && ly < hl {
				rowOff[i] = (ly / up) * in.w * cin
			}
		}
		tile := func(tx, n int) {
			var off [36]int
			for i := 0; i < 6; i++ {
				for j := 0; j < 6; j++ {
					lx := 4*tx - 1 + j
					off[6*i+j] = -1
					if rowOff[i] >= 0 && lx >= 0 && lx < wl {
						off[6*i+j] = rowOff[i] + (lx/up)*cin
					}
				}
			}
			t := (ty-ty0)*tw + tx
			w4in(v, t*vt, vx, vt, in.d, zeros, &off, (4/up)*cin, n, cin)
		}
		lo, hi := max(tx0, inLo), min(tx1, inHi)
		if hi <= lo {
			lo, hi = tx1, tx1
		}
		for tx := tx0; tx < lo; tx++ {
			tile(tx, 1)
		}
		if hi > lo {
			tile(lo, hi-lo)
		}
		for tx := hi; tx < tx1; tx++ {
			tile(tx, 1)
		}
	})
}

// w4Products computes M_ξ = V_ξ · U_ξ for the npts points ξ (36 for
// F(4,3), 16 for F(2,3)) and ntP tiles (a multiple of w4Rows), on U_ξ
// packed in np panels: m[ξ·mx + t·mt + o] for o < np·64 from
// v[ξ·vx + t·vt + c] for c < cin.
func w4Products(m []float32, mx, mt int, v []float32, vx, vt, cin int, u []float32, np, ntP, npts int) {
	mtAll := ntP / w4Rows
	mtB := min(mtAll, 32) // register tiles of rows per unit
	nrb := w4ceil(mtAll, mtB)
	parallelUnits(npts*nrb, func(unit int) {
		x, rb := unit/nrb, unit%nrb
		mt0 := rb * mtB
		n := min(mtB, mtAll-mt0)
		r0 := mt0 * w4Rows
		for q := 0; q < np; q++ {
			w4gemm(m[x*mx+r0*mt+q*w4Panel:], mt, v[x*vx+r0*vt:], vt, u[(x*np+q)*cin*w4Panel:], cin, n, nil)
		}
	})
}

// w4Output turns the products m[ξ·mx + t·mt + o] of the tiles of tile rows
// [ty0, ty1) into outputs Y = Aᵀ M A plus bias (plus res), writing those
// inside out.
func w4Output(out act, m []float32, mx, mt int, bias, res []float32, ty0, ty1, tw int) {
	cout := out.c
	segs := w4ceil(tw, w4Seg)
	full := out.w / 4 // tiles whose four columns are all inside
	parallelUnits((ty1-ty0)*segs, func(u int) {
		ty := ty0 + u/segs
		tx0 := (u % segs) * w4Seg
		tx1 := min(tw, tx0+w4Seg)
		var discard []float32 // for outputs past the bottom or right edge
		tile := func(tx, n int) {
			var off [16]int
			partial := false
			for a := 0; a < 4; a++ {
				for b := 0; b < 4; b++ {
					y, x := 4*ty+a, 4*tx+b
					off[4*a+b] = -1
					if y < out.h && x < out.w {
						off[4*a+b] = (y*out.w + x) * cout
					} else {
						partial = true
					}
				}
			}
			if partial && discard == nil {
				discard = make([]float32, cout)
			}
			t := (ty-ty0)*tw + tx
			w4out(out.d, res, m, t*mt, mx, mt, bias, &off, 4*cout, n, cout, discard)
		}
		hi := min(tx1, max(tx0, full))
		if hi > tx0 {
			tile(tx0, hi-tx0)
		}
		for tx := hi; tx < tx1; tx++ {
			tile(tx, 1)
		}
	})
}

// w4in runs the input transform of n consecutive tiles of one row on
// channels [0, nch): the first tile reads d[i][j] at in[off[6i+j] + c]
// (zero where off < 0) and writes V_ξ at v[vOff + ξ·vs + c]; each further
// tile reads step elements further (where off ≥ 0) and writes ld further.
func w4in(v []float32, vOff, vs, ld int, in, zeros []float32, off *[36]int, step, n, nch int) {
	c0 := 0
	if w4Asm {
		c0 = nch &^ 15
		if c0 > 0 {
			w4inAsm(v, vOff, vs, ld, in, zeros, off, step, n, c0)
		}
	}
	if c0 < nch {
		w4inGo(v, vOff, vs, ld, in, off, step, n, c0, nch)
	}
}

// w4out runs the output transform of n consecutive tiles of one row on
// channels [0, nch): the first tile reads M_ξ at m[mOff + ξ·ms + c] and
// writes output (a, b) at out[off[4a+b] + c], adding bias[c] and, when res
// is not nil, res[off[4a+b] + c]; outputs with off < 0 are dropped. Each
// further tile reads ld further and writes step further.
func w4out(out, res, m []float32, mOff, ms, ld int, bias []float32, off *[16]int, step, n, nch int, discard []float32) {
	c0 := 0
	if w4Asm {
		c0 = nch &^ 15
		if c0 > 0 {
			w4outAsm(out, res, m, mOff, ms, ld, bias, off, step, n, c0, discard)
		}
	}
	if c0 < nch {
		w4outGo(out, res, m, mOff, ms, ld, bias, off, step, n, c0, nch)
	}
}

// w4gemm sets c[r·ldc + j] = bias[j] + Σ_p a[r·lda + p]·b[p·64 + j] for
// r < 6·mt, j < 64, p < k: mt register tiles of a packed weight panel b.
// bias (64 values) may be nil, meaning zeros.
func w4gemm(c []float32, ldc int, a []float32, lda int, b []float32, k, mt int, bias []float32) {
	if w4Asm {
		w4gemmAsm(c, ldc, a, lda, b, k, mt, bias)
		return
	}
	w4gemmGo(c, ldc, a, lda, b, k, mt, bias)
}

// w4KBlock is the number of steps of k the product kernel sums in
// registers before adding them to C: C = ((bias + block₀) + block₁) + …,
// which keeps the chains of float32 additions short (a long k, as in the
// im2col products, would otherwise add error proportional to k).
const w4KBlock = 128

// w4gemmGo is the reference of the product kernel: each output summed in
// float32 in order of p in blocks of w4KBlock, as the assembly does (with
// fused multiply-adds).
func w4gemmGo(c []float32, ldc int, a []float32, lda int, b []float32, k, mt int, bias []float32) {
	for r := 0; r < w4Rows*mt; r++ {
		crow := c[r*ldc : r*ldc+w4Panel]
		for p0 := 0; p0 < k; p0 += w4KBlock {
			var acc [w4Panel]float32
			if p0 == 0 && bias != nil {
				copy(acc[:], bias[:w4Panel])
			}
			for p := p0; p < min(k, p0+w4KBlock); p++ {
				av := a[r*lda+p]
				bp := b[p*w4Panel : (p+1)*w4Panel]
				for j := range acc {
					acc[j] += av * bp[j]
				}
			}
			if p0 == 0 {
				copy(crow, acc[:])
				continue
			}
			for j := range crow {
				crow[j] += acc[j]
			}
		}
	}
}

// w4inGo is the reference input transform (w4in) on channels [c0, c1).
func w4inGo(v []float32, vOff, vs, ld int, in []float32, off *[36]int, step, n, c0, c1 int) {
	for t := 0; t < n; t++ {
		for c := c0; c < c1; c++ {
			var d [6][6]float32
			for p, o := range off {
				if o >= 0 {
					d[p/6][p%6] = in[o+t*step+c]
				}
			}
			var tr [6][6]float32 // rows transformed: tr[i] = Bᵀ d[i]
			for i := range d {
				tr[i] = bt6(d[i])
			}
			for j := 0; j < 6; j++ {
				col := bt6([6]float32{tr[0][j], tr[1][j], tr[2][j], tr[3][j], tr[4][j], tr[5][j]})
				for a, x := range col {
					v[vOff+(6*a+j)*vs+t*ld+c] = x
				}
			}
		}
	}
}

// w4outGo is the reference output transform (w4out) on channels [c0, c1).
func w4outGo(out, res, m []float32, mOff, ms, ld int, bias []float32, off *[16]int, step, n, c0, c1 int) {
	for t := 0; t < n; t++ {
		for c := c0; c < c1; c++ {
			var s [6][4]float32 // rows transformed: s[i] = Aᵀ M[i]
			for i := 0; i < 6; i++ {
				var mi [6]float32
				for j := range mi {
					mi[j] = m[mOff+(6*i+j)*ms+t*ld+c]
				}
				s[i] = at6(mi)
			}
			for b := 0; b < 4; b++ {
				y := at6([6]float32{s[0][b], s[1][b], s[2][b], s[3][b], s[4][b], s[5][b]})
				for a := 0; a < 4; a++ {
					o := off[4*a+b]
					if o < 0 {
						continue
					}
					o += t*step + c
					r := y[a] + bias[c]
					if res != nil {
						r += res[o]
					}
					out[o] = r
				}
			}
		}
	}
}

// bt6 is the 1-D input transform Bᵀ·d, with the operations of the
// assembly's BT6.
func bt6(d [6]float32) (v [6]float32) {
	t12, t13, t14 := d[1]-d[3], d[4]-d[2], d[2]-d[4]
	v[0] = (d[0] + d[4]) - 2*d[2] + 1.5*t12
	v[1] = (d[4] - d[1]) - 2.5*d[2] - 0.5*d[3]
	v[2] = (d[4] + d[1]) + 0.5*d[2] - 2.5*d[3]
	v[3] = t13 - 0.5*t12
	v[4] = t13 + 2*t12
	v[5] = (d[1] + d[5]) - 2*d[3] + 1.5*t14
	return v
}

// at6 is the 1-D output transform Aᵀ·m, with the operations of the
// assembly's AT6.
func at6(m [6]float32) (y [4]float32) {
	a, b := m[1]+m[2], m[1]-m[2]
	y[0] = ((m[0] + a) + m[3]) + m[4]
	y[1] = (b + 2*m[3]) - 0.5*m[4]
	y[2] = (a + 4*m[3]) + 0.25*m[4]
	y[3] = ((b + m[5]) + 8*m[3]) - 0.125*m[4]
	return y
}
