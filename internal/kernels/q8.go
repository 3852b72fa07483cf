package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/lvm-go/lvm/internal/half"
)

// Q8Block is the number of consecutive values of a row that share one
// scale in a Q8Matrix.
const Q8Block = 32

// q8Group is the number of blocks interleaved into one group of a row.
const q8Group = 16

// q8MaxScale is the largest block scale (max|w|/127) a Q8Matrix stores:
// scales are binary16.
const q8MaxScale = 65504

// Q8Matrix is a read-only [rows, cols] matrix quantised to 8 bits, the
// format of llama.cpp's Q8_0: each row is cut into blocks of Q8Block
// values (the last one padded with zeros when cols is not a multiple of
// 32), and each block stores one binary16 scale d = max|w|/127 (rounded
// up) and 32 integers q = round(w/d) in [−127, 127], so w ≈ q·d with an
// error of at most d/2. That is 34 bytes per 32 weights, 1.0625 per weight.
//
// # Layout
//
// The layout is made for the matrix-vector product, which streams the
// whole matrix once per token: the kernels read it strictly sequentially.
//
// Rows are stored in tiles of 4 (the last tile padded with zero rows). A
// row is nb = ⌈cols/32⌉ blocks in groups of 16 (the last group holds the
// remaining gs blocks). A tile stores group after group; group g of a tile
// is 8 chunks × 4 rows of 4·gs bytes followed by the 4 rows' scales. Chunk
// c of a row holds values 4c…4c+3 of every block of the group side by
// side, so that 32-bit lane j of a vector loaded from a chunk always
// belongs to block j: an integer dot product over the 8 chunks leaves one
// block sum per lane. The chunks are ordered (chunk 0 of rows 0…3, chunk 1
// of rows 0…3, …) as the kernels use them. The scales are 16 binary16
// slots per row (slots beyond gs are zero). A full group of a tile is
// 2176 bytes; a tile is 128·(nb + groups) bytes, a multiple of 64.
//
// Activations are quantised by MatMulNTQ8 to the same chunk layout, row by
// row (see q8QuantizeAct).
type Q8Matrix struct {
	rows, cols int
	nb         int    // blocks per row
	tileBytes  int    // bytes per tile of 4 rows
	data       []byte // ⌈rows/4⌉ tiles
	mem        *q8Mem // owner of data's memory, kept alive with the matrix
}

// q8TileBytes is the byte length of a tile of 4 rows of nb blocks.
func q8TileBytes(nb int) int { return 128 * (nb + ceilDiv(nb, q8Group)) }

// q8WPos returns where, in its tile, row rr (0…3) of block b keeps its
// values and its scale: value e of the block is at pos + (e/4)·step + e%4.
func q8WPos(nb, rr, b int) (pos, step, scale int) {
	g, j := b/q8Group, b%q8Group
	gs := min(q8Group, nb-q8Group*g)
	base := 2176 * g
	return base + rr*4*gs + 4*j, 16 * gs, base + 128*gs + 32*rr + 2*j
}

// q8ActStride is the byte length of a quantised activation row of nb
// blocks: the values (chunk c of group g at 512·g + 4·gs·c), then per group
// 16 float32 scales and 16 int32 corrections −128·Σq (the VNNI kernel's
// offset; see q8asmgen.go).
func q8ActStride(nb int) int { return roundUp(32*nb+128*ceilDiv(nb, q8Group), 64) }

// NewQ8Matrix returns a zero [rows, cols] matrix, to be filled with SetRow.
// It panics if a dimension is negative.
func NewQ8Matrix(rows, cols int) *Q8Matrix { return NewQ8Matrices([2]int{rows, cols})[0] }

// NewQ8Matrices returns zero matrices of the given [rows, cols] shapes
// sharing one allocation: the weights of a model, allocated together so
// that a large allocation can use huge pages (on Linux, 2 MiB transparent
// huge pages when the system offers them: the products stream the
// matrices, and read them about 40 % faster from large pages). The memory
// is released when no matrix of the set is reachable. It panics if a
// dimension is negative.
func NewQ8Matrices(shapes ...[2]int) []*Q8Matrix {
	ws := make([]*Q8Matrix, len(shapes))
	total := 0
	for i, s := range shapes {
		rows, cols := s[0], s[1]
		if rows < 0 || cols < 0 {
			panic(fmt.Sprintf("kernels.NewQ8Matrix: negative shape %d×%d", rows, cols))
		}
		nb := ceilDiv(cols, Q8Block)
		ws[i] = &Q8Matrix{rows: rows, cols: cols, nb: nb, tileBytes: q8TileBytes(nb)}
		total += ceilDiv(rows, 4) * ws[i].tileBytes
	}
	data, mem := q8Alloc(total)
	for _, w := range ws {
		n := ceilDiv(w.rows, 4) * w.tileBytes // a multiple of 64: every matrix stays aligned
		w.data, w.mem, data = data[:n:n], mem, data[n:]
	}
	return ws
}

// q8HeapAlloc returns n zero bytes from the Go heap, 64-byte aligned.
func q8HeapAlloc(n int) ([]byte, *q8Mem) {
	b := make([]byte, n+64)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & 63)
	return b[off : off+n : off+n], &q8Mem{}
}

// Rows returns the number of rows (the output features of a linear layer).
func (w *Q8Matrix) Rows() int { return w.rows }

// Cols returns the number of columns (the input features).
func (w *Q8Matrix) Cols() int { return w.cols }

// Bytes returns the size of the matrix's storage in bytes.
func (w *Q8Matrix) Bytes() int { return len(w.data) }

// q8Pos returns the offset, among an activation row's value bytes, of
// value 0 of block b, and the distance between its chunks: value e of the
// block is at pos + (e/4)·cs + e%4.
func q8Pos(nb, b int) (pos, cs int) {
	g, j := b/q8Group, b%q8Group
	gs := min(q8Group, nb-q8Group*g)
	return 512*g + 4*j, 4 * gs
}

// q8Round rounds v to the nearest integer (ties to even) clamped to
// [−127, 127]; NaN gives 0.
func q8Round(v float32) int32 {
	r := math.RoundToEven(float64(v))
	switch {
	case r > 127:
		return 127
	case r < -127:
		return -127
	case r == r:
		return int32(r)
	}
	return 0
}

// absMax32 returns max |v| over v, or NaN if some v is NaN: the bits of
// |v| order as the values do, with NaN above every number.
func absMax32(v *[Q8Block]float32) float32 {
	var m uint32
	for _, x := range v {
		m = max(m, math.Float32bits(x)&0x7fffffff)
	}
	return math.Float32frombits(m)
}

// q8Magic is 1.5·2²³: for |t| < 2²², the low mantissa bits of t + q8Magic
// hold t rounded to the nearest integer (ties to even).
const q8Magic = 12582912

// q8Block quantises blk·id into the interleaved layout (value e at
// dst[pos+(e/4)·cs+e%4]) and returns Σq. It is q8Round of every
// float32(v·id) (the product rounded on its own, never fused).
func q8Block(dst []byte, pos, cs int, blk *[Q8Block]float32, id float32) int32 {
	var sum int32
	for c := 0; c < 8; c++ {
		o := dst[pos+c*cs : pos+c*cs+4]
		for e := range o {
			t := float32(blk[4*c+e] * id)
			q := int32(math.Float32bits(t+q8Magic)) - int32(math.Float32bits(q8Magic))
			q = min(max(q, -127), 127)
			o[e] = byte(int8(q))
			sum += q
		}
	}
	return sum
}

// SetRow quantises src[:Cols()] into row r. A value that is not finite, or
// a block whose largest magnitude exceeds 65504·127 (its scale would not
// fit binary16), is an error naming the column; the row is then partly
// written. It panics if r is out of range or src is shorter than a row.
func (w *Q8Matrix) SetRow(r int, src []float32) error {
	if r < 0 || r >= w.rows || len(src) < w.cols {
		panic(fmt.Sprintf("kernels.Q8Matrix.SetRow: row %d of %d, %d values for %d columns", r, w.rows, len(src), w.cols))
	}
	defer runtime.KeepAlive(w)
	if q8SetRowAsm(w, r, src) {
		return nil
	}
	tile := w.data[r/4*w.tileBytes : (r/4+1)*w.tileBytes]
	var blk [Q8Block]float32
	for b := 0; b < w.nb; b++ {
		lo := Q8Block * b
		clear(blk[copy(blk[:], src[lo:min(lo+Q8Block, w.cols)]):])
		amax := absMax32(&blk)
		if !(amax <= q8MaxScale*127) {
			for e, v := range blk {
				if !(math.Abs(float64(v)) <= q8MaxScale*127) {
					return fmt.Errorf("kernels: cannot quantise value %g at column %d to q8", v, lo+e)
				}
			}
		}
		// The binary16 scale is rounded up so that no |w|/d exceeds 127.
		want := amax / 127
		d := half.F32ToF16(want)
		if half.F16ToF32(d) < want {
			d++
		}
		var id float32
		if ds := half.F16ToF32(d); ds > 0 {
			id = 1 / ds
		}
		pos, step, sc := q8WPos(w.nb, r%4, b)
		q8Block(tile, pos, step, &blk, id)
		binary.LittleEndian.PutUint16(tile[sc:], d)
	}
	return nil
}

// Row sets dst[:Cols()] to row r dequantised (q·d, exact in float32). It
// panics if r is out of range or dst is shorter than a row.
func (w *Q8Matrix) Row(dst []float32, r int) {
	if r < 0 || r >= w.rows || len(dst) < w.cols {
		panic(fmt.Sprintf("kernels.Q8Matrix.Row: row %d of %d, %d values for %d columns", r, w.rows, len(dst), w.cols))
	}
	tile := w.data[r/4*w.tileBytes : (r/4+1)*w.tileBytes]
	for b := 0; b < w.nb; b++ {
		pos, step, sc := q8WPos(w.nb, r%4, b)
		d := half.F16ToF32(binary.LittleEndian.Uint16(tile[sc:]))
		lo := Q8Block * b
		out := dst[lo:min(lo+Q8Block, w.cols)]
		for e := range out {
			out[e] = float32(int8(tile[pos+(e>>2)*step+e&3])) * d
		}
	}
	runtime.KeepAlive(w)
}

// q8QuantizeAct quantises the activation row x[:k] (nb blocks) into dst
// (q8ActStride(nb) bytes): per block the float32 scale d = max|x|/127, the
// values q = round(x/d) in the interleaved layout, and the correction
// −128·Σq.
func q8QuantizeAct(dst []byte, x []float32, k, nb int) {
	if q8QuantizeActAsm(dst, x, k, nb) {
		return
	}
	meta := dst[32*nb:]
	var tmp [Q8Block]float32
	for g := 0; g*q8Group < nb; g++ {
		gs := min(q8Group, nb-q8Group*g)
		mg := meta[128*g : 128*g+128]
		clear(mg[4*gs : 64])
		clear(mg[64+4*gs:])
		for j := 0; j < gs; j++ {
			b := q8Group*g + j
			lo := Q8Block * b
			var blk *[Q8Block]float32
			if lo+Q8Block <= k {
				blk = (*[Q8Block]float32)(x[lo : lo+Q8Block])
			} else {
				clear(tmp[copy(tmp[:], x[lo:k]):])
				blk = &tmp
			}
			d := absMax32(blk) / 127
			var id float32
			if d > 0 {
				id = 1 / d
			}
			pos, cs := q8Pos(nb, b)
			sum := q8Block(dst, pos, cs, blk, id)
			binary.LittleEndian.PutUint32(mg[4*j:], math.Float32bits(d))
			binary.LittleEndian.PutUint32(mg[64+4*j:], uint32(-128*sum))
		}
	}
}

// q8Kind names a Q8 kernel path.
type q8Kind uint8

const (
	q8Generic q8Kind = iota // pure Go
	q8AVX2                  // AVX2 VPMADDUBSW
	q8VNNI                  // AVX-512 VNNI VPDPBUSD
)

// q8TileGeneric is the pure-Go tile kernel: c[i·ldc+j] = Σ over blocks of
// float32(Σ q_a·q_w)·(d_a·d_w), for i < mr and the 4·nt rows j of the nt
// weight tiles at the start of w, accumulated in 16 lanes (one per block of
// a group) summed in the assembly's order.
func q8TileGeneric(mr int, a *[2][]byte, w []byte, nt, nb int, c []float32, ldc int) {
	tb := q8TileBytes(nb)
	for t := 0; t < nt; t++ {
		q8TileGeneric1(mr, a, w[t*tb:(t+1)*tb], nb, c[4*t:], ldc)
	}
}

