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
func gemmKernel(s isa, d dtype, mr, nr int) {
	name := fmt.Sprintf("gemm%dx%d%s%s", mr, nr, s.name, d.name)
	nargs := mr + nr + 4
	var decl []string
	for i := 0; i < mr; i++ {
		decl = append(decl, fmt.Sprintf("a%d", i))
	}
	for j := 0; j < nr; j++ {
		decl = append(decl, fmt.Sprintf("b%d", j))
	}
	p("// func %s(%s *float32, %s *%s, k int, c *float32, ldc int, acc int)", name,
		strings.Join(decl[:mr], ", "), strings.Join(decl[mr:], ", "), d.gotyp)
	p("TEXT ·%s(SB), NOSPLIT, $0-%d", name, nargs*8)
	off := func(i int) int { return i * 8 }
	kOff, cOff, ldcOff, accOff := off(mr+nr), off(mr+nr+1), off(mr+nr+2), off(mr+nr+3)

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
	for i, r := range rowA {
		p("\tMOVQ a%d+%d(FP), %s", i, off(i), r)
	}
	for j, r := range rowB {
		p("\tMOVQ b%d+%d(FP), %s", j, off(mr+j), r)
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
		p("\tVZEROUPPER")
		p("\tRET")
	}
	p("\tTESTQ R13, R13")
	p("\tJNZ accum")
	emitStores(false)
	p("accum:")
	emitStores(true)
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
	if err := os.WriteFile("kernels_amd64.s", out.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
