package kernels

import (
	"sync"
	"sync/atomic"
)

// isaKind names an instruction-set path of the kernels.
type isaKind uint8

const (
	isaGeneric isaKind = iota // pure Go
	isaAVX2                   // AVX2 + FMA + F16C, 256-bit
	isaAVX512                 // AVX-512 F + VL, 512-bit
)

func (i isaKind) String() string {
	switch i {
	case isaAVX2:
		return "avx2"
	case isaAVX512:
		return "avx512"
	}
	return "generic"
}

var (
	// bestISA is what the CPU supports (detected once); activeISA is what
	// the kernels use, ≤ bestISA (tests lower it to cover every path).
	bestISA   = detectISA()
	activeISA = bestISA
)

// bKind is the element type of the B operand.
type bKind uint8

const (
	bF32  bKind = iota // float32
	bF16               // IEEE binary16
	bBF16              // bfloat16
)

// Blocking parameters (see plan); variables only so that tests can
// shrink them to exercise every code path on small shapes.
var (
	// kcMax bounds the k extent of one pass over a tile: longer k is split
	// into near-equal blocks (a multiple of 16 except the last) whose
	// results are accumulated into C, keeping a tile's rows of A and B in
	// L1/L2. 1280 keeps k = 1152 (3×3 convolutions of 128 channels) whole.
	kcMax = 1280
	// blockBytes is the size of the block of B rows one unit of work keeps
	// in L2 (half of the 1 MiB L2) while every row tile of A passes over it.
	blockBytes = 256 << 10
)

// tileRows holds the row pointers of one register tile: a[i] points at
// A[i0+i][k0] and bf[j] or bh[j] at B[j0+j][k0]. Rows past the edge of the
// matrix repeat the last valid row (their results are discarded).
type tileRows struct {
	a  [4]*float32
	bf [8]*float32
	bh [8]*uint16
}

// tileShape is the register tile (rows of A × rows of B) of an
// instruction set; gemv selects the one-row tile used when m == 1.
func tileShape(isa isaKind, gemv bool) (mr, nr int) {
	switch {
	case gemv && isa == isaGeneric:
		return 1, 4
	case gemv:
		return 1, 8
	case isa == isaAVX512:
		return 4, 6
	case isa == isaAVX2:
		return 3, 4
	}
	return 2, 4
}

// gemmJob is one matrix product: operands, blocking, and the counter from
// which participants take units of work. A unit is a block of nc rows of B
// (columns of C) times a band of mu rows of A, over all of k. Jobs are
// pooled so that a call allocates nothing.
type gemmJob struct {
	c, a []float32
	bf   []float32
	bh   []uint16
	kind bKind
	isa  isaKind

	m, n, k    int
	gemv, pack bool
	mr, nr     int
	kc, nc, mu int
	nI, units  int

	next atomic.Int64
	wg   sync.WaitGroup
}

var jobPool = sync.Pool{New: func() any { return new(gemmJob) }}

// scratch is one participant's working memory, pooled.
type scratch struct {
	panel []float32   // a 16-bit B block converted to float32, nc×kc
	tmp   [32]float32 // one edge tile
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// matmul is the common driver of the MatMulNT family; exactly one of bf,
// bh is used, according to kind. Shapes have been checked.
func matmul(c, a, bf []float32, bh []uint16, kind bKind, m, n, k int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c[:m*n])
		return
	}
	g := jobPool.Get().(*gemmJob)
	g.c, g.a, g.bf, g.bh, g.kind = c, a, bf, bh, kind
	g.m, g.n, g.k = m, n, k
	g.isa = activeISA
	t := Threads()
	g.plan(t)
	g.next.Store(0)
	runShared(g, min(t, g.units), &g.wg)
	g.c, g.a, g.bf, g.bh = nil, nil, nil, nil
	jobPool.Put(g)
}

