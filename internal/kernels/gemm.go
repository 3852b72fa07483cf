package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
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

// HasAVX512 reports whether the CPU and the OS support the AVX-512 paths
// (AVX512F and AVX512VL with opmask and ZMM state saved), for packages
// with assembly of their own; false under the purego tag and off amd64.
func HasAVX512() bool { return bestISA == isaAVX512 }

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
	// gemvUnitBytes is the size of B one unit of a matrix-vector product
	// covers (at least one tile of rows).
	gemvUnitBytes = 64 << 10
	// tiledUnitBytes is gemvUnitBytes for a tiled B read in place.
	tiledUnitBytes = 256 << 10
)

// streamRows is the largest m whose products stream B in one pass, tile by
// tile with prefetching, like a matrix-vector product: B is read from
// memory once for all the rows of A (DecodeBatch).
const streamRows = 8

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
	bt   *F16Matrix // B in tiles (kind bF16), instead of bh
	kind bKind
	isa  isaKind

	m, n, k    int
	gemv, pack bool
	stream     bool // m ≤ streamRows: one pass over B (gemvUnit)
	direct     bool // bt read in place by the AVX-512 tile kernels (tilesIn)
	mr, nr     int
	kc, nc, mu int
	nI, units  int

	next atomic.Int64
	wg   sync.WaitGroup
}

var jobPool = sync.Pool{New: func() any { return new(gemmJob) }}

