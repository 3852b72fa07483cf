//go:build ignore

// asmgen writes kernels_amd64.s, the amd64 assembly of this package:
//
//	go run asmgen.go            (or: go generate ./internal/kernels)
//
// The file is generated rather than written by hand because the
// micro-kernels are fully unrolled register tiles (up to 24 accumulators)
// in three B element types and two instruction sets; the generator keeps
// them consistent. Every function uses ABI0 with its arguments on the stack,
// so `go vet` (asmdecl) checks the frame against the Go declarations in
// kernels_amd64.go.
package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
)

var out bytes.Buffer

func p(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }

// isa describes one vector instruction set.
type isa struct {
	name  string // AVX512 or AVX2
	width int    // float32 lanes per vector
	reg   string // Z or Y
	nregs int    // vector registers available
}

var (
	avx512 = isa{"AVX512", 16, "Z", 32}
	avx2   = isa{"AVX2", 8, "Y", 16}
)

// dtype is the element type of B.
type dtype struct {
	name  string // F32, F16, BF16
	gotyp string // Go element type in the declaration
	scale int    // bytes per element, the index scale of B addresses
}

var (
	f32  = dtype{"F32", "float32", 4}
	f16  = dtype{"F16", "uint16", 2}
	bf16 = dtype{"BF16", "uint16", 2}
)

// gprs are the general registers handed out, in order, to the row pointers
// of A and B. SI (the element index) and DI (the loop bound) are reserved;
// CX is handed out last because the tail-mask set-up shifts by CL first.
var gprs = []string{"R8", "R9", "R10", "R11", "R12", "R13", "AX", "BX", "DX", "CX"}

// loadB emits the load of 16 or 8 elements of a B row at index SI into
// vector register dst, converted to float32; masked selects the zeroing
// K1-masked form (AVX-512 tail).
func loadB(s isa, d dtype, row string, dst string, masked bool) {
	op, mk := "", ""
	if masked {
		op, mk = ".Z", "K1, "
	}
	addr := fmt.Sprintf("(%s)(SI*%d)", row, d.scale)
	switch d.name {
	case "F32":
		p("\tVMOVUPS%s %s, %s%s", op, addr, mk, dst)
	case "F16":
		p("\tVCVTPH2PS%s %s, %s%s", op, addr, mk, dst)
	case "BF16":
		p("\tVPMOVZXWD%s %s, %s%s", op, addr, mk, dst)
		p("\tVPSLLD $16, %s, %s", dst, dst)
	}
}

// gemmKernel emits a register-tile kernel computing the mr×nr block
//
//	c[i*ldc+j] (+)= Σ_p a_i[p]·b_j[p]   (i < mr, j < nr, p < k)
//
// with one vector accumulator per output. The k loop walks whole vectors;
// AVX-512 finishes a ragged k with a K1-masked pass, AVX2 leaves the last
// k%8 elements to the Go caller. Accumulators are then reduced four at a
// time into an XMM of four sums: rows of four outputs are stored with one
// 16-byte store, and when nr%4 == 2 the last two columns of two rows share
// one reduction (low half to row i, high half to row i+1).
func gemmKernel(s isa, d dtype, mr, nr int) { gemmKernelMode(s, d, mr, nr, false) }

// gemmLoopKernel emits gemm{mr}x{nr}Loop{ISA}{B}(a *float32, lda int, b *T,
// ldb, k int, c *float32, ldc, acc, ntiles int, pf uintptr): the tile of
// gemmKernel applied to ntiles consecutive tiles of B (rows b + t·nr·ldb)
// and C (columns c + t·nr) with the same rows of A (a + i·lda), with
// exactly the tile's arithmetic, so that a band of tiles costs one call.
func gemmLoopKernel(s isa, d dtype, mr, nr int) { gemmKernelMode(s, d, mr, nr, true) }