// q8TileGeneric1 is q8TileGeneric for one weight tile.
func q8TileGeneric1(mr int, a *[2][]byte, w []byte, nb int, c []float32, ldc int) {
	for i := 0; i < mr; i++ {
		ar := a[i]
		meta := ar[32*nb:]
		for j := 0; j < 4; j++ {
			var f [q8Group]float32
			for g := 0; g*q8Group < nb; g++ {
				gs := min(q8Group, nb-q8Group*g)
				for l := 0; l < gs; l++ {
					b := q8Group*g + l
					pa, cs := q8Pos(nb, b)
					pw, step, sc := q8WPos(nb, j, b)
					var s int32
					for ch := 0; ch < 8; ch++ {
						x, y := ar[pa+ch*cs:pa+ch*cs+4], w[pw+ch*step:pw+ch*step+4]
						s += int32(int8(x[0]))*int32(int8(y[0])) + int32(int8(x[1]))*int32(int8(y[1])) +
							int32(int8(x[2]))*int32(int8(y[2])) + int32(int8(x[3]))*int32(int8(y[3]))
					}
					dx := math.Float32frombits(binary.LittleEndian.Uint32(meta[128*g+4*l:]))
					dw := half.F16ToF32(binary.LittleEndian.Uint16(w[sc:]))
					f[l] += float32(s) * (dx * dw)
				}
			}
			var t [8]float32
			for l := range t {
				t[l] = f[l] + f[l+8]
			}
			c[i*ldc+j] = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]))
		}
	}
}

// MatMulNTQ8 sets c[m×n] = a[m×k] · bᵀ for the Q8 matrix b [n, k]: a
// linear layer with 8-bit weights.
//
// Each row of a is quantised to 8 bits per block of 32 as well (float32
// scale max|a|/127), the block products are exact integer dot products
// (AVX-512 VNNI VPDPBUSD, or AVX2 VPMADDUBSW, chosen at run time), scaled
// by the two block scales and summed in float32, as llama.cpp's Q8_0 does.
// Against the float product of the unquantised operands the relative RMS
// error is about 0.8 % for Gaussian data (both roundings together). Each output depends only on its row of a, its
// row of b and the instruction set (not on m, n or the thread count), so
// decoding one row or several together gives the same values.
//
// c must not overlap a; c[:m*n] is overwritten. The work is split over
// Threads() goroutines and allocates nothing in the steady state. It
// panics, naming the shapes, if a slice is shorter than its shape requires
// or m is negative.
func MatMulNTQ8(c, a []float32, b *Q8Matrix, m int) {
	n, k := b.rows, b.cols
	checkShapes("MatMulNTQ8", len(c), len(a), n*k, m, n, k)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c[:m*n])
		return
	}
	g := q8JobPool.Get().(*q8Job)
	g.c, g.a, g.b, g.m = c, a, b, m
	g.path = q8Path()
	g.as = q8ActStride(b.nb)
	if need := m * g.as; cap(g.act) < need {
		g.act = make([]byte, need)
	}
	g.act = g.act[:m*g.as]
	t := Threads()
	if m >= 8 && t > 1 {
		g.quant = true
		g.next.Store(0)
		runShared(g, min(t, ceilDiv(m, q8QuantRows)), &g.wg)
	} else {
		for i := 0; i < m; i++ {
			q8QuantizeAct(g.act[i*g.as:(i+1)*g.as], a[i*k:(i+1)*k], k, b.nb)
		}
	}
	g.quant = false
	g.plan(t)
	g.next.Store(0)
	runShared(g, min(t, g.units), &g.wg)
	g.c, g.a, g.b = nil, nil, nil
	q8JobPool.Put(g)
	runtime.KeepAlive(b) // its memory may be unmapped once b is unreachable
}

// q8QuantRows is how many activation rows a participant quantises at a
// time.
const q8QuantRows = 4

// q8Job is one MatMulNTQ8 call: its operands, the quantised activations,
// the blocking, and the counter from which participants take work (rows to
// quantise in the first phase, then units: a block of nc rows of b times a
// band of mu rows of a). Jobs are pooled so that a call allocates nothing.
type q8Job struct {
	c, a  []float32
	b     *Q8Matrix
	m     int
	path  q8Kind
	act   []byte // m quantised activation rows
	as    int    // bytes per activation row
	quant bool   // quantising phase

	mr, nc, mu, nI, units int

	next atomic.Int64
	wg   sync.WaitGroup
}

var q8JobPool = sync.Pool{New: func() any { return new(q8Job) }}