// scratch is one participant's working memory, pooled.
type scratch struct {
	panel   []float32   // a 16-bit B block converted to float32, nc×kc
	panel16 []uint16    // a block of a tiled B in row-major order, nc×kc
	tmp     [32]float32 // one edge tile
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// matmul is the common driver of the MatMulNT family; exactly one of bf,
// bh and bt is used, according to kind (bt, when not nil, for bF16).
// Shapes have been checked.
func matmul(c, a, bf []float32, bh []uint16, bt *F16Matrix, kind bKind, m, n, k int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c[:m*n])
		return
	}
	g := jobPool.Get().(*gemmJob)
	g.c, g.a, g.bf, g.bh, g.bt, g.kind = c, a, bf, bh, bt, kind
	g.m, g.n, g.k = m, n, k
	g.isa = activeISA
	t := Threads()
	g.plan(t)
	g.next.Store(0)
	runShared(g, min(t, g.units), &g.wg)
	g.c, g.a, g.bf, g.bh, g.bt = nil, nil, nil, nil, nil
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
	// A tiled B is read in place by the AVX-512 tile kernels (bands of up
	// to 4 rows of A over runs of tiles, all of k at a time); on the other
	// paths each block of it is copied to row-major order (a float32 panel
	// on the pure-Go path, else a binary16 one) for the kernels above. The
	// arithmetic is the same.
	g.direct = g.bt != nil && g.isa == isaAVX512
	if g.direct {
		g.mr, g.nr = 4, F16Rows
	}
	g.nI, g.mu = 1, m
	// The k blocking depends on k alone, so that the summation order of an
	// output does not depend on m, n or the thread count.
	g.kc = k
	if k > kcMax {
		nb := ceilDiv(k, kcMax)
		g.kc = roundUp(ceilDiv(k, nb), 16)
	}
	g.stream = m <= streamRows
	if g.stream {
		// One pass over B, streamed from memory (decoding one state, or a
		// few together): units of contiguous rows of about gemvUnitBytes,
		// small enough that the participants finish within microseconds
		// of each other (a decode step runs about a hundred of these
		// products).
		elt := 4
		if g.kind != bF32 {
			elt = 2
		}
		// (Units of whole tiles for the tile kernels: g.nr is F16Rows.)
		g.nc = roundUp(max(g.nr, min(256, n/(4*t), gemvUnitBytes/(elt*k))), g.nr)
		if g.direct {
			// The tile kernels do not prefetch across units, so each
			// unit restarts the hardware prefetcher's stream: longer
			// units, still at least 4 per participant.
			g.nc = roundUp(max(g.nr, min(ceilDiv(n, 4*t), tiledUnitBytes/(elt*k))), g.nr)
		}
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
	if g.direct {
		g.nc = max(g.nr, blockBytes/(2*k)/g.nr*g.nr) // all of k in a block
	}
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

// run is one participant's loop: take units until none is left. A
// matrix-vector product claims its next unit before it starts the current
// one, so that the kernel can prefetch the next unit's rows while it
// finishes the current unit.
func (g *gemmJob) run(id int) {
	s := scratchPool.Get().(*scratch)
	if g.pack {
		if need := g.nc * g.kc; cap(s.panel) < need {
			s.panel = make([]float32, need)
		}
	}
	if g.streams() {
		u := int(g.next.Add(1)) - 1
		for u < g.units {
			nu := int(g.next.Add(1)) - 1
			var next uintptr
			if nu < g.units {
				next = g.unitAddr(nu)
			}
			g.gemvUnit(u, next, s)
			u = nu
		}
	} else {
		for {
			u := int(g.next.Add(1)) - 1
			if u >= g.units {
				break
			}
			g.unit(u, s)
		}
	}
	scratchPool.Put(s)
}

// streams reports whether the product streams B through the prefetching
// kernels or the tile kernels (gemvUnit).
func (g *gemmJob) streams() bool { return g.stream && !g.pack && (g.bt == nil || g.direct) }

// rowAddr returns the address of row j of B, as an integer: prefetch
// addresses are hints that may run past the end of B, so they are never
// held as Go pointers.
func (g *gemmJob) rowAddr(j int) uintptr {
	if g.kind == bF32 {
		return uintptr(unsafe.Pointer(&g.bf[j*g.k]))
	}
	return uintptr(unsafe.Pointer(&g.bh[j*g.k]))
}

// unitAddr returns the address of the first row of B that unit u reads,
// or 0 for a tiled B (read in order: the hardware prefetcher follows it).
func (g *gemmJob) unitAddr(u int) uintptr {
	if g.bt != nil {
		return 0
	}
	return g.rowAddr(u * g.nc)
}

// gemvUnit computes unit u of a streaming product tile by tile (every row
// band and k block of a tile of B's rows before the next: the same sums as
// unit), so that B is read in one pass and the kernels can prefetch the
// next tile's rows, or those at next (the participant's next unit, or 0)
// after the last tile.
func (g *gemmJob) gemvUnit(u int, next uintptr, s *scratch) {
	if g.bt != nil {
		g.gemvTiles(u, s)
		return
	}
	j0, j1 := u*g.nc, min(g.n, (u+1)*g.nc)
	elt := elemSize(g.kind)
	// Prefetch at least pfAhead bytes ahead: d tiles (short rows, such as
	// the keys of an attention head, make small tiles).
	tileBytes := g.nr * g.k * elt
	d := max(1, ceilDiv(pfAhead, tileBytes))
	j := j0
	if nt := (j1-j0)/g.nr - 1; g.kc == g.k && g.m%g.mr == 0 && nt > 0 {
		// One k block and whole bands of A: all but the last tile of each
		// band in one call (the kernel prefetches ahead as it goes; the
		// last tile prefetches the participant's next unit, below).
		done := true
		for i := 0; i < g.m && done; i += g.mr {
			done = g.tilesAhead(i, j0, nt, min(j0+d*g.nr, g.n-1))
		}
		if done {
			j += nt * g.nr
		}
	}
	for ; j < j1; j += g.nr {
		nr := min(g.nr, j1-j)
		var pf uintptr
		switch {
		case j+d*g.nr < j1:
			pf = g.rowAddr(j + d*g.nr)
		case next != 0:
			pf = next + uintptr((j+d*g.nr-j1)*g.k*elt)
		default:
			pf = g.rowAddr(j) // nothing next: re-touch the tile itself
		}
		for i := 0; i < g.m; i += g.mr {
			mr := min(g.mr, g.m-i)
			for k0 := 0; k0 < g.k; k0 += g.kc {
				kl := min(g.kc, g.k-k0)
				g.tile(s, i, mr, j, nr, j0, k0, kl, pf+uintptr(k0*g.nr*elt))
			}
		}
	}
}

// pfAhead is how far ahead, in bytes of B, the streaming kernels prefetch:
// enough to cover the memory latency at the rate one core streams.
const pfAhead = 16 << 10

// tilesAhead is tiles over all of k for the nt tiles from j0 on, with the
// prefetches starting at row pfRow.
func (g *gemmJob) tilesAhead(i, j0, nt, pfRow int) bool {
	k := g.k
	pf := g.rowAddr(pfRow)
	if g.kind == bF32 {
		return runTileLoop(g.isa, g.kind, g.mr, &g.a[i*k], k, &g.bf[j0*k], nil, k, k, &g.c[i*g.n+j0], g.n, false, nt, pf)
	}
	return runTileLoop(g.isa, g.kind, g.mr, &g.a[i*k], k, nil, &g.bh[j0*k], k, k, &g.c[i*g.n+j0], g.n, false, nt, pf)
}

// unit computes C[i0:i1, j0:j1] for unit u, block of k after block of k.
func (g *gemmJob) unit(u int, s *scratch) {
	jb, ib := u/g.nI, u%g.nI
	j0, j1 := jb*g.nc, min(g.n, (jb+1)*g.nc)
	i0, i1 := ib*g.mu, min(g.m, (ib+1)*g.mu)
	if g.direct {
		g.tilesIn(s, i0, i1, j0, j1)
		return
	}
	k := g.k
	for k0 := 0; k0 < k; k0 += g.kc {
		kl := min(g.kc, k-k0)
		if g.bt != nil {
			g.packTiles(s, j0, j1, k0, kl)
		} else if g.pack {
			for j := j0; j < j1; j++ {
				o := (j - j0) * kl
				convertRow(g.kind, s.panel[o:o+kl], g.bh[j*k+k0:j*k+k0+kl])
			}
		}
		for i := i0; i < i1; i += g.mr {
			mr := min(g.mr, i1-i)
			j := j0
			if nt := (j1 - j0) / g.nr; mr == g.mr && nt > 0 && !g.pack && g.tiles(s, i, j0, k0, kl, nt) {
				j += nt * g.nr
			}
			for ; j < j1; j += g.nr {
				g.tile(s, i, mr, j, min(g.nr, j1-j), j0, k0, kl, 0)
			}
		}
	}
}

// tiles computes the nt whole tiles of C from (i, j0) on over k0 ≤ p <
// k0+kl with one call of the multi-tile kernel (the same arithmetic as nt
// calls of tile), reporting false when the instruction set has none.
func (g *gemmJob) tiles(s *scratch, i, j0, k0, kl, nt int) bool {
	k := g.k
	if g.bt != nil {
		// The block's rows in s.panel16, kl apart (already in cache).
		return runTileLoop(g.isa, bF16, g.mr, &g.a[i*k+k0], k, nil, &s.panel16[0], kl, kl, &g.c[i*g.n+j0], g.n, k0 > 0, nt, uintptr(unsafe.Pointer(&s.panel16[0])))
	}
	next := j0 + g.nr
	if next >= g.n {
		next = j0
	}
	pf := g.rowAddr(next) + uintptr(k0*elemSize(g.kind))
	if g.kind == bF32 {
		return runTileLoop(g.isa, g.kind, g.mr, &g.a[i*k+k0], k, &g.bf[j0*k+k0], nil, k, kl, &g.c[i*g.n+j0], g.n, k0 > 0, nt, pf)
	}
	return runTileLoop(g.isa, g.kind, g.mr, &g.a[i*k+k0], k, nil, &g.bh[j0*k+k0], k, kl, &g.c[i*g.n+j0], g.n, k0 > 0, nt, pf)
}

// elemSize is the size in bytes of an element of B.
func elemSize(kind bKind) int {
	if kind == bF32 {
		return 4
	}
	return 2
}

// tile computes the mr×nr tile of C at (i, j) over k0 ≤ p < k0+kl,
// adding to C when k0 > 0. Edge tiles (mr or nr below the register tile)
// are computed into s.tmp and copied. The kernel prefetches from pf (0:
// the tile's own rows, already on their way).
func (g *gemmJob) tile(s *scratch, i, mr, j, nr, j0, k0, kl int, pf uintptr) {
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
	case g.bt != nil:
		for q := 0; q < g.nr; q++ {
			r.bh[q] = &s.panel16[(j-j0+min(q, nr-1))*kl]
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
	if pf == 0 {
		if kind == bF32 {
			pf = uintptr(unsafe.Pointer(r.bf[0]))
		} else {
			pf = uintptr(unsafe.Pointer(r.bh[0]))
		}
	}
	acc := k0 > 0
	if mr == g.mr && nr == g.nr {
		runTile(g.isa, kind, g.mr, g.nr, &r, kl, &g.c[i*g.n+j], g.n, acc, pf)
		return
	}
	runTile(g.isa, kind, g.mr, g.nr, &r, kl, &s.tmp[0], g.nr, false, pf)
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

// maxBatch is the most products MatMulNTBatch takes.
const maxBatch = 4

// Product is one product c[m×n] = a[m×k]·bᵀ of MatMulNTBatch, with the
// operands of MatMulNT: exactly one of B32 (float32), F16 (binary16 bits)
// and BF16 (bfloat16 bits) holds B.
type Product struct {
	C, A      []float32
	B32       []float32
	F16, BF16 []uint16
	F16M      *F16Matrix // binary16 in tiles (N and K must be its shape)
	M, N, K   int
}

// batchJob runs several gemmJobs in one parallel section: their units are
// numbered one after the other and taken from one counter.
type batchJob struct {
	jobs  [maxBatch]gemmJob
	n     int
	start [maxBatch + 1]int // jobs[j] owns units start[j] … start[j+1]−1
	pack  int               // largest float32 panel a participant needs
	next  atomic.Int64
	wg    sync.WaitGroup
}

var batchPool = sync.Pool{New: func() any { return new(batchJob) }}

// MatMulNTBatch computes up to four products (the query, key and value
// projections of one input, say) in one parallel section: every
// participant takes units of work from all of them, so the threads are
// woken and joined once rather than once per product. Each product's
// result is identical to that of MatMulNT, MatMulNTF16 or MatMulNTBF16.
// The products must not write to each other's operands.
//
// It panics, naming the shapes, if a product's slices are shorter than its
// shape requires, or if more than four products are given.
func MatMulNTBatch(ps ...Product) {
	if len(ps) > maxBatch {
		panic(fmt.Sprintf("kernels.MatMulNTBatch: %d products (at most %d)", len(ps), maxBatch))
	}
	b := batchPool.Get().(*batchJob)
	b.n, b.pack = 0, 0
	t := Threads()
	for i := range ps {
		pr := &ps[i]
		g := &b.jobs[b.n]
		g.bt = nil
		switch {
		case pr.F16M != nil:
			if pr.N != pr.F16M.rows || pr.K != pr.F16M.cols {
				panic(fmt.Sprintf("kernels.MatMulNTBatch: N=%d K=%d for a %d×%d F16Matrix", pr.N, pr.K, pr.F16M.rows, pr.F16M.cols))
			}
			checkShapes("MatMulNTBatch", len(pr.C), len(pr.A), pr.N*pr.K, pr.M, pr.N, pr.K)
			g.bf, g.bh, g.bt, g.kind = nil, nil, pr.F16M, bF16
		case pr.B32 != nil:
			checkShapes("MatMulNTBatch", len(pr.C), len(pr.A), len(pr.B32), pr.M, pr.N, pr.K)
			g.bf, g.bh, g.kind = pr.B32, nil, bF32
		case pr.F16 != nil:
			checkShapes("MatMulNTBatch", len(pr.C), len(pr.A), len(pr.F16), pr.M, pr.N, pr.K)
			g.bf, g.bh, g.kind = nil, pr.F16, bF16
		default:
			checkShapes("MatMulNTBatch", len(pr.C), len(pr.A), len(pr.BF16), pr.M, pr.N, pr.K)
			g.bf, g.bh, g.kind = nil, pr.BF16, bBF16
		}
		if pr.M == 0 || pr.N == 0 {
			continue
		}
		if pr.K == 0 {
			clear(pr.C[:pr.M*pr.N])
			continue
		}
		g.c, g.a = pr.C, pr.A
		g.m, g.n, g.k = pr.M, pr.N, pr.K
		g.isa = activeISA
		g.plan(t)
		if g.pack {
			b.pack = max(b.pack, g.nc*g.kc)
		}
		b.start[b.n+1] = b.start[b.n] + g.units
		b.n++
	}
	if b.n > 0 {
		b.next.Store(0)
		runShared(b, min(t, b.start[b.n]), &b.wg)
	}
	for j := range b.jobs {
		g := &b.jobs[j]
		g.c, g.a, g.bf, g.bh, g.bt = nil, nil, nil, nil, nil
	}
	batchPool.Put(b)
	runtime.KeepAlive(ps) // an F16Matrix's memory may be unmapped once it is unreachable
}

// run is one participant's loop over the units of all the products.
func (b *batchJob) run(id int) {
	s := scratchPool.Get().(*scratch)
	if b.pack > 0 && cap(s.panel) < b.pack {
		s.panel = make([]float32, b.pack)
	}
	total := b.start[b.n]
	j := 0
	u := int(b.next.Add(1)) - 1
	for u < total {
		// Claim the next unit first (see gemmJob.run).
		nu := int(b.next.Add(1)) - 1
		for u >= b.start[j+1] {
			j++
		}
		g := &b.jobs[j]
		if g.streams() {
			var next uintptr
			if nu < total {
				nj := j
				for nu >= b.start[nj+1] {
					nj++
				}
				next = b.jobs[nj].unitAddr(nu - b.start[nj])
			}
			g.gemvUnit(u-b.start[j], next, s)
		} else {
			g.unit(u-b.start[j], s)
		}
		u = nu
	}
	scratchPool.Put(s)
}