// plan chooses the tile, the blocking and the units of work for t threads.
func (g *gemmJob) plan(t int) {
	m, n, k := g.m, g.n, g.k
	g.gemv = m == 1
	g.mr, g.nr = tileShape(g.isa, g.gemv)
	// The SIMD kernels convert 16-bit B in registers (VCVTPH2PS, or a
	// shift for bfloat16): on Zen 4 this is hidden under the FMAs and
	// halves the L2 traffic of B, and it measured faster than converting
	// each block once into a float32 panel at every m tried (4 to 256).
	// Only the pure-Go path converts blocks first.
	g.pack = g.kind != bF32 && g.isa == isaGeneric
	g.nI, g.mu = 1, m
	// The k blocking depends on k alone, so that the summation order of an
	// output does not depend on m, n or the thread count.
	g.kc = k
	if k > kcMax {
		nb := ceilDiv(k, kcMax)
		g.kc = roundUp(ceilDiv(k, nb), 16)
	}
	if g.gemv {
		// One pass over B, streamed from memory: units of rows, enough of
		// them for the participants to balance.
		g.nc = roundUp(max(g.nr, min(256, n/(4*t))), g.nr)
		if g.pack {
			g.nc = roundUp(max(g.nr, min(g.nc, blockBytes/(4*g.kc))), g.nr)
		}
		g.units = ceilDiv(n, g.nc)
		return
	}
	elt := 4
	if g.kind != bF32 && !g.pack {
		elt = 2
	}
	g.nc = max(g.nr, blockBytes/(elt*g.kc)/g.nr*g.nr)
	// Enough units for dynamic balance across t participants: shrink the
	// B blocks, then split m.
	if want := 3 * t; ceilDiv(n, g.nc) < want {
		g.nc = max(g.nr, roundUp(ceilDiv(n, want), g.nr))
	}
	nJ := ceilDiv(n, g.nc)
	if nJ < 2*t && m > g.mr {
		nI := ceilDiv(2*t, nJ)
		g.mu = roundUp(ceilDiv(m, nI), g.mr)
		g.nI = ceilDiv(m, g.mu)
	}
	g.units = nJ * g.nI
}

// run is one participant's loop: take units until none is left.
func (g *gemmJob) run(id int) {
	s := scratchPool.Get().(*scratch)
	if g.pack {
		if need := g.nc * g.kc; cap(s.panel) < need {
			s.panel = make([]float32, need)
		}
	}
	for {
		u := int(g.next.Add(1)) - 1
		if u >= g.units {
			break
		}
		g.unit(u, s)
	}
	scratchPool.Put(s)
}

// unit computes C[i0:i1, j0:j1] for unit u, block of k after block of k.
func (g *gemmJob) unit(u int, s *scratch) {
	jb, ib := u/g.nI, u%g.nI
	j0, j1 := jb*g.nc, min(g.n, (jb+1)*g.nc)
	i0, i1 := ib*g.mu, min(g.m, (ib+1)*g.mu)
	k := g.k
	for k0 := 0; k0 < k; k0 += g.kc {
		kl := min(g.kc, k-k0)
		if g.pack {
			for j := j0; j < j1; j++ {
				o := (j - j0) * kl
				convertRow(g.kind, s.panel[o:o+kl], g.bh[j*k+k0:j*k+k0+kl])
			}
		}
		for i := i0; i < i1; i += g.mr {
			mr := min(g.mr, i1-i)
			for j := j0; j < j1; j += g.nr {
				g.tile(s, i, mr, j, min(g.nr, j1-j), j0, k0, kl)
			}
		}
	}
}

// tile computes the mr×nr tile of C at (i, j) over k0 ≤ p < k0+kl,
// adding to C when k0 > 0. Edge tiles (mr or nr below the register tile)
// are computed into s.tmp and copied.
func (g *gemmJob) tile(s *scratch, i, mr, j, nr, j0, k0, kl int) {
	var r tileRows
	k := g.k
	for q := 0; q < g.mr; q++ {
		r.a[q] = &g.a[(i+min(q, mr-1))*k+k0]
	}
	kind := g.kind
	switch {
	case g.pack:
		kind = bF32
		for q := 0; q < g.nr; q++ {
			r.bf[q] = &s.panel[(j-j0+min(q, nr-1))*kl]
		}
	case kind == bF32:
		for q := 0; q < g.nr; q++ {
			r.bf[q] = &g.bf[(j+min(q, nr-1))*k+k0]
		}
	default:
		for q := 0; q < g.nr; q++ {
			r.bh[q] = &g.bh[(j+min(q, nr-1))*k+k0]
		}
	}
	acc := k0 > 0
	if mr == g.mr && nr == g.nr {
		runTile(g.isa, kind, g.mr, g.nr, &r, kl, &g.c[i*g.n+j], g.n, acc)
		return
	}
	runTile(g.isa, kind, g.mr, g.nr, &r, kl, &s.tmp[0], g.nr, false)
	for q := 0; q < mr; q++ {
		row := g.c[(i+q)*g.n+j : (i+q)*g.n+j+nr]
		t := s.tmp[q*g.nr : q*g.nr+nr]
		if acc {
			for x := range row {
				row[x] += t[x]
			}
		} else {
			copy(row, t)
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }
