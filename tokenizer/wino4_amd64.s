//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 kernels of the F(4×4, 3×3) Winograd convolution and of the
// GroupNorm+SiLU pass; wino4.go and norm.go hold their pure-Go references
// (the same arithmetic written per element) and the layouts.

// FMA4(r, z0, …, z3) adds the broadcast r times the four B vectors
// Z24-Z27 to the accumulators z0..z3.
#define FMA4(r, z0, z1, z2, z3) \
	VFMADD231PS Z24, r, z0; \
	VFMADD231PS Z25, r, z1; \
	VFMADD231PS Z26, r, z2; \
	VFMADD231PS Z27, r, z3

// KSTEP is one step of k of the product kernel: the four B vectors of row
// k of the panel against six broadcast values of A.
#define KSTEP \
	VMOVUPS 0(SI), Z24; \
	VMOVUPS 64(SI), Z25; \
	VMOVUPS 128(SI), Z26; \
	VMOVUPS 192(SI), Z27; \
	VBROADCASTSS (R8), Z28; \
	VBROADCASTSS (R8)(AX*1), Z29; \
	FMA4(Z28, Z0, Z1, Z2, Z3); \
	VBROADCASTSS (R8)(AX*2), Z30; \
	FMA4(Z29, Z4, Z5, Z6, Z7); \
	VBROADCASTSS (R9), Z31; \
	FMA4(Z30, Z8, Z9, Z10, Z11); \
	VBROADCASTSS (R9)(AX*1), Z28; \
	FMA4(Z31, Z12, Z13, Z14, Z15); \
	VBROADCASTSS (R9)(AX*2), Z29; \
	FMA4(Z28, Z16, Z17, Z18, Z19); \
	FMA4(Z29, Z20, Z21, Z22, Z23); \
	ADDQ $4, R8; \
	ADDQ $4, R9; \
	ADDQ $256, SI

// STROW stores the four vectors of one C row at DI (and moves DI to the
// next row); ADDROW adds them to it first.
#define STROW(z0, z1, z2, z3) \
	VMOVUPS z0, 0(DI); \
	VMOVUPS z1, 64(DI); \
	VMOVUPS z2, 128(DI); \
	VMOVUPS z3, 192(DI); \
	ADDQ BX, DI

#define ADDROW(z0, z1, z2, z3) \
	VADDPS 0(DI), z0, z0; \
	VADDPS 64(DI), z1, z1; \
	VADDPS 128(DI), z2, z2; \
	VADDPS 192(DI), z3, z3; \
	STROW(z0, z1, z2, z3)

#define ZERO24 \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; VPXORD Z9, Z9, Z9; VPXORD Z10, Z10, Z10; VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; VPXORD Z13, Z13, Z13; VPXORD Z14, Z14, Z14; VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; VPXORD Z17, Z17, Z17; VPXORD Z18, Z18, Z18; VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; VPXORD Z21, Z21, Z21; VPXORD Z22, Z22, Z22; VPXORD Z23, Z23, Z23

// KBLOCK is the number of steps of k summed in registers before they are
// added to C (w4KBlock in wino4.go): shorter chains of float32 additions.
#define KBLOCK $128

// func w4gemmAVX512(a *float32, lda int, b *float32, c *float32, ldc int, k int, mt int, bias *float32)
//
// For each of mt tiles of 6 rows: C[6×64] = A[6×k] · P[k×64] (+ bias[j] in
// column j when bias is not nil), A row-major with row stride lda, P a
// packed panel (k rows of 64 contiguous floats), C with row stride ldc
// (floats). k is summed in blocks of 128 steps: C = ((bias + block₀) +
// block₁) + …. k ≥ 1, mt ≥ 1.
TEXT ·w4gemmAVX512(SB), NOSPLIT, $0-64
	MOVQ a+0(FP), R10
	MOVQ lda+8(FP), AX
	SHLQ $2, AX
	MOVQ b+16(FP), R11
	MOVQ c+24(FP), R12
	MOVQ ldc+32(FP), BX
	SHLQ $2, BX
	MOVQ mt+48(FP), DX

