package kernels

import (
	"fmt"
	"runtime"
	"unsafe"
)

// F16Rows is the number of rows of an F16Matrix tile.
const F16Rows = 4

// f16Chunk is the number of consecutive values of a row stored together in
// a tile (64 bytes: one cache line).
const f16Chunk = 32

// F16Matrix is a read-only [rows, cols] matrix of IEEE binary16 values
// (a linear layer's fp16 weight [out, in]) in a tiled layout made for the
// matrix-vector product of decoding, which streams the whole matrix once
// per token: the AVX-512 kernels read it strictly sequentially.
//
// # Layout
//
// Rows are stored in tiles of F16Rows = 4 (the last tile padded with zero
// rows), and a row in chunks of 32 values (the last one padded with
// zeros). A tile stores chunk after chunk: chunk c is values 32c…32c+31 of
// row 0 (64 bytes: one cache line), then of row 1, row 2 and row 3, 256
// bytes in all. A tile is 256·⌈cols/32⌉ bytes. Where row-major storage
// makes a product walk several rows at once (streams some kilobytes apart,
// each needing its own hardware prefetch stream and TLB entries), a tile
// is one stream. Four rows let one pass of the kernels over a tile serve
// up to four rows of A (16 accumulators).
//
// # Speed
//
// On the project's Zen 4 machine, one thread, with the weights of one
// decode step of the 300M model (24 layers, 622 MB, from DRAM; both
// layouts in huge pages; BenchmarkF16MatrixStream, medians of alternating
// passes, the machine shared with a training job on both cores): m = 1
// (decoding) 23.9 → 31.2 GB/s of weights (×1.30); m = 2 ×1.05–1.09; m = 3
// ×1.13; m = 4 ×0.96–0.99; m = 5 ×1.33; m = 8 ×0.97–0.99 (from m = 4 on
// both are bound by the FMAs). Prefill-sized products (m = 64 and 256,
// BenchmarkF16MatrixPrefill) run at the speed of MatMulNTF16 (×1.00–1.04).
type F16Matrix struct {
	rows, cols int
	nc         int      // chunks per row
	tileLen    int      // uint16 values per tile: 128·nc
	data       []uint16 // ⌈rows/4⌉ tiles
	mem        *q8Mem   // owner of data's memory, kept alive with the matrix
}

// NewF16Matrix returns a zero [rows, cols] matrix, to be filled with
// SetRow or SetRows. It panics if a dimension is negative.
func NewF16Matrix(rows, cols int) *F16Matrix { return NewF16Matrices([2]int{rows, cols})[0] }

// NewF16Matrices returns zero matrices of the given [rows, cols] shapes
// sharing one allocation, in huge pages where the system offers them (as
// NewQ8Matrices). The memory is released when no matrix of the set is
// reachable. It panics if a dimension is negative.
func NewF16Matrices(shapes ...[2]int) []*F16Matrix {
	ws := make([]*F16Matrix, len(shapes))
	total := 0
	for i, s := range shapes {
		rows, cols := s[0], s[1]
		if rows < 0 || cols < 0 {
			panic(fmt.Sprintf("kernels.NewF16Matrix: negative shape %d×%d", rows, cols))
		}
		nc := ceilDiv(cols, f16Chunk)
		ws[i] = &F16Matrix{rows: rows, cols: cols, nc: nc, tileLen: F16Rows * f16Chunk * nc}
		total += 2 * ceilDiv(rows, F16Rows) * ws[i].tileLen
	}
	data, mem := q8Alloc(total)
	for _, w := range ws {
		n := ceilDiv(w.rows, F16Rows) * w.tileLen // bytes a multiple of 256: every matrix stays aligned
		if n == 0 {
			w.mem = mem
			continue
		}
		w.data = unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(data))), n)
		w.mem, data = mem, data[2*n:]
	}
	return ws
}