// plan chooses the blocking for t threads: blocks of b rows that stay in
// L2 while the row tiles of a pass over them, enough units to balance.
func (g *q8Job) plan(t int) {
	m, n := g.m, g.b.rows
	g.mr = min(2, m)
	g.nc = max(4, blockBytes/(g.b.tileBytes/4)/4*4)
	if want := 4 * t; ceilDiv(n, g.nc) < want {
		g.nc = max(4, roundUp(ceilDiv(n, want), 4))
	}
	nJ := ceilDiv(n, g.nc)
	g.mu, g.nI = m, 1
	if nJ < 2*t && m > g.mr {
		nI := ceilDiv(2*t, nJ)
		g.mu = roundUp(ceilDiv(m, nI), g.mr)
		g.nI = ceilDiv(m, g.mu)
	}
	g.units = nJ * g.nI
}

// run is one participant's loop: take work until none is left.
func (g *q8Job) run(id int) {
	if g.quant {
		k, nb := g.b.cols, g.b.nb
		for {
			i0 := int(g.next.Add(q8QuantRows)) - q8QuantRows
			if i0 >= g.m {
				return
			}
			for i := i0; i < min(i0+q8QuantRows, g.m); i++ {
				q8QuantizeAct(g.act[i*g.as:(i+1)*g.as], g.a[i*k:(i+1)*k], k, nb)
			}
		}
	}
	for {
		u := int(g.next.Add(1)) - 1
		if u >= g.units {
			return
		}
		g.unit(u)
	}
}

// unit computes C[i0:i1, j0:j1] for unit u: for each tile of mr rows of a,
// one kernel call over the whole tiles of b in the block (read as one
// stream), then the partial tile at the edge of b (its rows beyond n are
// zero) into a local buffer.
func (g *q8Job) unit(u int) {
	jb, ib := u/g.nI, u%g.nI
	n, nb, tb := g.b.rows, g.b.nb, g.b.tileBytes
	j0, j1 := jb*g.nc, min(n, (jb+1)*g.nc)
	i0, i1 := ib*g.mu, min(g.m, (ib+1)*g.mu)
	whole := (j1 - j0) / 4
	var a [2][]byte
	var tmp [8]float32
	for i := i0; i < i1; i += g.mr {
		mr := min(g.mr, i1-i)
		for q := 0; q < mr; q++ {
			a[q] = g.act[(i+q)*g.as : (i+q+1)*g.as]
		}
		if whole > 0 {
			q8Tile(g.path, mr, &a, g.b.data[j0/4*tb:], whole, nb, g.c[i*n+j0:], n)
		}
		if j := j0 + 4*whole; j < j1 {
			q8Tile(g.path, mr, &a, g.b.data[j/4*tb:], 1, nb, tmp[:], 4)
			for q := 0; q < mr; q++ {
				copy(g.c[(i+q)*n+j:(i+q)*n+j1], tmp[4*q:4*q+j1-j])
			}
		}
	}
}

// RefQuantizeQ8Row is the reference quantiser of one activation row, a
// plain loop: per block of 32 (the last padded with zeros), d = max|x|/127
// in float32 and q = round(x·(1/d)) (ties to even, clamped to ±127), or
// zeros when the block is.
func RefQuantizeQ8Row(x []float32) (q []int8, d []float32) {
	nb := ceilDiv(len(x), Q8Block)
	q = make([]int8, nb*Q8Block)
	d = make([]float32, nb)
	for b := range d {
		var blk [Q8Block]float32
		copy(blk[:], x[Q8Block*b:min(Q8Block*(b+1), len(x))])
		var amax float32
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d[b] = amax / 127
		var id float32
		if d[b] > 0 {
			id = 1 / d[b]
		}
		for e, v := range blk {
			q[Q8Block*b+e] = int8(q8Round(v * id))
		}
	}
	return q, d
}

// RefMatMulNTQ8 is the reference for MatMulNTQ8: each row of a quantised
// by RefQuantizeQ8Row, b dequantised by Row, and the sum over blocks of
// d_a·Σ q_a·w accumulated in float64.
func RefMatMulNTQ8(c, a []float32, b *Q8Matrix, m int) {
	n, k := b.rows, b.cols
	w := make([]float32, n*k)
	for j := 0; j < n; j++ {
		b.Row(w[j*k:(j+1)*k], j)
	}
	for i := 0; i < m; i++ {
		q, d := RefQuantizeQ8Row(a[i*k : (i+1)*k])
		for j := 0; j < n; j++ {
			wj := w[j*k : (j+1)*k]
			var s float64
			for blk, db := range d {
				var t float64
				for e := Q8Block * blk; e < min(Q8Block*(blk+1), k); e++ {
					t += float64(q[e]) * float64(wj[e])
				}
				s += float64(db) * t
			}
			c[i*n+j] = float32(s)
		}
	}
}