tile:
	MOVQ R10, R8
	LEAQ (R10)(AX*2), R9
	ADDQ AX, R9
	MOVQ R11, SI
	MOVQ k+40(FP), R13
	MOVQ bias+56(FP), DI
	TESTQ DI, DI
	JZ zeroacc
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVAPS Z0, Z4
	VMOVAPS Z1, Z5
	VMOVAPS Z2, Z6
	VMOVAPS Z3, Z7
	VMOVAPS Z0, Z8
	VMOVAPS Z1, Z9
	VMOVAPS Z2, Z10
	VMOVAPS Z3, Z11
	VMOVAPS Z0, Z12
	VMOVAPS Z1, Z13
	VMOVAPS Z2, Z14
	VMOVAPS Z3, Z15
	VMOVAPS Z0, Z16
	VMOVAPS Z1, Z17
	VMOVAPS Z2, Z18
	VMOVAPS Z3, Z19
	VMOVAPS Z0, Z20
	VMOVAPS Z1, Z21
	VMOVAPS Z2, Z22
	VMOVAPS Z3, Z23
	JMP first
zeroacc:
	ZERO24
first:
	MOVQ KBLOCK, CX
	CMPQ R13, CX
	CMOVQLT R13, CX
	SUBQ CX, R13
kloop:
	KSTEP
	DECQ CX
	JNZ kloop
	MOVQ R12, DI
	STROW(Z0, Z1, Z2, Z3)
	STROW(Z4, Z5, Z6, Z7)
	STROW(Z8, Z9, Z10, Z11)
	STROW(Z12, Z13, Z14, Z15)
	STROW(Z16, Z17, Z18, Z19)
	STROW(Z20, Z21, Z22, Z23)
	TESTQ R13, R13
	JZ tiledone

block:
	ZERO24
	MOVQ KBLOCK, CX
	CMPQ R13, CX
	CMOVQLT R13, CX
	SUBQ CX, R13
kloop2:
	KSTEP
	DECQ CX
	JNZ kloop2
	MOVQ R12, DI
	ADDROW(Z0, Z1, Z2, Z3)
	ADDROW(Z4, Z5, Z6, Z7)
	ADDROW(Z8, Z9, Z10, Z11)
	ADDROW(Z12, Z13, Z14, Z15)
	ADDROW(Z16, Z17, Z18, Z19)
	ADDROW(Z20, Z21, Z22, Z23)
	TESTQ R13, R13
	JNZ block

tiledone:
	MOVQ DI, R12
	LEAQ (R10)(AX*4), R10
	LEAQ (R10)(AX*2), R10
	DECQ DX
	JNZ tile
	VZEROUPPER
	RET

// BT6 is the 1-D input transform Bᵀ of F(4,3) with points 0, 1, −1, 2,
// −½, ∞ on six vectors Z0..Z5 (d0..d5), giving Z6..Z11 (v0..v5); Z26..Z29
// hold 1.5, 2, 2.5, 0.5; Z12..Z14 are clobbered.
//
//	v0 = (d0 + d4) − 2·d2 + 1.5·(d1 − d3)
//	v1 = (d4 − d1) − 2.5·d2 − 0.5·d3
//	v2 = (d4 + d1) + 0.5·d2 − 2.5·d3
//	v3 = (d4 − d2) − 0.5·(d1 − d3)
//	v4 = (d4 − d2) + 2·(d1 − d3)
//	v5 = (d1 + d5) − 2·d3 + 1.5·(d2 − d4)
#define BT6 \
	VSUBPS Z3, Z1, Z12; \
	VSUBPS Z2, Z4, Z13; \
	VSUBPS Z4, Z2, Z14; \
	VADDPS Z4, Z0, Z6; \
	VFNMADD231PS Z27, Z2, Z6; \
	VFMADD231PS Z26, Z12, Z6; \
	VSUBPS Z1, Z4, Z7; \
	VFNMADD231PS Z28, Z2, Z7; \
	VFNMADD231PS Z29, Z3, Z7; \
	VADDPS Z1, Z4, Z8; \
	VFMADD231PS Z29, Z2, Z8; \
	VFNMADD231PS Z28, Z3, Z8; \
	VMOVAPS Z13, Z9; \
	VFNMADD231PS Z29, Z12, Z9; \
	VMOVAPS Z13, Z10; \
	VFMADD231PS Z27, Z12, Z10; \
	VADDPS Z5, Z1, Z11; \
	VFNMADD231PS Z27, Z3, Z11; \
	VFMADD231PS Z26, Z14, Z11