// TileF16InPlace reorders the row-major binary16 matrix b [rows, cols]
// into the tiled layout in place and returns the F16Matrix over b's memory
// (which it keeps alive), or nil when the layout would need padding (rows
// not a multiple of 4 or cols not of 32). b must not be read as row-major
// afterwards. The work is split over Threads() goroutines. It panics if b
// is shorter than rows·cols or a dimension is negative.
func TileF16InPlace(b []uint16, rows, cols int) *F16Matrix {
	if rows < 0 || cols < 0 || len(b) < rows*cols {
		panic(fmt.Sprintf("kernels.TileF16InPlace: %d values for %d×%d", len(b), rows, cols))
	}
	if rows%F16Rows != 0 || cols%f16Chunk != 0 {
		return nil
	}
	nc := cols / f16Chunk
	w := &F16Matrix{rows: rows, cols: cols, nc: nc, tileLen: F16Rows * f16Chunk * nc, data: b[: rows*cols : rows*cols], mem: &q8Mem{}}
	// A tile holds exactly its four rows: reorder tile by tile through a
	// copy of the rows.
	tiles := rows / F16Rows
	work := func(lo, hi int) {
		tmp := make([]uint16, w.tileLen)
		for t := lo; t < hi; t++ {
			tile := w.data[t*w.tileLen : (t+1)*w.tileLen]
			copy(tmp, tile)
			for r := 0; r < F16Rows; r++ {
				for c := 0; c < nc; c++ {
					copy32(tile[c*F16Rows*f16Chunk+r*f16Chunk:], tmp[r*cols+c*f16Chunk:])
				}
			}
		}
	}
	if rows*cols < 1<<20 {
		work(0, tiles)
	} else {
		ParallelFor(tiles, work)
	}
	return w
}

// Rows returns the number of rows (the output features of a linear layer).
func (w *F16Matrix) Rows() int { return w.rows }

// Cols returns the number of columns (the input features).
func (w *F16Matrix) Cols() int { return w.cols }

// Bytes returns the size of the matrix's storage in bytes.
func (w *F16Matrix) Bytes() int { return 2 * len(w.data) }

// pos returns the index in data of value 0 of row r: value p of the row is
// at pos + (p/32)·128 + p%32.
func (w *F16Matrix) pos(r int) int {
	return r/F16Rows*w.tileLen + r%F16Rows*f16Chunk
}

// SetRow sets row r to src[:Cols()] (binary16 bits). It panics if r is out
// of range or src is shorter than a row.
func (w *F16Matrix) SetRow(r int, src []uint16) {
	if r < 0 || r >= w.rows || len(src) < w.cols {
		panic(fmt.Sprintf("kernels.F16Matrix.SetRow: row %d of %d, %d values for %d columns", r, w.rows, len(src), w.cols))
	}
	o := w.pos(r)
	for p := 0; p < w.cols; p += f16Chunk {
		copy(w.data[o:o+f16Chunk], src[p:min(p+f16Chunk, w.cols)])
		o += F16Rows * f16Chunk
	}
	runtime.KeepAlive(w)
}

// SetRows sets rows r0…r0+n−1 from the row-major src, n = len(src)/Cols()
// (binary16 bits), splitting the work over Threads() goroutines when it is
// large. It panics if the rows are out of range.
func (w *F16Matrix) SetRows(r0 int, src []uint16) {
	if w.cols == 0 {
		return
	}
	n := len(src) / w.cols
	if r0 < 0 || r0+n > w.rows {
		panic(fmt.Sprintf("kernels.F16Matrix.SetRows: rows %d…%d of %d", r0, r0+n-1, w.rows))
	}
	set := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			w.SetRow(r0+r, src[r*w.cols:(r+1)*w.cols])
		}
	}
	if n*w.cols < 1<<20 {
		set(0, n)
		return
	}
	ParallelFor(n, set)
}

// Row copies row r into dst[:Cols()] (binary16 bits). It panics if r is
// out of range or dst is shorter than a row.
func (w *F16Matrix) Row(dst []uint16, r int) {
	if r < 0 || r >= w.rows || len(dst) < w.cols {
		panic(fmt.Sprintf("kernels.F16Matrix.Row: row %d of %d, %d values for %d columns", r, w.rows, len(dst), w.cols))
	}
	w.rowRange(dst, r, 0, w.cols)
	runtime.KeepAlive(w)
}

// RowFloat32 sets dst[:Cols()] to row r converted to float32 (exact). It
// panics if r is out of range or dst is shorter than a row.
func (w *F16Matrix) RowFloat32(dst []float32, r int) {
	if r < 0 || r >= w.rows || len(dst) < w.cols {
		panic(fmt.Sprintf("kernels.F16Matrix.RowFloat32: row %d of %d, %d values for %d columns", r, w.rows, len(dst), w.cols))
	}
	o := w.pos(r)
	for p := 0; p < w.cols; p += f16Chunk {
		e := min(w.cols, p+f16Chunk)
		convertRow(bF16, dst[p:e], w.data[o:o+e-p])
		o += F16Rows * f16Chunk
	}
	runtime.KeepAlive(w)
}

// rowRange copies values p0…p1−1 of row r into dst[:p1−p0].
func (w *F16Matrix) rowRange(dst []uint16, r, p0, p1 int) {
	const step = F16Rows * f16Chunk
	o := w.pos(r)
	p := p0
	if q := p % f16Chunk; q != 0 {
		e := min(p1, p-q+f16Chunk)
		i := o + p/f16Chunk*step + q
		copy(dst[:e-p], w.data[i:i+e-p])
		p = e
	}
	// Whole chunks: p is a multiple of 32 here.
	i := o + p/f16Chunk*step
	for ; p+f16Chunk <= p1; p += f16Chunk {
		copy32(dst[p-p0:], w.data[i:])
		i += step
	}
	if p < p1 {
		copy(dst[p-p0:p1-p0], w.data[i:i+p1-p])
	}
}

// MatMulNTF16Matrix sets c[m×n] = a[m×k] · bᵀ for the tiled binary16
// matrix b [n, k]: MatMulNTF16 with b in the F16Matrix layout, and the same
// results bit for bit (the same products and sums in the same order, on
// every instruction-set path).
//
// With AVX-512 the kernels read b's tiles in place, in order, for up to
// four rows of A at a time (bands of A over blocks of b that stay in L2
// when m is large); on the other paths each block of b is first copied to
// row-major order for the kernels of MatMulNTF16.
//
// c must not overlap a; c[:m*n] is overwritten. The work is split over
// Threads() goroutines and allocates nothing in the steady state. It
// panics, naming the shapes, if a slice is shorter than its shape requires
// or m is negative.
func MatMulNTF16Matrix(c, a []float32, b *F16Matrix, m int) {
	n, k := b.rows, b.cols
	checkShapes("MatMulNTF16Matrix", len(c), len(a), n*k, m, n, k)
	matmul(c, a, nil, nil, b, bF16, m, n, k)
	runtime.KeepAlive(b) // its memory may be unmapped once b is unreachable
}

// RefMatMulNTF16Matrix is the reference for MatMulNTF16Matrix: b's rows
// read back with Row and the float64 products of RefMatMulNTHalf.
func RefMatMulNTF16Matrix(c, a []float32, b *F16Matrix, m int, conv func(uint16) float32) {
	n, k := b.rows, b.cols
	w := make([]uint16, n*k)
	for j := 0; j < n; j++ {
		b.Row(w[j*k:(j+1)*k], j)
	}
	RefMatMulNTHalf(c, a, w, m, n, k, conv)
}

// gemvTiles computes unit u of a streaming product with a tiled B read in
// place (tilesIn over all the rows of A).
func (g *gemmJob) gemvTiles(u int, s *scratch) {
	g.tilesIn(s, 0, g.m, u*g.nc, min(g.n, (u+1)*g.nc))
}