func gemmKernelMode(s isa, d dtype, mr, nr int, loop bool) {
	name := fmt.Sprintf("gemm%dx%d%s%s", mr, nr, s.name, d.name)
	if loop {
		name = fmt.Sprintf("gemm%dx%dLoop%s%s", mr, nr, s.name, d.name)
	}
	// The kernels also take pf, the start of the rows of B they will read
	// next (a matrix-vector product streams B from memory tile after
	// tile; see gemvUnit): as the k loop advances they prefetch
	// that region linearly into L2 (PREFETCHT1), nr·width elements of B
	// per step, so the next tile's rows are on their way when it starts
	// instead of waiting for the hardware prefetcher to find eight new
	// streams. Measured on Zen 4 over the 300M model's weights from DRAM,
	// one thread: 14.7 GB/s without, 18.3 with PREFETCHT0, 22.0 with
	// PREFETCHT1 (a shared machine: relative figures).
	nargs := mr + nr + 5
	var decl []string
	for i := 0; i < mr; i++ {
		decl = append(decl, fmt.Sprintf("a%d", i))
	}
	for j := 0; j < nr; j++ {
		decl = append(decl, fmt.Sprintf("b%d", j))
	}
	off := func(i int) int { return i * 8 }
	kOff, cOff, ldcOff, accOff := off(mr+nr), off(mr+nr+1), off(mr+nr+2), off(mr+nr+3)
	pfOff := off(mr + nr + 4)
	// Loop mode: a, lda, b, ldb, k, c, ldc, acc, ntiles, pf.
	const aOff, ldaOff, bOff, ldbOff, ntOff = 0, 8, 16, 24, 64
	if loop {
		nargs = 10
		kOff, cOff, ldcOff, accOff, pfOff = 32, 40, 48, 56, 72
		p("// func %s(a *float32, lda int, b *%s, ldb, k int, c *float32, ldc, acc, ntiles int, pf uintptr)", name, d.gotyp)
	} else {
		p("// func %s(%s *float32, %s *%s, k int, c *float32, ldc int, acc int, pf uintptr)", name,
			strings.Join(decl[:mr], ", "), strings.Join(decl[mr:], ", "), d.gotyp)
	}
	p("TEXT ·%s(SB), NOSPLIT, $0-%d", name, nargs*8)
	pfBytes := nr * s.width * d.scale // bytes of B one k step reads

	// Loop bound and tail mask.
	p("\tMOVQ k+%d(FP), DI", kOff)
	if s.width == 16 {
		p("\tMOVQ DI, CX")
		p("\tANDQ $15, CX")
		p("\tMOVL $1, SI")
		p("\tSHLL CX, SI")
		p("\tDECL SI")
		p("\tKMOVW SI, K1")
		p("\tANDQ $-16, DI")
	} else {
		p("\tANDQ $-8, DI")
	}
	rowA := gprs[:mr]
	rowB := gprs[mr : mr+nr]
	// R15 holds the prefetch pointer: every other general register may
	// hold a row (the kernels touch no global data, so R15 is free even
	// when dynamically linking).
	p("\tMOVQ pf+%d(FP), R15", pfOff)
	if loop {
		// Each tile reloads its row pointers from the arguments (b and c
		// advance in the argument slots), as the reduction reuses them.
		p("tile:")
		p("\tMOVQ a+%d(FP), %s", aOff, rowA[0])
		p("\tMOVQ lda+%d(FP), SI", ldaOff)
		p("\tSHLQ $2, SI")
		for i := 1; i < mr; i++ {
			p("\tLEAQ (%s)(SI*1), %s", rowA[i-1], rowA[i])
		}
		p("\tMOVQ b+%d(FP), %s", bOff, rowB[0])
		p("\tMOVQ ldb+%d(FP), SI", ldbOff)
		p("\tSHLQ $%d, SI", map[int]int{4: 2, 2: 1}[d.scale])
		for j := 1; j < nr; j++ {
			p("\tLEAQ (%s)(SI*1), %s", rowB[j-1], rowB[j])
		}
		p("\tMOVQ k+%d(FP), DI", kOff)
		p("\tANDQ $-%d, DI", s.width)
	} else {
		for i, r := range rowA {
			p("\tMOVQ a%d+%d(FP), %s", i, off(i), r)
		}
		for j, r := range rowB {
			p("\tMOVQ b%d+%d(FP), %s", j, off(mr+j), r)
		}
	}
	v := func(i int) string { return fmt.Sprintf("%s%d", s.reg, i) }
	y := func(i int) string { return fmt.Sprintf("Y%d", i) }
	x := func(i int) string { return fmt.Sprintf("X%d", i) }
	acc := func(i, j int) int { return j*mr + i }
	nacc := mr * nr
	aReg := func(i int) int { return nacc + i }
	nb := 2 // B staging registers, alternated (one is enough with renaming)
	if nacc+mr+nb > s.nregs {
		nb = 1
	}
	if nacc+mr+nb > s.nregs {
		panic(name + ": too many registers")
	}
	bReg := func(j int) int { return nacc + mr + j%nb }
	for i := 0; i < nacc; i++ {
		if i < 16 {
			p("\tVXORPS %s, %s, %s", y(i), y(i), y(i))
		} else {
			p("\tVPXORD %s, %s, %s", v(i), v(i), v(i))
		}
	}
	p("\tXORQ SI, SI")
	p("\tCMPQ SI, DI")
	p("\tJGE tail")
	body := func(masked bool) {
		op, mk := "", ""
		if masked {
			op, mk = ".Z", "K1, "
		}
		for i, r := range rowA {
			p("\tVMOVUPS%s (%s)(SI*4), %s%s", op, r, mk, v(aReg(i)))
		}
		for j, r := range rowB {
			loadB(s, d, r, v(bReg(j)), masked)
			for i := 0; i < mr; i++ {
				p("\tVFMADD231PS %s, %s, %s", v(aReg(i)), v(bReg(j)), v(acc(i, j)))
			}
		}
	}
	p("loop:")
	for q := 0; q < pfBytes; q += 64 {
		p("\tPREFETCHT1 %d(R15)", q)
	}
	p("\tADDQ $%d, R15", pfBytes)
	body(false)
	p("\tADDQ $%d, SI", s.width)
	p("\tCMPQ SI, DI")
	p("\tJLT loop")
	p("tail:")
	if s.width == 16 {
		p("\tKORTESTW K1, K1")
		p("\tJZ reduce")
		body(true)
	}
	p("reduce:")

	// Fold 512-bit accumulators to 256 bits; registers 16..31 have no VEX
	// encoding, so those are first moved down into registers freed by the
	// groups already stored (see below) and folded there.
	fold := func(r int) {
		if s.width == 16 {
			p("\tVEXTRACTF64X4 $1, Z%d, Y%d", r, 31)
			p("\tVADDPS Y31, %s, %s", y(r), y(r))
		}
	}
	// red4 reduces accumulators r0..r3 (each ≤ 15) into X(r0) = their four
	// sums in order.
	red4 := func(r0, r1, r2, r3 int) {
		for _, r := range []int{r0, r1, r2, r3} {
			fold(r)
		}
		p("\tVHADDPS %s, %s, %s", y(r1), y(r0), y(r0))
		p("\tVHADDPS %s, %s, %s", y(r3), y(r2), y(r2))
		p("\tVHADDPS %s, %s, %s", y(r2), y(r0), y(r0))
		p("\tVEXTRACTF128 $1, %s, %s", y(r0), x(r1))
		p("\tVADDPS %s, %s, %s", x(r1), x(r0), x(r0))
	}
	// C row pointers: row i in cRow[i].
	cRow := []string{"R8", "R10", "R11", "R12"}
	p("\tMOVQ c+%d(FP), R8", cOff)
	p("\tMOVQ ldc+%d(FP), R9", ldcOff)
	p("\tSHLQ $2, R9")
	for i := 1; i < mr; i++ {
		p("\tLEAQ (%s)(R9*1), %s", cRow[i-1], cRow[i])
	}
	p("\tMOVQ acc+%d(FP), R13", accOff)
	// Groups: rows of four columns, then (nr%4 == 2) pairs of columns of
	// two rows.
	type group struct {
		regs  [4]int
		row   int // first C row
		col   int // first C column
		pair  bool
		moved bool // regs were moved down from ≥16
	}
	var groups []group
	for j0 := 0; j0+4 <= nr; j0 += 4 {
		for i := 0; i < mr; i++ {
			groups = append(groups, group{regs: [4]int{acc(i, j0), acc(i, j0+1), acc(i, j0+2), acc(i, j0+3)}, row: i, col: j0})
		}
	}
	if nr%4 == 2 {
		if mr%2 != 0 {
			panic(name + ": nr%4==2 needs even mr")
		}
		j0 := nr - 2
		for i := 0; i < mr; i += 2 {
			groups = append(groups, group{regs: [4]int{acc(i, j0), acc(i, j0+1), acc(i+1, j0), acc(i+1, j0+1)}, row: i, col: j0, pair: true})
		}
	} else if nr%4 != 0 {
		panic(name + ": nr must be 4k or 4k+2")
	}
	emitStores := func(withAcc bool) {
		free := []int{} // registers ≤ 15 whose group has been stored
		for _, g := range groups {
			regs := g.regs
			for t, r := range regs {
				if r >= 16 {
					dst := free[0]
					free = free[1:]
					p("\tVMOVAPS Z%d, Z%d", r, dst)
					regs[t] = dst
				}
			}
			red4(regs[0], regs[1], regs[2], regs[3])
			res := x(regs[0])
			tmp := x(regs[1])
			colOff := g.col * 4
			if !g.pair {
				if withAcc {
					p("\tVADDPS %d(%s), %s, %s", colOff, cRow[g.row], res, res)
				}
				p("\tVMOVUPS %s, %d(%s)", res, colOff, cRow[g.row])
			} else {
				if withAcc {
					p("\tVMOVQ %d(%s), %s", colOff, cRow[g.row], tmp)
					p("\tVMOVHPS %d(%s), %s, %s", colOff, cRow[g.row+1], tmp, tmp)
					p("\tVADDPS %s, %s, %s", tmp, res, res)
				}
				p("\tVMOVQ %s, %d(%s)", res, colOff, cRow[g.row])
				p("\tVMOVHPS %s, %d(%s)", res, colOff, cRow[g.row+1])
			}
			for _, r := range regs {
				if r < 16 {
					free = append(free, r)
				}
			}
		}
		if loop {
			p("\tJMP next")
			return
		}
		p("\tVZEROUPPER")
		p("\tRET")
	}
	p("\tTESTQ R13, R13")
	p("\tJNZ accum")
	emitStores(false)
	p("accum:")
	emitStores(true)
	if loop {
		p("next:")
		p("\tADDQ $%d, c+%d(FP)", 4*nr, cOff)
		p("\tMOVQ ldb+%d(FP), SI", ldbOff)
		p("\tIMULQ $%d, SI", nr*d.scale)
		p("\tADDQ SI, b+%d(FP)", bOff)
		p("\tDECQ ntiles+%d(FP)", ntOff)
		p("\tJNZ tile")
		p("\tVZEROUPPER")
		p("\tRET")
	}
	p("")
}

// dot emits dot{ISA}(a, b *float32, n int) float32.
func dot(s isa) {
	name := "dot" + s.name
	w := s.width
	R := s.reg
	p("// func %s(a, b *float32, n int) float32", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-28", name)
	p("\tMOVQ a+0(FP), R8")
	p("\tMOVQ b+8(FP), R9")
	p("\tMOVQ n+16(FP), DI")
	if w == 16 {
		maskK1("DI", 15)
	}
	p("\tMOVQ DI, DX")
	p("\tANDQ $-%d, DX", 4*w)
	p("\tMOVQ DI, BX")
	p("\tANDQ $-%d, BX", w)
	for i := 0; i < 4; i++ {
		p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
	}
	p("\tXORQ SI, SI")
	p("loop4:")
	p("\tCMPQ SI, DX")
	p("\tJGE loop1")
	for i := 0; i < 4; i++ {
		p("\tVMOVUPS %d(R8)(SI*4), %s%d", i*w*4, R, 4+i)
		p("\tVFMADD231PS %d(R9)(SI*4), %s%d, %s%d", i*w*4, R, 4+i, R, i)
	}
	p("\tADDQ $%d, SI", 4*w)
	p("\tJMP loop4")
	p("loop1:")
	p("\tCMPQ SI, BX")
	p("\tJGE tail")
	p("\tVMOVUPS (R8)(SI*4), %s4", R)
	p("\tVFMADD231PS (R9)(SI*4), %s4, %s0", R, R)
	p("\tADDQ $%d, SI", w)
	p("\tJMP loop1")
	p("tail:")
	if w == 16 {
		p("\tKORTESTW K1, K1")
		p("\tJZ sum")
		p("\tVMOVUPS.Z (R8)(SI*4), K1, Z4")
		p("\tVMOVUPS.Z (R9)(SI*4), K1, Z5")
		p("\tVFMADD231PS Z5, Z4, Z0")
	}
	p("sum:")
	p("\tVADDPS %s1, %s0, %s0", R, R, R)
	p("\tVADDPS %s3, %s2, %s2", R, R, R)
	p("\tVADDPS %s2, %s0, %s0", R, R, R)
	if w == 16 {
		p("\tVEXTRACTF64X4 $1, Z0, Y1")
		p("\tVADDPS Y1, Y0, Y0")
	}
	p("\tVEXTRACTF128 $1, Y0, X1")
	p("\tVADDPS X1, X0, X0")
	p("\tVHADDPS X0, X0, X0")
	p("\tVHADDPS X0, X0, X0")
	if w == 8 {
		// Scalar tail.
		p("stail:")
		p("\tCMPQ SI, DI")
		p("\tJGE done")
		p("\tVMOVSS (R8)(SI*4), X1")
		p("\tVFMADD231SS (R9)(SI*4), X1, X0")
		p("\tINCQ SI")
		p("\tJMP stail")
		p("done:")
	}
	p("\tVMOVSS X0, ret+24(FP)")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// maskK1 sets K1 to the low (reg & m) bits set; clobbers CX and AX.
func maskK1(reg string, m int) {
	p("\tMOVQ %s, CX", reg)
	p("\tANDQ $%d, CX", m)
	p("\tMOVL $1, AX")
	p("\tSHLL CX, AX")
	p("\tDECL AX")
	p("\tKMOVW AX, K1")
}

// axpy emits axpy{ISA}(alpha float32, x, y *float32, n int): y += alpha·x.
func axpy(s isa) {
	name := "axpy" + s.name
	w := s.width
	R := s.reg
	p("// func %s(alpha float32, x, y *float32, n int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-32", name)
	p("\tVBROADCASTSS alpha+0(FP), %s15", R)
	p("\tMOVQ x+8(FP), R8")
	p("\tMOVQ y+16(FP), R9")
	p("\tMOVQ n+24(FP), DI")
	if w == 16 {
		maskK1("DI", 15)
	}
	p("\tMOVQ DI, DX")
	p("\tANDQ $-%d, DX", 4*w)
	p("\tMOVQ DI, BX")
	p("\tANDQ $-%d, BX", w)
	p("\tXORQ SI, SI")
	p("loop4:")
	p("\tCMPQ SI, DX")
	p("\tJGE loop1")
	for i := 0; i < 4; i++ {
		p("\tVMOVUPS %d(R9)(SI*4), %s%d", i*w*4, R, i)
		p("\tVFMADD231PS %d(R8)(SI*4), %s15, %s%d", i*w*4, R, R, i)
		p("\tVMOVUPS %s%d, %d(R9)(SI*4)", R, i, i*w*4)
	}
	p("\tADDQ $%d, SI", 4*w)
	p("\tJMP loop4")
	p("loop1:")
	p("\tCMPQ SI, BX")
	p("\tJGE tail")
	p("\tVMOVUPS (R9)(SI*4), %s0", R)
	p("\tVFMADD231PS (R8)(SI*4), %s15, %s0", R, R)
	p("\tVMOVUPS %s0, (R9)(SI*4)", R)
	p("\tADDQ $%d, SI", w)
	p("\tJMP loop1")
	p("tail:")
	if w == 16 {
		p("\tKORTESTW K1, K1")
		p("\tJZ done")
		p("\tVMOVUPS.Z (R9)(SI*4), K1, Z0")
		p("\tVMOVUPS.Z (R8)(SI*4), K1, Z1")
		p("\tVFMADD231PS Z1, Z15, Z0")
		p("\tVMOVUPS Z0, K1, (R9)(SI*4)")
	} else {
		p("\tCMPQ SI, DI")
		p("\tJGE done")
		p("\tVMOVSS (R9)(SI*4), X0")
		p("\tVFMADD231SS (R8)(SI*4), X15, X0")
		p("\tVMOVSS X0, (R9)(SI*4)")
		p("\tINCQ SI")
		p("\tJMP tail")
	}
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// convert emits cvt{ISA}{F16,BF16}(dst *float32, src *uint16, n int).
func convert(s isa, d dtype) {
	name := "cvt" + s.name + d.name
	w := s.width
	R := s.reg
	p("// func %s(dst *float32, src *uint16, n int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-24", name)
	p("\tMOVQ dst+0(FP), R8")
	p("\tMOVQ src+8(FP), R9")
	p("\tMOVQ n+16(FP), DI")
	if w == 16 {
		maskK1("DI", 15)
	}
	p("\tMOVQ DI, DX")
	p("\tANDQ $-%d, DX", 4*w)
	p("\tMOVQ DI, BX")
	p("\tANDQ $-%d, BX", w)
	p("\tXORQ SI, SI")
	p("loop4:")
	p("\tCMPQ SI, DX")
	p("\tJGE loop1")
	for i := 0; i < 4; i++ {
		cvtAt(d, R, i, i*w*2, false)
		p("\tVMOVUPS %s%d, %d(R8)(SI*4)", R, i, i*w*4)
	}
	p("\tADDQ $%d, SI", 4*w)
	p("\tJMP loop4")
	p("loop1:")
	p("\tCMPQ SI, BX")
	p("\tJGE tail")
	cvtAt(d, R, 0, 0, false)
	p("\tVMOVUPS %s0, (R8)(SI*4)", R)
	p("\tADDQ $%d, SI", w)
	p("\tJMP loop1")
	p("tail:")
	if w == 16 {
		p("\tKORTESTW K1, K1")
		p("\tJZ done")
		cvtAt(d, R, 0, 0, true)
		p("\tVMOVUPS Z0, K1, (R8)(SI*4)")
	} else {
		p("\tCMPQ SI, DI")
		p("\tJGE done")
		p("\tMOVWLZX (R9)(SI*2), AX")
		if d.name == "F16" {
			p("\tVMOVD AX, X0")
			p("\tVCVTPH2PS X0, X0")
			p("\tVMOVSS X0, (R8)(SI*4)")
		} else {
			p("\tSHLL $16, AX")
			p("\tMOVL AX, (R8)(SI*4)")
		}
		p("\tINCQ SI")
		p("\tJMP tail")
	}
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// cvtAt converts the 16-bit elements at R9 + 2·SI + disp into vector i.
func cvtAt(d dtype, R string, i, disp int, masked bool) {
	op, mk := "", ""
	if masked {
		op, mk = ".Z", "K1, "
	}
	switch d.name {
	case "F16":
		p("\tVCVTPH2PS%s %d(R9)(SI*2), %s%s%d", op, disp, mk, R, i)
	case "BF16":
		p("\tVPMOVZXWD%s %d(R9)(SI*2), %s%s%d", op, disp, mk, R, i)
		p("\tVPSLLD $16, %s%d, %s%d", R, i, R, i)
	}
}

func main() {
	p("// Code generated by asmgen.go; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	p("// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)")
	p("TEXT ·cpuid(SB), NOSPLIT, $0-24")
	p("\tMOVL eaxArg+0(FP), AX")
	p("\tMOVL ecxArg+4(FP), CX")
	p("\tCPUID")
	p("\tMOVL AX, eax+8(FP)")
	p("\tMOVL BX, ebx+12(FP)")
	p("\tMOVL CX, ecx+16(FP)")
	p("\tMOVL DX, edx+20(FP)")
	p("\tRET")
	p("")
	p("// func xgetbv() (eax, edx uint32)")
	p("TEXT ·xgetbv(SB), NOSPLIT, $0-8")
	p("\tMOVL $0, CX")
	p("\tXGETBV")
	p("\tMOVL AX, eax+0(FP)")
	p("\tMOVL DX, edx+4(FP)")
	p("\tRET")
	p("")
	for _, d := range []dtype{f32, f16, bf16} {
		gemmLoopKernel(avx512, d, 4, 6)
		gemmLoopKernel(avx512, d, 1, 8)
	}
	for _, d := range []dtype{f32, f16, bf16} {
		gemmKernel(avx512, d, 4, 6)
		gemmKernel(avx512, d, 1, 8)
		gemmKernel(avx2, d, 3, 4)
		gemmKernel(avx2, d, 1, 8)
	}
	for _, s := range []isa{avx512, avx2} {
		dot(s)
		axpy(s)
		for _, d := range []dtype{f16, bf16} {
			convert(s, d)
		}
	}
	for _, s := range []isa{avx512, avx2} {
		toHalf(s)
		rope(s)
	}
	expConsts()
	for _, s := range []isa{avx512, avx2} {
		siluMul(s)
		scaleMax(s)
		expSubSum(s)
		scale(s)
		softmaxCols(s)
	}
	for mr := 1; mr <= 6; mr++ {
		for nv := 1; nv <= 4; nv++ {
			nnKernel(avx512, f32, mr, nv)
		}
	}
	for nv := 5; nv <= 8; nv++ {
		nnKernel(avx512, f32, 1, nv)
	}
	for nv := 1; nv <= 8; nv++ {
		nnKernel(avx512, f16, 1, nv)
	}
	for mr := 1; mr <= 4; mr++ {
		for nv := 1; nv <= 2; nv++ {
			nnKernel(avx2, f32, mr, nv)
		}
	}
	for nv := 3; nv <= 4; nv++ {
		nnKernel(avx2, f32, 1, nv)
	}
	for nv := 1; nv <= 4; nv++ {
		nnKernel(avx2, f16, 1, nv)
	}
	if err := os.WriteFile("kernels_amd64.s", out.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// The exponential of the softmax and SiLU kernels reproduces, lane by
// lane, the scalar expf of the Go code (kernels.Expf) bit for bit: x is
// widened to float64, reduced as x = k·ln2 + r with k rounded through the
// 1.5·2⁵² trick, e^r is the degree-7 Taylor polynomial evaluated by
// separate multiplies and adds (no fused operation: Go does not fuse them
// on amd64 either), 2^k is built in the exponent bits, and the product is
// rounded to float32. Inputs below −87.3 give 0, above 88.72 +Inf, NaN
// itself.

// Float64 constants of the exponential, in the order of expC64.
var expC64 = []struct {
	name string
	v    float64
}{
	{"log2e", 1.44269504088896338700},
	{"round", 0x1.8p52},
	{"ln2", 0.693147180559945309417},
	{"c7", 1.0 / 5040},
	{"c6", 1.0 / 720},
	{"c5", 1.0 / 120},
	{"c4", 1.0 / 24},
	{"c3", 1.0 / 6},
	{"c2", 1.0 / 2},
	{"one", 1},
	{"magic", 1023 + 0x1.8p52},
}

// Float32 constants, in the order of expC32.
var expC32 = []struct {
	name string
	v    float32
}{
	{"lo", -87.3},
	{"hi", 88.72},
	{"inf", float32(math.Inf(1))},
	{"one", 1},
	{"sign", math.Float32frombits(0x80000000)},
	{"ninf", float32(math.Inf(-1))},
}

// expConsts emits the constant tables: expc64<> holds each float64
// constant four times (a YMM operand, or a broadcast source), expc32<>
// each float32 constant eight times.
func expConsts() {
	for i, c := range expC64 {
		for j := 0; j < 4; j++ {
			p("DATA expc64<>+%d(SB)/8, $0x%016x // %s", 32*i+8*j, math.Float64bits(c.v), c.name)
		}
	}
	p("GLOBL expc64<>(SB), RODATA|NOPTR, $%d", 32*len(expC64))
	p("")
	for i, c := range expC32 {
		for j := 0; j < 8; j++ {
			p("DATA expc32<>+%d(SB)/4, $0x%08x // %s", 32*i+4*j, math.Float32bits(c.v), c.name)
		}
	}
	p("GLOBL expc32<>(SB), RODATA|NOPTR, $%d", 32*len(expC32))
	p("")
}

func c64(name string) string {
	for i, c := range expC64 {
		if c.name == name {
			return fmt.Sprintf("expc64<>+%d(SB)", 32*i)
		}
	}
	panic(name)
}

func c32(name string) string {
	for i, c := range expC32 {
		if c.name == name {
			return fmt.Sprintf("expc32<>+%d(SB)", 32*i)
		}
	}
	panic(name)
}

// AVX-512 exponential: the float64 constants live in Z16…Z26 and the
// float32 ones in Z27…Z29 (expLoad512), work registers are Z0…Z15.
var exp512Reg = map[string]int{
	"log2e": 16, "round": 17, "ln2": 18, "c7": 19, "c6": 20, "c5": 21, "c4": 22,
	"c3": 23, "c2": 24, "one": 25, "magic": 26, "lo": 27, "hi": 28, "inf": 29, "one32": 30,
}

func expLoad512() {
	for _, c := range expC64 {
		p("\tVBROADCASTSD %s, Z%d", c64(c.name), exp512Reg[c.name])
	}
	p("\tVBROADCASTSS %s, Z%d", c32("lo"), exp512Reg["lo"])
	p("\tVBROADCASTSS %s, Z%d", c32("hi"), exp512Reg["hi"])
	p("\tVBROADCASTSS %s, Z%d", c32("inf"), exp512Reg["inf"])
	p("\tVBROADCASTSS %s, Z%d", c32("one"), exp512Reg["one32"])
}

// exp512 sets Z(out) = expf(Z(x)) for 16 float32 lanes, using work
// registers t[0..5] (all distinct from x and out; out may not be x).
func exp512(x, out int, t [6]int) {
	z := func(i int) string { return fmt.Sprintf("Z%d", i) }
	y := func(i int) string { return fmt.Sprintf("Y%d", i) }
	r := func(name string) string { return z(exp512Reg[name]) }
	d0, d1 := t[0], t[1]
	p("\tVCVTPS2PD %s, %s", y(x), z(d0))
	p("\tVEXTRACTF64X4 $1, %s, %s", z(x), y(d1))
	p("\tVCVTPS2PD %s, %s", y(d1), z(d1))
	halves := [2][3]int{{d0, t[2], t[3]}, {d1, t[4], t[5]}} // d, k, r/p
	for _, h := range halves {
		d, k, q := h[0], h[1], h[2]
		p("\tVMULPD %s, %s, %s", r("log2e"), z(d), z(k))
		p("\tVADDPD %s, %s, %s", r("round"), z(k), z(k))
		p("\tVSUBPD %s, %s, %s", r("round"), z(k), z(k))
		p("\tVMULPD %s, %s, %s", r("ln2"), z(k), z(q))
		p("\tVSUBPD %s, %s, %s", z(q), z(d), z(d)) // d = r
		p("\tVMULPD %s, %s, %s", r("c7"), z(d), z(q))
		for _, c := range []string{"c6", "c5", "c4", "c3", "c2", "one"} {
			p("\tVADDPD %s, %s, %s", r(c), z(q), z(q))
			p("\tVMULPD %s, %s, %s", z(d), z(q), z(q))
		}
		p("\tVADDPD %s, %s, %s", r("one"), z(q), z(q))
		p("\tVADDPD %s, %s, %s", r("magic"), z(k), z(k))
		p("\tVPSLLQ $52, %s, %s", z(k), z(k))
		p("\tVMULPD %s, %s, %s", z(k), z(q), z(q))
	}
	p("\tVCVTPD2PS %s, %s", z(t[3]), y(out))
	p("\tVCVTPD2PS %s, %s", z(t[5]), y(t[5]))
	p("\tVINSERTF64X4 $1, %s, %s, %s", y(t[5]), z(out), z(out))
	p("\tVCMPPS $17, %s, %s, K2", r("lo"), z(x))
	p("\tVCMPPS $30, %s, %s, K3", r("hi"), z(x))
	p("\tVCMPPS $3, %s, %s, K4", z(x), z(x))
	p("\tVPXORD %s, %s, K2, %s", z(out), z(out), z(out))
	p("\tVMOVAPS %s, K3, %s", r("inf"), z(out))
	p("\tVMOVAPS %s, K4, %s", z(x), z(out))
}

// exp256 sets Y(out) = expf(Y(x)) for 8 float32 lanes with AVX2, the
// constants read from memory; t[0..5] are work registers distinct from x
// and out.
func exp256(x, out int, t [6]int) {
	y := func(i int) string { return fmt.Sprintf("Y%d", i) }
	xr := func(i int) string { return fmt.Sprintf("X%d", i) }
	d0, d1 := t[0], t[1]
	p("\tVCVTPS2PD %s, %s", xr(x), y(d0))
	p("\tVEXTRACTF128 $1, %s, %s", y(x), xr(d1))
	p("\tVCVTPS2PD %s, %s", xr(d1), y(d1))
	halves := [2][3]int{{d0, t[2], t[3]}, {d1, t[4], t[5]}}
	for _, h := range halves {
		d, k, q := h[0], h[1], h[2]
		p("\tVMULPD %s, %s, %s", c64("log2e"), y(d), y(k))
		p("\tVADDPD %s, %s, %s", c64("round"), y(k), y(k))
		p("\tVSUBPD %s, %s, %s", c64("round"), y(k), y(k))
		p("\tVMULPD %s, %s, %s", c64("ln2"), y(k), y(q))
		p("\tVSUBPD %s, %s, %s", y(q), y(d), y(d))
		p("\tVMULPD %s, %s, %s", c64("c7"), y(d), y(q))
		for _, c := range []string{"c6", "c5", "c4", "c3", "c2", "one"} {
			p("\tVADDPD %s, %s, %s", c64(c), y(q), y(q))
			p("\tVMULPD %s, %s, %s", y(d), y(q), y(q))
		}
		p("\tVADDPD %s, %s, %s", c64("one"), y(q), y(q))
		p("\tVADDPD %s, %s, %s", c64("magic"), y(k), y(k))
		p("\tVPSLLQ $52, %s, %s", y(k), y(k))
		p("\tVMULPD %s, %s, %s", y(k), y(q), y(q))
	}
	p("\tVCVTPD2PSY %s, %s", y(t[3]), xr(out))
	p("\tVCVTPD2PSY %s, %s", y(t[5]), xr(t[5]))
	p("\tVINSERTF128 $1, %s, %s, %s", xr(t[5]), y(out), y(out))
	// t[0], t[1] are free again: masks.
	p("\tVCMPPS $17, %s, %s, %s", c32("lo"), y(x), y(t[0]))
	p("\tVANDNPS %s, %s, %s", y(out), y(t[0]), y(out))
	p("\tVCMPPS $30, %s, %s, %s", c32("hi"), y(x), y(t[0]))
	p("\tVMOVUPS %s, %s", c32("inf"), y(t[1]))
	p("\tVBLENDVPS %s, %s, %s, %s", y(t[0]), y(t[1]), y(out), y(out))
	p("\tVCMPPS $3, %s, %s, %s", y(x), y(x), y(t[0]))
	p("\tVBLENDVPS %s, %s, %s, %s", y(t[0]), y(x), y(out), y(out))
}

// siluMul emits siluMul{ISA}(g, u *float32, n int): g[i] =
// float32(z/(1+expf(−z)))·u[i] with z = g[i], for n a multiple of the
// vector width.
func siluMul(s isa) {
	name := "siluMul" + s.name
	p("// func %s(gp, up *float32, n int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-24", name)
	p("\tMOVQ gp+0(FP), R8")
	p("\tMOVQ up+8(FP), R9")
	p("\tMOVQ n+16(FP), DI")
	p("\tXORQ SI, SI")
	if s.width == 16 {
		expLoad512()
		p("\tVBROADCASTSS %s, Z31", c32("sign"))
	}
	p("loop:")
	p("\tCMPQ SI, DI")
	p("\tJGE done")
	if s.width == 16 {
		p("\tVMOVUPS (R8)(SI*4), Z8")
		p("\tVXORPS Z31, Z8, Z9") // −z
		exp512(9, 10, [6]int{0, 1, 2, 3, 4, 5})
		p("\tVADDPS Z30, Z10, Z10")
		p("\tVDIVPS Z10, Z8, Z10")
		p("\tVMULPS (R9)(SI*4), Z10, Z10")
		p("\tVMOVUPS Z10, (R8)(SI*4)")
		p("\tADDQ $16, SI")
	} else {
		p("\tVMOVUPS (R8)(SI*4), Y8")
		p("\tVXORPS %s, Y8, Y9", c32("sign"))
		exp256(9, 10, [6]int{0, 1, 2, 3, 4, 5})
		p("\tVADDPS %s, Y10, Y10", c32("one"))
		p("\tVDIVPS Y10, Y8, Y10")
		p("\tVMULPS (R9)(SI*4), Y10, Y10")
		p("\tVMOVUPS Y10, (R8)(SI*4)")
		p("\tADDQ $8, SI")
	}
	p("\tJMP loop")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// hmax512 reduces Z(r) to its largest lane in X(r), using Z(t).
func hmax512(r, t int) {
	p("\tVEXTRACTF64X4 $1, Z%d, Y%d", r, t)
	p("\tVMAXPS Y%d, Y%d, Y%d", t, r, r)
	hmax256(r, t)
}

// hmax256 reduces Y(r) to its largest lane in X(r), using Y(t).
func hmax256(r, t int) {
	p("\tVEXTRACTF128 $1, Y%d, X%d", r, t)
	p("\tVMAXPS X%d, X%d, X%d", t, r, r)
	p("\tVPERMILPS $0x4e, X%d, X%d", r, t)
	p("\tVMAXPS X%d, X%d, X%d", t, r, r)
	p("\tVPERMILPS $0xb1, X%d, X%d", r, t)
	p("\tVMAXPS X%d, X%d, X%d", t, r, r)
}

// scaleMax emits scaleMax{ISA}(x *float32, n int, scale float32) float32:
// x[i] ·= scale and the largest result, for n a positive multiple of the
// vector width.
func scaleMax(s isa) {
	name := "scaleMax" + s.name
	R := s.reg
	p("// func %s(x *float32, n int, scale float32) float32", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-28", name)
	p("\tMOVQ x+0(FP), R8")
	p("\tMOVQ n+8(FP), DI")
	p("\tVBROADCASTSS scale+16(FP), %s1", R)
	if s.width == 16 {
		p("\tVBROADCASTSS %s, Z0", c32("ninf"))
	} else {
		p("\tVMOVUPS %s, Y0", c32("ninf"))
	}
	p("\tXORQ SI, SI")
	p("loop:")
	p("\tVMULPS (R8)(SI*4), %s1, %s2", R, R)
	p("\tVMOVUPS %s2, (R8)(SI*4)", R)
	p("\tVMAXPS %s2, %s0, %s0", R, R, R)
	p("\tADDQ $%d, SI", s.width)
	p("\tCMPQ SI, DI")
	p("\tJLT loop")
	if s.width == 16 {
		hmax512(0, 2)
	} else {
		hmax256(0, 2)
	}
	p("\tVMOVSS X0, ret+24(FP)")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// expSubSum emits expSubSum{ISA}(x *float32, n int, mx float32) float64:
// x[i] = expf(x[i] − mx) and the float64 sum of the results (one partial
// sum per float64 lane), for n a multiple of the vector width.
func expSubSum(s isa) {
	name := "expSubSum" + s.name
	p("// func %s(x *float32, n int, mx float32) float64", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-32", name)
	p("\tMOVQ x+0(FP), R8")
	p("\tMOVQ n+8(FP), DI")
	p("\tXORQ SI, SI")
	if s.width == 16 {
		expLoad512()
		p("\tVBROADCASTSS mx+16(FP), Z31")
		p("\tVXORPS Y12, Y12, Y12")
		p("\tVXORPS Y13, Y13, Y13")
		p("loop:")
		p("\tCMPQ SI, DI")
		p("\tJGE done")
		p("\tVMOVUPS (R8)(SI*4), Z8")
		p("\tVSUBPS Z31, Z8, Z8")
		exp512(8, 9, [6]int{0, 1, 2, 3, 4, 5})
		p("\tVMOVUPS Z9, (R8)(SI*4)")
		p("\tVCVTPS2PD Y9, Z10")
		p("\tVEXTRACTF64X4 $1, Z9, Y11")
		p("\tVCVTPS2PD Y11, Z11")
		p("\tVADDPD Z10, Z12, Z12")
		p("\tVADDPD Z11, Z13, Z13")
		p("\tADDQ $16, SI")
		p("\tJMP loop")
		p("done:")
		p("\tVADDPD Z13, Z12, Z12")
		p("\tVEXTRACTF64X4 $1, Z12, Y13")
		p("\tVADDPD Y13, Y12, Y12")
	} else {
		p("\tVBROADCASTSS mx+16(FP), Y15")
		p("\tVXORPS Y12, Y12, Y12")
		p("\tVXORPS Y13, Y13, Y13")
		p("loop:")
		p("\tCMPQ SI, DI")
		p("\tJGE done")
		p("\tVMOVUPS (R8)(SI*4), Y8")
		p("\tVSUBPS Y15, Y8, Y8")
		exp256(8, 9, [6]int{0, 1, 2, 3, 4, 5})
		p("\tVMOVUPS Y9, (R8)(SI*4)")
		p("\tVCVTPS2PD X9, Y10")
		p("\tVEXTRACTF128 $1, Y9, X11")
		p("\tVCVTPS2PD X11, Y11")
		p("\tVADDPD Y10, Y12, Y12")
		p("\tVADDPD Y11, Y13, Y13")
		p("\tADDQ $8, SI")
		p("\tJMP loop")
		p("done:")
		p("\tVADDPD Y13, Y12, Y12")
	}
	p("\tVEXTRACTF128 $1, Y12, X13")
	p("\tVADDPD X13, X12, X12")
	p("\tVPERMILPD $1, X12, X13")
	p("\tVADDSD X13, X12, X12")
	p("\tVMOVSD X12, ret+24(FP)")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// scale emits scale{ISA}(x *float32, n int, s float32): x[i] ·= s, for n
// a multiple of the vector width.
func scale(s isa) {
	name := "scale" + s.name
	R := s.reg
	p("// func %s(x *float32, n int, s float32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-20", name)
	p("\tMOVQ x+0(FP), R8")
	p("\tMOVQ n+8(FP), DI")
	p("\tVBROADCASTSS s+16(FP), %s1", R)
	p("\tXORQ SI, SI")
	p("loop:")
	p("\tCMPQ SI, DI")
	p("\tJGE done")
	p("\tVMULPS (R8)(SI*4), %s1, %s2", R, R)
	p("\tVMOVUPS %s2, (R8)(SI*4)", R)
	p("\tADDQ $%d, SI", s.width)
	p("\tJMP loop")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// softmaxCols emits softmaxCols{ISA}(x *float32, rows, ld int, scale
// float32): the softmax of scale·x down each of the vector-width columns
// at x (rows ≥ 1 rows, ld elements apart), in place, computed per column
// exactly as the scalar softmax of a row: scaled values rounded to
// float32, the maximum subtracted, expf, the sum accumulated in float64
// in row order, and every value multiplied by float32(1/sum).
func softmaxCols(s isa) {
	name := "softmaxCols" + s.name
	p("// func %s(x *float32, rows, ld int, scale float32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-28", name)
	p("\tMOVQ x+0(FP), R8")
	p("\tMOVQ ld+16(FP), R9")
	p("\tSHLQ $2, R9")
	rows := func() { p("\tMOVQ rows+8(FP), CX") }
	if s.width == 16 {
		expLoad512()
		p("\tVBROADCASTSS scale+24(FP), Z31")
		p("\tVBROADCASTSS %s, Z0", c32("ninf"))
		rows()
		p("\tMOVQ R8, R10")
		p("max:")
		p("\tVMULPS (R10), Z31, Z1")
		p("\tVMOVUPS Z1, (R10)")
		p("\tVMAXPS Z1, Z0, Z0")
		p("\tADDQ R9, R10")
		p("\tDECQ CX")
		p("\tJNZ max")
		p("\tVXORPS Y12, Y12, Y12")
		p("\tVXORPS Y13, Y13, Y13")
		rows()
		p("\tMOVQ R8, R10")
		p("exp:")
		p("\tVMOVUPS (R10), Z8")
		p("\tVSUBPS Z0, Z8, Z8")
		exp512(8, 9, [6]int{1, 2, 3, 4, 5, 6})
		p("\tVMOVUPS Z9, (R10)")
		p("\tVCVTPS2PD Y9, Z10")
		p("\tVEXTRACTF64X4 $1, Z9, Y11")
		p("\tVCVTPS2PD Y11, Z11")
		p("\tVADDPD Z10, Z12, Z12")
		p("\tVADDPD Z11, Z13, Z13")
		p("\tADDQ R9, R10")
		p("\tDECQ CX")
		p("\tJNZ exp")
		p("\tVDIVPD Z12, Z25, Z10")
		p("\tVDIVPD Z13, Z25, Z11")
		p("\tVCVTPD2PS Z10, Y10")
		p("\tVCVTPD2PS Z11, Y11")
		p("\tVINSERTF64X4 $1, Y11, Z10, Z10")
		rows()
		p("\tMOVQ R8, R10")
		p("norm:")
		p("\tVMULPS (R10), Z10, Z1")
		p("\tVMOVUPS Z1, (R10)")
		p("\tADDQ R9, R10")
		p("\tDECQ CX")
		p("\tJNZ norm")
	} else {
		p("\tVBROADCASTSS scale+24(FP), Y14")
		p("\tVMOVUPS %s, Y0", c32("ninf"))
		rows()
		p("\tMOVQ R8, R10")
		p("max:")
		p("\tVMULPS (R10), Y14, Y1")
		p("\tVMOVUPS Y1, (R10)")
		p("\tVMAXPS Y1, Y0, Y0")
		p("\tADDQ R9, R10")
		p("\tDECQ CX")
		p("\tJNZ max")
		p("\tVXORPS Y12, Y12, Y12")
		p("\tVXORPS Y13, Y13, Y13")
		rows()
		p("\tMOVQ R8, R10")
		p("exp:")
		p("\tVMOVUPS (R10), Y8")
		p("\tVSUBPS Y0, Y8, Y8")
		exp256(8, 9, [6]int{1, 2, 3, 4, 5, 6})
		p("\tVMOVUPS Y9, (R10)")
		p("\tVCVTPS2PD X9, Y10")
		p("\tVEXTRACTF128 $1, Y9, X11")
		p("\tVCVTPS2PD X11, Y11")
		p("\tVADDPD Y10, Y12, Y12")
		p("\tVADDPD Y11, Y13, Y13")
		p("\tADDQ R9, R10")
		p("\tDECQ CX")
		p("\tJNZ exp")
		p("\tVMOVUPD %s, Y10", c64("one"))
		p("\tVDIVPD Y12, Y10, Y10")
		p("\tVMOVUPD %s, Y11", c64("one"))
		p("\tVDIVPD Y13, Y11, Y11")
		p("\tVCVTPD2PSY Y10, X10")
		p("\tVCVTPD2PSY Y11, X11")
		p("\tVINSERTF128 $1, X11, Y10, Y10")
		rows()
		p("\tMOVQ R8, R10")
		p("norm:")
		p("\tVMULPS (R10), Y10, Y1")
		p("\tVMOVUPS Y1, (R10)")
		p("\tADDQ R9, R10")
		p("\tDECQ CX")
		p("\tJNZ norm")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// nnKernel emits nn{mr}x{nv}{ISA}{B}(a *float32, ais, aps int, b *T, ldb,
// k int, c *float32, ldc, acc int), an outer-product register tile of the
// "NN" product
//
//	c[i·ldc + j] (+)= Σ_p a[i·ais + p·aps] · b[p·ldb + j]   (i < mr, j < nv·width, p < k)
//
// (strides in elements): each step broadcasts one element of each of the
// mr rows of A and multiplies it by nv vectors of a row of B, so every
// output is a float32 sum over p in order. B may be binary16 (converted as
// loaded). With acc the tile is added to C.
func nnKernel(s isa, d dtype, mr, nv int) {
	name := fmt.Sprintf("nn%dx%d%s%s", mr, nv, s.name, d.name)
	R := s.reg
	p("// func %s(a *float32, ais, aps int, b *%s, ldb, k int, c *float32, ldc, acc int)", name, d.gotyp)
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	rows := []string{"R8", "R9", "R10", "R11", "R12", "R13"}[:mr]
	p("\tMOVQ a+0(FP), R8")
	if mr > 1 {
		p("\tMOVQ ais+8(FP), SI")
		p("\tSHLQ $2, SI")
		for i := 1; i < mr; i++ {
			p("\tLEAQ (%s)(SI*1), %s", rows[i-1], rows[i])
		}
	}
	p("\tMOVQ aps+16(FP), AX")
	p("\tSHLQ $2, AX")
	p("\tMOVQ b+24(FP), BX")
	p("\tMOVQ ldb+32(FP), DX")
	p("\tSHLQ $%d, DX", map[int]int{4: 2, 2: 1}[d.scale])
	p("\tMOVQ k+40(FP), CX")
	acc := func(i, v int) int { return i*nv + v }
	nacc := mr * nv
	bReg := func(v int) int { return nacc + v }
	tReg := func(i int) int { return nacc + nv + i%2 }
	if nacc+nv+2 > s.nregs {
		panic(name + ": too many registers")
	}
	for i := 0; i < nacc; i++ {
		if i < 16 {
			p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
		} else {
			p("\tVPXORD Z%d, Z%d, Z%d", i, i, i)
		}
	}
	p("\tTESTQ CX, CX")
	p("\tJZ store")
	vbytes := s.width * 4
	p("loop:")
	for v := 0; v < nv; v++ {
		if d.name == "F32" {
			p("\tVMOVUPS %d(BX), %s%d", v*vbytes, R, bReg(v))
		} else {
			p("\tVCVTPH2PS %d(BX), %s%d", v*s.width*2, R, bReg(v))
		}
	}
	for i := 0; i < mr; i++ {
		p("\tVBROADCASTSS (%s), %s%d", rows[i], R, tReg(i))
		for v := 0; v < nv; v++ {
			p("\tVFMADD231PS %s%d, %s%d, %s%d", R, bReg(v), R, tReg(i), R, acc(i, v))
		}
	}
	for i := 0; i < mr; i++ {
		p("\tADDQ AX, %s", rows[i])
	}
	p("\tADDQ DX, BX")
	p("\tDECQ CX")
	p("\tJNZ loop")
	p("store:")
	p("\tMOVQ c+48(FP), R8")
	p("\tMOVQ ldc+56(FP), SI")
	p("\tSHLQ $2, SI")
	p("\tMOVQ acc+64(FP), DI")
	p("\tTESTQ DI, DI")
	p("\tJNZ accum")
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			p("\tVMOVUPS %s%d, %d(R8)", R, acc(i, v), v*vbytes)
		}
		if i < mr-1 {
			p("\tADDQ SI, R8")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("accum:")
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			p("\tVADDPS %d(R8), %s%d, %s%d", v*vbytes, R, acc(i, v), R, acc(i, v))
			p("\tVMOVUPS %s%d, %d(R8)", R, acc(i, v), v*vbytes)
		}
		if i < mr-1 {
			p("\tADDQ SI, R8")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// toHalf emits toF16{ISA}(dst *uint16, src *float32, n int): dst[i] =
// binary16(src[i]) rounded to nearest even (VCVTPS2PH), for n a multiple
// of the vector width.
func toHalf(s isa) {
	name := "toF16" + s.name
	p("// func %s(dst *uint16, src *float32, n int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-24", name)
	p("\tMOVQ dst+0(FP), R8")
	p("\tMOVQ src+8(FP), R9")
	p("\tMOVQ n+16(FP), DI")
	p("\tXORQ SI, SI")
	p("loop:")
	p("\tCMPQ SI, DI")
	p("\tJGE done")
	if s.width == 16 {
		p("\tVMOVUPS (R9)(SI*4), Z0")
		p("\tVCVTPS2PH $0, Z0, Y1")
		p("\tVMOVDQU Y1, (R8)(SI*2)")
	} else {
		p("\tVMOVUPS (R9)(SI*4), Y0")
		p("\tVCVTPS2PH $0, Y0, X1")
		p("\tVMOVDQU X1, (R8)(SI*2)")
	}
	p("\tADDQ $%d, SI", s.width)
	p("\tJMP loop")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// rope emits rope{ISA}(x1, x2, cos, sin *float32, n int), the rotation of
// rotary position embeddings on n pairs (a multiple of the vector width):
// x1' = x1·cos − x2·sin, x2' = x2·cos + x1·sin, every product rounded to
// float32 before the sum (no fused operation).
func rope(s isa) {
	name := "rope" + s.name
	R := s.reg
	p("// func %s(x1, x2, cos, sin *float32, n int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-40", name)
	p("\tMOVQ x1+0(FP), R8")
	p("\tMOVQ x2+8(FP), R9")
	p("\tMOVQ cos+16(FP), R10")
	p("\tMOVQ sin+24(FP), R11")
	p("\tMOVQ n+32(FP), DI")
	p("\tXORQ SI, SI")
	p("loop:")
	p("\tCMPQ SI, DI")
	p("\tJGE done")
	p("\tVMOVUPS (R8)(SI*4), %s0", R)    // a
	p("\tVMOVUPS (R9)(SI*4), %s1", R)    // b
	p("\tVMOVUPS (R10)(SI*4), %s2", R)   // cos
	p("\tVMOVUPS (R11)(SI*4), %s3", R)   // sin
	p("\tVMULPS %s2, %s0, %s4", R, R, R) // a·cos
	p("\tVMULPS %s3, %s1, %s5", R, R, R) // b·sin
	p("\tVSUBPS %s5, %s4, %s4", R, R, R) // a·cos − b·sin
	p("\tVMULPS %s2, %s1, %s6", R, R, R) // b·cos
	p("\tVMULPS %s3, %s0, %s7", R, R, R) // a·sin
	p("\tVADDPS %s7, %s6, %s6", R, R, R) // b·cos + a·sin
	p("\tVMOVUPS %s4, (R8)(SI*4)", R)
	p("\tVMOVUPS %s6, (R9)(SI*4)", R)
	p("\tADDQ $%d, SI", s.width)
	p("\tJMP loop")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}