// LD6(p, o) loads Z0..Z5 from the six pointers at p+o, p+o+8, … plus CX.
#define LD6(p, o) \
	MOVQ o+0(p), R8; VMOVUPS (R8)(CX*1), Z0; \
	MOVQ o+8(p), R8; VMOVUPS (R8)(CX*1), Z1; \
	MOVQ o+16(p), R8; VMOVUPS (R8)(CX*1), Z2; \
	MOVQ o+24(p), R8; VMOVUPS (R8)(CX*1), Z3; \
	MOVQ o+32(p), R8; VMOVUPS (R8)(CX*1), Z4; \
	MOVQ o+40(p), R8; VMOVUPS (R8)(CX*1), Z5

// ST6T(o) stores Z6..Z11 to the scratch row at DI+o (six vectors).
#define ST6T(o) \
	VMOVUPS Z6, o+0(DI); \
	VMOVUPS Z7, o+64(DI); \
	VMOVUPS Z8, o+128(DI); \
	VMOVUPS Z9, o+192(DI); \
	VMOVUPS Z10, o+256(DI); \
	VMOVUPS Z11, o+320(DI)

// LD6T(o) loads column o/64 of the 6×6 scratch: Z0..Z5 from DI+o+384·i.
#define LD6T(o) \
	VMOVUPS o+0(DI), Z0; \
	VMOVUPS o+384(DI), Z1; \
	VMOVUPS o+768(DI), Z2; \
	VMOVUPS o+1152(DI), Z3; \
	VMOVUPS o+1536(DI), Z4; \
	VMOVUPS o+1920(DI), Z5

// STV stores Z6..Z11 to the slabs R9, R9+6·vs, …  (plus CX), R9 += vs.
#define STV \
	MOVQ R9, R8; \
	VMOVUPS Z6, (R8)(CX*1); ADDQ R10, R8; \
	VMOVUPS Z7, (R8)(CX*1); ADDQ R10, R8; \
	VMOVUPS Z8, (R8)(CX*1); ADDQ R10, R8; \
	VMOVUPS Z9, (R8)(CX*1); ADDQ R10, R8; \
	VMOVUPS Z10, (R8)(CX*1); ADDQ R10, R8; \
	VMOVUPS Z11, (R8)(CX*1); \
	ADDQ R11, R9

// func w4inAVX512(dst *float32, vs, ld int, src *[36]uintptr, step *[36]uintptr, ntiles, nch int, tmp *float32)
//
// For ntiles tiles: V[ξ] = (Bᵀ d B)[ξ] for channels [0, nch) (a multiple
// of 16), d[i][j] read at src[6i+j] (+ channel), stored at dst + ξ·vs
// (bytes). After each tile, dst advances by ld bytes and src[p] by step[p]
// bytes. tmp is 36·16 floats of scratch.
TEXT ·w4inAVX512(SB), NOSPLIT, $0-64
	MOVL $0x3fc00000, AX
	VPBROADCASTD AX, Z26
	MOVL $0x40000000, AX
	VPBROADCASTD AX, Z27
	MOVL $0x40200000, AX
	VPBROADCASTD AX, Z28
	MOVL $0x3f000000, AX
	VPBROADCASTD AX, Z29
	MOVQ dst+0(FP), BX
	MOVQ vs+8(FP), R11
	LEAQ (R11)(R11*2), R10
	ADDQ R10, R10
	MOVQ src+24(FP), SI
	MOVQ tmp+56(FP), DI
	MOVQ ntiles+40(FP), DX
	MOVQ nch+48(FP), R12
	SHLQ $2, R12

intile:
	XORQ CX, CX
inchan:
	LD6(SI, 0)
	BT6
	ST6T(0)
	LD6(SI, 48)
	BT6
	ST6T(384)
	LD6(SI, 96)
	BT6
	ST6T(768)
	LD6(SI, 144)
	BT6
	ST6T(1152)
	LD6(SI, 192)
	BT6
	ST6T(1536)
	LD6(SI, 240)
	BT6
	ST6T(1920)

	MOVQ BX, R9
	LD6T(0)
	BT6
	STV
	LD6T(64)
	BT6
	STV
	LD6T(128)
	BT6
	STV
	LD6T(192)
	BT6
	STV
	LD6T(256)
	BT6
	STV
	LD6T(320)
	BT6
	STV

	ADDQ $64, CX
	CMPQ CX, R12
	JLT inchan

	MOVQ step+32(FP), R13
	XORQ CX, CX
inadv:
	MOVQ (R13)(CX*8), R8
	ADDQ R8, (SI)(CX*8)
	INCQ CX
	CMPQ CX, $36
	JLT inadv
	ADDQ ld+16(FP), BX
	DECQ DX
	JNZ intile
	VZEROUPPER
	RET

// AT6 is the 1-D output transform Aᵀ on Z0..Z5 (m0..m5) giving Z6..Z9
// (y0..y3); Z26..Z31 hold 2, 0.5, 4, 0.25, 8, 0.125; Z12, Z13 clobbered.
//
//	y0 = m0 + (m1 + m2) + m3 + m4
//	y1 = (m1 − m2) + 2·m3 − 0.5·m4
//	y2 = (m1 + m2) + 4·m3 + 0.25·m4
//	y3 = (m1 − m2) + 8·m3 − 0.125·m4 + m5
#define AT6 \
	VADDPS Z2, Z1, Z12; \
	VSUBPS Z2, Z1, Z13; \
	VADDPS Z12, Z0, Z6; \
	VADDPS Z3, Z6, Z6; \
	VADDPS Z4, Z6, Z6; \
	VMOVAPS Z13, Z7; \
	VFMADD231PS Z26, Z3, Z7; \
	VFNMADD231PS Z27, Z4, Z7; \
	VMOVAPS Z12, Z8; \
	VFMADD231PS Z28, Z3, Z8; \
	VFMADD231PS Z29, Z4, Z8; \
	VADDPS Z5, Z13, Z9; \
	VFMADD231PS Z30, Z3, Z9; \
	VFNMADD231PS Z31, Z4, Z9

// LDM6 loads Z0..Z5 from the slabs R9, R9+ms, … (plus CX); R9 += 6·ms.
#define LDM6 \
	VMOVUPS (R9)(CX*1), Z0; ADDQ R11, R9; \
	VMOVUPS (R9)(CX*1), Z1; ADDQ R11, R9; \
	VMOVUPS (R9)(CX*1), Z2; ADDQ R11, R9; \
	VMOVUPS (R9)(CX*1), Z3; ADDQ R11, R9; \
	VMOVUPS (R9)(CX*1), Z4; ADDQ R11, R9; \
	VMOVUPS (R9)(CX*1), Z5; ADDQ R11, R9

// ST4T(o) stores Z6..Z9 to the scratch row at DI+o.
#define ST4T(o) \
	VMOVUPS Z6, o+0(DI); \
	VMOVUPS Z7, o+64(DI); \
	VMOVUPS Z8, o+128(DI); \
	VMOVUPS Z9, o+192(DI)

// LD4T(o) loads column o/64 of the 6×4 scratch: Z0..Z5 from DI+o+256·i.
#define LD4T(o) \
	VMOVUPS o+0(DI), Z0; \
	VMOVUPS o+256(DI), Z1; \
	VMOVUPS o+512(DI), Z2; \
	VMOVUPS o+768(DI), Z3; \
	VMOVUPS o+1024(DI), Z4; \
	VMOVUPS o+1280(DI), Z5

// STY(z, o) stores z + bias (+ residual) to output pointer o/8.
#define STY(z, o) \
	VADDPS Z25, z, z; \
	TESTQ R13, R13; \
	JZ 3(PC); \
	MOVQ o(R13), R8; \
	VADDPS (R8)(CX*1), z, z; \
	MOVQ o(SI), R8; \
	VMOVUPS z, (R8)(CX*1)

// func w4outAVX512(m *float32, ms, ld int, dst, res, step *[16]uintptr, bias *float32, ntiles, nch int, tmp *float32)
//
// For ntiles tiles: Y = Aᵀ M A + bias (+ res) for channels [0, nch) (a
// multiple of 16), M[ξ] read at m + ξ·ms (bytes), output (a, b) written at
// dst[4a+b] (+ channel) after adding res[4a+b] when res is not nil. After
// each tile m advances by ld bytes and dst[p], res[p] by step[p] bytes.
// tmp is 24·16 floats of scratch.
TEXT ·w4outAVX512(SB), NOSPLIT, $0-80
	MOVL $0x40000000, AX
	VPBROADCASTD AX, Z26
	MOVL $0x3f000000, AX
	VPBROADCASTD AX, Z27
	MOVL $0x40800000, AX
	VPBROADCASTD AX, Z28
	MOVL $0x3e800000, AX
	VPBROADCASTD AX, Z29
	MOVL $0x41000000, AX
	VPBROADCASTD AX, Z30
	MOVL $0x3e000000, AX
	VPBROADCASTD AX, Z31
	MOVQ m+0(FP), BX
	MOVQ ms+8(FP), R11
	MOVQ dst+24(FP), SI
	MOVQ res+32(FP), R13
	MOVQ bias+48(FP), R10
	MOVQ ntiles+56(FP), DX
	MOVQ nch+64(FP), R12
	SHLQ $2, R12
	MOVQ tmp+72(FP), DI

outtile:
	XORQ CX, CX
outchan:
	MOVQ BX, R9
	LDM6
	AT6
	ST4T(0)
	LDM6
	AT6
	ST4T(256)
	LDM6
	AT6
	ST4T(512)
	LDM6
	AT6
	ST4T(768)
	LDM6
	AT6
	ST4T(1024)
	LDM6
	AT6
	ST4T(1280)

	VMOVUPS (R10)(CX*1), Z25
	LD4T(0)
	AT6
	STY(Z6, 0)
	STY(Z7, 32)
	STY(Z8, 64)
	STY(Z9, 96)
	LD4T(64)
	AT6
	STY(Z6, 8)
	STY(Z7, 40)
	STY(Z8, 72)
	STY(Z9, 104)
	LD4T(128)
	AT6
	STY(Z6, 16)
	STY(Z7, 48)
	STY(Z8, 80)
	STY(Z9, 112)
	LD4T(192)
	AT6
	STY(Z6, 24)
	STY(Z7, 56)
	STY(Z8, 88)
	STY(Z9, 120)

	ADDQ $64, CX
	CMPQ CX, R12
	JLT outchan

	MOVQ step+40(FP), R9
	XORQ CX, CX
outadv:
	MOVQ (R9)(CX*8), R8
	ADDQ R8, (SI)(CX*8)
	TESTQ R13, R13
	JZ 2(PC)
	ADDQ R8, (R13)(CX*8)
	INCQ CX
	CMPQ CX, $16
	JLT outadv
	ADDQ ld+16(FP), BX
	DECQ DX
	JNZ outtile
	VZEROUPPER
	RET

// NSILU sets Z0 = silu(Z1) (Z1 = y), clobbering Z2-Z5 and K2; the
// constants are in Z16-Z30 (Z30 = 0).
#define NSILU \
	VSUBPS Z1, Z30, Z2; \
	VCMPPS $0x0a, Z16, Z2, K2; \
	VMINPS Z16, Z2, Z2; \
	VMAXPS Z17, Z2, Z2; \
	VMOVAPS Z19, Z3; \
	VFMADD231PS Z18, Z2, Z3; \
	VSUBPS Z19, Z3, Z4; \
	VFNMADD231PS Z20, Z4, Z2; \
	VFNMADD231PS Z21, Z4, Z2; \
	VMOVAPS Z22, Z5; \
	VFMADD213PS Z23, Z2, Z5; \
	VFMADD213PS Z24, Z2, Z5; \
	VFMADD213PS Z25, Z2, Z5; \
	VFMADD213PS Z26, Z2, Z5; \
	VFMADD213PS Z27, Z2, Z5; \
	VMULPS Z2, Z5, Z5; \
	VFMADD213PS Z2, Z2, Z5; \
	VADDPS Z28, Z5, Z5; \
	VPSUBD Z29, Z3, Z3; \
	VPSLLD $23, Z3, Z3; \
	VMULPS Z3, Z5, Z5; \
	VADDPS Z28, Z5, Z5; \
	VDIVPS.Z Z5, Z1, K2, Z0

// func normSiLUAVX512(d, s *float32, rows, c int, mh, ml, sc, beta *float32)
//
// For rows rows of c channels: y = ((s − mh) − ml)·sc + beta and
// d = y / (1 + e^(−y)), with e^x as in exp32 (the argument clamped to
// [−87, 88], and d = 0 where −y > 88; NaN stays NaN).
TEXT ·normSiLUAVX512(SB), NOSPLIT, $0-64
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ rows+16(FP), DX
	MOVQ c+24(FP), R12
	MOVQ mh+32(FP), R8
	MOVQ ml+40(FP), R9
	MOVQ sc+48(FP), R10
	MOVQ beta+56(FP), R11
	// Mask K1 for the last partial vector of a row (c mod 16 lanes).
	MOVQ R12, CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	MOVQ R12, R13
	ANDQ $-16, R13

	MOVL $0x42b00000, AX // 88
	VPBROADCASTD AX, Z16
	MOVL $0xc2ae0000, AX // −87
	VPBROADCASTD AX, Z17
	MOVL $0x3fb8aa3b, AX // log2(e)
	VPBROADCASTD AX, Z18
	MOVL $0x4b400000, AX // 1.5·2²³
	VPBROADCASTD AX, Z19
	MOVL $0x3f318000, AX // ln2Hi
	VPBROADCASTD AX, Z20
	MOVL $0xb95e8083, AX // ln2Lo
	VPBROADCASTD AX, Z21
	MOVL $0x39506967, AX // p5 1.9875691500e-4
	VPBROADCASTD AX, Z22
	MOVL $0x3ab743ce, AX // p4 1.3981999507e-3
	VPBROADCASTD AX, Z23
	MOVL $0x3c088908, AX // p3 8.3334519073e-3
	VPBROADCASTD AX, Z24
	MOVL $0x3d2aa9c1, AX // p2 4.1665795894e-2
	VPBROADCASTD AX, Z25
	MOVL $0x3e2aaaaa, AX // p1 1.6666665459e-1
	VPBROADCASTD AX, Z26
	MOVL $0x3f000000, AX // p0 5.0000001201e-1
	VPBROADCASTD AX, Z27
	MOVL $0x3f800000, AX // 1
	VPBROADCASTD AX, Z28
	MOVL $0x4b3fff81, AX // 0x4b400000 − 127, as an integer
	VPBROADCASTD AX, Z29
	VPXORD Z30, Z30, Z30

nrow:
	XORQ CX, CX
	CMPQ CX, R13
	JGE ntail
nvec:
	VMOVUPS (SI)(CX*4), Z0
	VSUBPS (R8)(CX*4), Z0, Z0
	VSUBPS (R9)(CX*4), Z0, Z0
	VMOVUPS (R11)(CX*4), Z1
	VFMADD231PS (R10)(CX*4), Z0, Z1 // y
	NSILU
	VMOVUPS Z0, (DI)(CX*4)
	ADDQ $16, CX
	CMPQ CX, R13
	JLT nvec
ntail:
	CMPQ CX, R12
	JGE nnext
	VMOVUPS.Z (SI)(CX*4), K1, Z0
	VMOVUPS.Z (R8)(CX*4), K1, Z2
	VSUBPS Z2, Z0, Z0
	VMOVUPS.Z (R9)(CX*4), K1, Z2
	VSUBPS Z2, Z0, Z0
	VMOVUPS.Z (R10)(CX*4), K1, Z2
	VMOVUPS.Z (R11)(CX*4), K1, Z1
	VFMADD231PS Z2, Z0, Z1
	NSILU
	VMOVUPS Z0, K1, (DI)(CX*4)
nnext:
	LEAQ (SI)(R12*4), SI
	LEAQ (DI)(R12*4), DI
	DECQ DX
	JNZ nrow
	VZEROUPPER
	RET

// func colSumAVX512(acc *float64, src *float32, rows, c int)
//
// acc[j] += Σ_r src[r·c + j] in float64, for j < c (a multiple of 8).
TEXT ·colSumAVX512(SB), NOSPLIT, $0-32
	MOVQ acc+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), DX
	MOVQ c+24(FP), R12
	LEAQ (SI)(R12*4), R8
	SHRQ $1, DX
	JZ csone
cspair: // two rows at a time: acc += (r0 + r1)
	XORQ CX, CX
cspairc:
	VCVTPS2PD (SI)(CX*4), Z0
	VCVTPS2PD (R8)(CX*4), Z1
	VADDPD Z1, Z0, Z0
	VADDPD (DI)(CX*8), Z0, Z0
	VMOVUPD Z0, (DI)(CX*8)
	ADDQ $8, CX
	CMPQ CX, R12
	JLT cspairc
	LEAQ (SI)(R12*8), SI
	LEAQ (R8)(R12*8), R8
	DECQ DX
	JNZ cspair
csone:
	MOVQ rows+16(FP), DX
	ANDQ $1, DX
	JZ csdone
	XORQ CX, CX
csonec:
	VCVTPS2PD (SI)(CX*4), Z0
	VADDPD (DI)(CX*8), Z0, Z0
	VMOVUPD Z0, (DI)(CX*8)
	ADDQ $8, CX
	CMPQ CX, R12
	JLT csonec
csdone:
	VZEROUPPER
	RET

// func colSqDevAVX512(acc *float64, src *float32, rows, c int, mean *float64)
//
// acc[j] += Σ_r (src[r·c + j] − mean[j])² in float64, for j < c (a
// multiple of 8).
TEXT ·colSqDevAVX512(SB), NOSPLIT, $0-40
	MOVQ acc+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), DX
	MOVQ c+24(FP), R12
	MOVQ mean+32(FP), R9
	LEAQ (SI)(R12*4), R8
	SHRQ $1, DX
	JZ sqone
sqpair:
	XORQ CX, CX
sqpairc:
	VMOVUPD (R9)(CX*8), Z3
	VCVTPS2PD (SI)(CX*4), Z0
	VCVTPS2PD (R8)(CX*4), Z1
	VSUBPD Z3, Z0, Z0
	VSUBPD Z3, Z1, Z1
	VMULPD Z0, Z0, Z0
	VFMADD231PD Z1, Z1, Z0
	VADDPD (DI)(CX*8), Z0, Z0
	VMOVUPD Z0, (DI)(CX*8)
	ADDQ $8, CX
	CMPQ CX, R12
	JLT sqpairc
	LEAQ (SI)(R12*8), SI
	LEAQ (R8)(R12*8), R8
	DECQ DX
	JNZ sqpair
sqone:
	MOVQ rows+16(FP), DX
	ANDQ $1, DX
	JZ sqdone
	XORQ CX, CX
sqonec:
	VMOVUPD (R9)(CX*8), Z3
	VCVTPS2PD (SI)(CX*4), Z0
	VSUBPD Z3, Z0, Z0
	VMOVUPD (DI)(CX*8), Z1
	VFMADD231PD Z0, Z0, Z1
	VMOVUPD Z1, (DI)(CX*8)
	ADDQ $8, CX
	CMPQ CX, R12
	JLT sqonec
sqdone:
	VZEROUPPER
	RET

// func rgbConvAVX512(dst *float32, src, step *[9]uintptr, w, bias *float32, n, cin int)
//
// The 3×3 convolution to three output channels (the decoder's conv_out):
// for n pixels, dst[3p + o] = bias[o] + Σ_t Σ_c src_t[c]·w[o·9·cin + t·cin + c]
// with src_t the input pixel of tap t (src[t], advancing by step[t] bytes
// a pixel). cin is a multiple of 32; bias holds 4 floats (the last 0).
TEXT ·rgbConvAVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ bias+32(FP), R8
	VMOVUPS (R8), X9
	MOVQ n+40(FP), DX
	MOVQ cin+48(FP), R13
	SHLQ $2, R13
	LEAQ (R13)(R13*8), R12
	LEAQ (R12)(R12*1), R11
	MOVL $7, AX
	KMOVW AX, K1
	VXORPS Y3, Y3, Y3

rgbpix:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	MOVQ w+24(FP), R9
	XORQ BX, BX
rgbtap:
	MOVQ (SI)(BX*8), R8
	XORQ CX, CX
rgbch:
	VMOVUPS (R8)(CX*1), Z4
	VMOVUPS 64(R8)(CX*1), Z8
	LEAQ (R9)(CX*1), R10
	VFMADD231PS (R10), Z4, Z0
	VFMADD231PS (R10)(R12*1), Z4, Z1
	VFMADD231PS (R10)(R11*1), Z4, Z2
	VFMADD231PS 64(R10), Z8, Z5
	VFMADD231PS 64(R10)(R12*1), Z8, Z6
	VFMADD231PS 64(R10)(R11*1), Z8, Z7
	ADDQ $128, CX
	CMPQ CX, R13
	JLT rgbch
	ADDQ R13, R9
	INCQ BX
	CMPQ BX, $9
	JLT rgbtap

	VADDPS Z5, Z0, Z0
	VADDPS Z6, Z1, Z1
	VADDPS Z7, Z2, Z2
	VEXTRACTF64X4 $1, Z0, Y4
	VADDPS Y4, Y0, Y0
	VEXTRACTF64X4 $1, Z1, Y4
	VADDPS Y4, Y1, Y1
	VEXTRACTF64X4 $1, Z2, Y4
	VADDPS Y4, Y2, Y2
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X4
	VADDPS X4, X0, X0
	VADDPS X9, X0, X0
	VMOVUPS Z0, K1, (DI)
	ADDQ $12, DI

	MOVQ step+16(FP), R10
	XORQ BX, BX
rgbadv:
	MOVQ (R10)(BX*8), R8
	ADDQ R8, (SI)(BX*8)
	INCQ BX
	CMPQ BX, $9
	JLT rgbadv
	DECQ DX
	JNZ rgbpix
	VZEROUPPER
	RET