// tilesIn computes C[i0:i1, j0:j1] (j0 a multiple of 4; j1 too unless it
// is n) with the tile kernels reading B in place: for each band of rows of
// A (4, then what is left: 1 to 3) one kernel call over the whole tiles
// (read as one stream; the later bands find them in L2), then the last,
// partial tile of the matrix into s.tmp.
func (g *gemmJob) tilesIn(s *scratch, i0, i1, j0, j1 int) {
	b, n, k := g.bt, g.n, g.k
	whole := (j1 - j0) / F16Rows
	for i := i0; i < i1; i += 4 {
		mr := min(4, i1-i)
		a := &g.a[i*k]
		if whole > 0 {
			runF16Tiles(mr, a, k, &b.data[j0/F16Rows*b.tileLen], whole, k, g.kc, &g.c[i*n+j0], n)
		}
		if j := j0 + F16Rows*whole; j < j1 {
			runF16Tiles(mr, a, k, &b.data[j/F16Rows*b.tileLen], 1, k, g.kc, &s.tmp[0], F16Rows)
			for q := 0; q < mr; q++ {
				copy(g.c[(i+q)*n+j:(i+q)*n+j1], s.tmp[q*F16Rows:q*F16Rows+j1-j])
			}
		}
	}
}

// packTiles copies values k0…k0+kl−1 of rows j0…j1−1 of the tiled B into
// s.panel16 in row-major order (rows kl apart), and on the pure-Go path
// converts them into s.panel, as the kernels of the row-major products
// read them.
func (g *gemmJob) packTiles(s *scratch, j0, j1, k0, kl int) {
	need := (j1 - j0) * kl
	if cap(s.panel16) < need {
		s.panel16 = make([]uint16, need)
	}
	p := s.panel16[:need]
	g.bt.unpack(p, kl, j0, j1, k0, k0+kl)
	if g.pack {
		if cap(s.panel) < need {
			s.panel = make([]float32, need)
		}
		convertRow(bF16, s.panel[:need], p)
	}
}

// unpack copies values p0…p1−1 of rows j0…j1−1 into dst in row-major
// order, rows ld apart, reading the tiles in order.
func (w *F16Matrix) unpack(dst []uint16, ld, j0, j1, p0, p1 int) {
	const step = F16Rows * f16Chunk
	for t := j0 / F16Rows; t*F16Rows < j1; t++ {
		rlo, rhi := max(j0, t*F16Rows), min(j1, (t+1)*F16Rows)
		tile := w.data[t*w.tileLen : (t+1)*w.tileLen]
		// piece copies values p…e−1 (one chunk) of every row of the tile.
		piece := func(p, e int) {
			o := p/f16Chunk*step + p%f16Chunk
			for r := rlo; r < rhi; r++ {
				src := tile[o+r%F16Rows*f16Chunk:]
				d := dst[(r-j0)*ld+p-p0:]
				if e-p == f16Chunk {
					copy32(d, src)
				} else {
					copy(d[:e-p], src)
				}
			}
		}
		p := p0
		if q := p % f16Chunk; q != 0 {
			e := min(p1, p-q+f16Chunk)
			piece(p, e)
			p = e
		}
		for ; p < p1; p += f16Chunk {
			piece(p, min(p1, p+f16Chunk))
		}
	}
}

// copy32 copies 32 values (64 bytes) in four 16-byte moves, which the
// compiler inlines (a 64-byte array copy would call memmove).
func copy32(dst, src []uint16) {
	*(*[8]uint16)(dst) = *(*[8]uint16)(src)
	*(*[8]uint16)(dst[8:]) = *(*[8]uint16)(src[8:])
	*(*[8]uint16)(dst[16:]) = *(*[8]uint16)(src[16:])
	*(*[8]uint16)(dst[24:]) = *(*[8]uint16)(src[24:])
}
