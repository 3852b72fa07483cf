package tokenizer

import "github.com/lvm-go/lvm/internal/kernels"

// Stride-1 3×3 convolutions (all of the ResnetBlocks' and the upsampling
// ones, ~95% of the VQGAN's arithmetic) that do not run as F(4×4, 3×3)
// (wino4.go: the wide layers at small sizes, and all of them on CPUs
// without AVX-512) run as Winograd F(2×2, 3×3): each
// 2×2 block of outputs comes from a 4×4 input tile d as
//
//	Y = Aᵀ [ U ⊙ V ] A,   U = G g Gᵀ (per kernel, at load time),   V = Bᵀ d B
//
// so the per-channel products become 16 independent matrix products
// M_ξ[tiles × Cout] = V_ξ[tiles × Cin] · U_ξ[Cout × Cin]ᵀ, one per element ξ
// of the 4×4 transform domain: 16 multiplies per 4 outputs instead of 36.
// The transforms only add, subtract and halve, so the results differ from
// direct convolution by a few float32 roundings.
//
//	Bᵀ = | 1  0 -1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
//	     | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 -1 -1 |
//	     | 0 -1  1  0 |        | ½   -½    ½  |
//	     | 0  1  0 -1 |        | 0    0    1  |

// useWinograd reports whether a stride-1 3×3 convolution with these widths
// runs as Winograd: thin ones (the RGB input and output layers) gain
// nothing from it and keep im2col.
func useWinograd(cin, cout int) bool { return cin >= 16 && cout >= 16 }

// winogradWeights transforms PyTorch weights [Cout, Cin, 3, 3] into
// u[ξ][o][i] = (G g_{o,i} Gᵀ)[ξ], [16, Cout, Cin], computed in float64.
// When packed, each U_ξ is then laid out in panels of 64 output channels
// for the packed product kernel (packPanels; Cout padded with zeros to a
// multiple of 64), [16, ⌈Cout/64⌉, Cin, 64].
func winogradWeights(w []float32, cout, cin int, packed bool) []float32 {
	if packed {
		return packedWinoWeights(w, cout, cin, 4)
	}
	G := [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	u := make([]float32, 16*cout*cin)
	kernels.ParallelFor(cout, func(lo, hi int) {
		winogradWeightRows(u, w, &G, lo, hi, cout, cin)
	})
	return u
}

func winogradWeightRows(u, w []float32, G *[4][3]float64, lo, hi, cout, cin int) {
	for o := lo; o < hi; o++ {
		for i := 0; i < cin; i++ {
			g := w[(o*cin+i)*9 : (o*cin+i+1)*9]
			var t [4][3]float64 // G·g
			for r := 0; r < 4; r++ {
				for c := 0; c < 3; c++ {
					t[r][c] = G[r][0]*float64(g[c]) + G[r][1]*float64(g[3+c]) + G[r][2]*float64(g[6+c])
				}
			}
			for r := 0; r < 4; r++ {
				for c := 0; c < 4; c++ { // (G·g)·Gᵀ
					v := t[r][0]*G[c][0] + t[r][1]*G[c][1] + t[r][2]*G[c][2]
					u[((r*4+c)*cout+o)*cin+i] = float32(v)
				}
			}
		}
	}
}

// slabPad separates the 16 per-ξ slabs of the transformed input and output
// by a cache line more than their size: the transforms write (or read) all
// 16 at once, and slabs a power of two apart would contend for the same
// cache sets.
const slabPad = 16

// winograd runs the convolution (stride 1, zero padding 1) on in read
// through nearest-neighbour upsampling by up (1 or 2), adding res if
// non-nil. Tile rows are processed in bands so that the transformed input
// and output stay within bandBudget.
func (cv *conv) winograd(ws *workspace, in act, up int, res []float32) act {
	H, W := in.h*up, in.w*up
	cin, cout := cv.cin, cv.cout
	out := newAct(ws, H, W, cout)
	th, tw := (H+1)/2, (W+1)/2
	// With packed weights the products run on the packed kernel: its
	// output rows are padded to whole panels (ldm) and the tiles to whole
	// register tiles.
	ldm, rt := cout, 1
	if cv.upk {
		ldm, rt = w4ceil(cout, w4Panel)*w4Panel, w4Rows
	}
	rows := max(1, min(th, bandBudget/(16*max(cin, ldm)*tw)))
	ntMax := w4round(rows*tw, rt)
	V := ws.get(16 * (ntMax*cin + slabPad))
	M := ws.get(16 * (ntMax*ldm + slabPad))
	zeros := ws.get(cin)
	clear(zeros)
	for ty0 := 0; ty0 < th; ty0 += rows {
		ty1 := min(th, ty0+rows)
		nt := (ty1 - ty0) * tw
		ntP := w4round(nt, rt)
		vs, ms := ntP*cin+slabPad, ntP*ldm+slabPad
		winoInput(V, vs, in, up, zeros, ty0, tw, nt)
		if cv.upk {
			for x := 0; x < 16; x++ {
				clear(V[x*vs+nt*cin : x*vs+ntP*cin])
			}
			w4Products(M, ms, ldm, V, vs, cin, cin, cv.u, w4ceil(cout, w4Panel), ntP, 16)
		} else {
			for x := 0; x < 16; x++ {
				gemmNT(M[x*ms:], V[x*vs:], cv.u[x*cout*cin:], nt, cout, cin)
			}
		}
		winoOutput(out, M, ms, ldm, cv.b, res, ty0, tw, nt)
	}
	ws.put(zeros)
	ws.put(M)
	ws.put(V)
	return out
}

// winoInput writes V_ξ = (Bᵀ d B)[ξ] for the nt tiles starting at tile row
// ty0 (tw tiles a row): v[ξ·vs + t·Cin + c], vs ≥ nt·Cin being the slab
// stride. Tile (ty, tx) reads input rows 2ty−1 … 2ty+2 and columns
// 2tx−1 … 2tx+2 of the (upsampled) input, zeros outside it.
func winoInput(v []float32, vs int, in act, up int, zeros []float32, ty0, tw, nt int) {
	cin := in.c
	hl, wl := in.h*up, in.w*up
	kernels.ParallelFor(nt, func(lo, hi int) {
		var src [16][]float32
		for t := lo; t < hi; t++ {
			ty, tx := ty0+t/tw, t%tw
			for i := 0; i < 4; i++ {
				ly := 2*ty - 1 + i
				for j := 0; j < 4; j++ {
					lx := 2*tx - 1 + j
					if ly < 0 || ly >= hl || lx < 0 || lx >= wl {
						src[4*i+j] = zeros[:cin]
					} else {
						o := ((ly/up)*in.w + lx/up) * cin
						src[4*i+j] = in.d[o : o+cin]
					}
				}
			}
			var dst [16][]float32
			for x := range dst {
				o := x*vs + t*cin
				dst[x] = v[o : o+cin]
			}
			transformInput(&dst, &src, cin)
		}
	})
}

// transformInput computes dst[ξ][c] = (Bᵀ d B)[ξ] with d[i][j] = src[4i+j][c].
func transformInput(dst, src *[16][]float32, n int) {
	s00, s01, s02, s03 := src[0][:n], src[1][:n], src[2][:n], src[3][:n]
	s10, s11, s12, s13 := src[4][:n], src[5][:n], src[6][:n], src[7][:n]
	s20, s21, s22, s23 := src[8][:n], src[9][:n], src[10][:n], src[11][:n]
	s30, s31, s32, s33 := src[12][:n], src[13][:n], src[14][:n], src[15][:n]
	d00, d01, d02, d03 := dst[0][:n], dst[1][:n], dst[2][:n], dst[3][:n]
	d10, d11, d12, d13 := dst[4][:n], dst[5][:n], dst[6][:n], dst[7][:n]
	d20, d21, d22, d23 := dst[8][:n], dst[9][:n], dst[10][:n], dst[11][:n]
	d30, d31, d32, d33 := dst[12][:n], dst[13][:n], dst[14][:n], dst[15][:n]
	for c := 0; c < n; c++ {
		// Rows: t = Bᵀ d.
		t00, t01, t02, t03 := s00[c]-s20[c], s01[c]-s21[c], s02[c]-s22[c], s03[c]-s23[c]
		t10, t11, t12, t13 := s10[c]+s20[c], s11[c]+s21[c], s12[c]+s22[c], s13[c]+s23[c]
		t20, t21, t22, t23 := s20[c]-s10[c], s21[c]-s11[c], s22[c]-s12[c], s23[c]-s13[c]
		t30, t31, t32, t33 := s10[c]-s30[c], s11[c]-s31[c], s12[c]-s32[c], s13[c]-s33[c]
		// Columns: V = t B.
		d00[c], d01[c], d02[c], d03[c] = t00-t02, t01+t02, t02-t01, t01-t03
		d10[c], d11[c], d12[c], d13[c] = t10-t12, t11+t12, t12-t11, t11-t13
		d20[c], d21[c], d22[c], d23[c] = t20-t22, t21+t22, t22-t21, t21-t23
		d30[c], d31[c], d32[c], d33[c] = t30-t32, t31+t32, t32-t31, t31-t33
	}
}

// winoOutput turns the products m[ξ·ms + t·ldm + o] of the nt tiles
// starting at tile row ty0 into outputs Y = Aᵀ M A plus bias (plus res),
// writing the ones inside out.
func winoOutput(out act, m []float32, ms, ldm int, bias, res []float32, ty0, tw, nt int) {
	cout := out.c
	kernels.ParallelFor(nt, func(lo, hi int) {
		var src [16][]float32
		var dst, rs [4][]float32
		var tmpBuf []float32 // for tiles that straddle the bottom or right edge
		for t := lo; t < hi; t++ {
			ty, tx := ty0+t/tw, t%tw
			for x := range src {
				o := x*ms + t*ldm
				src[x] = m[o : o+cout]
			}
			// Outputs (2ty+a, 2tx+b); those outside the image (odd sizes)
			// are computed into a discard buffer.
			n := 0
			for a := 0; a < 2; a++ {
				for b := 0; b < 2; b++ {
					y, x := 2*ty+a, 2*tx+b
					if y < out.h && x < out.w {
						o := (y*out.w + x) * cout
						dst[2*a+b] = out.d[o : o+cout]
						if res != nil {
							rs[2*a+b] = res[o : o+cout]
						}
						n++
					} else {
						dst[2*a+b] = nil
					}
				}
			}
			if n == 4 {
				transformOutput(&dst, &src, bias, rs, res != nil, cout)
				continue
			}
			if tmpBuf == nil {
				tmpBuf = make([]float32, 4*cout)
			}
			var tmp, trs [4][]float32
			for k := range tmp {
				tmp[k] = tmpBuf[k*cout : (k+1)*cout]
				trs[k] = tmp[k] // discarded anyway where there is no output
				if dst[k] != nil && res != nil {
					trs[k] = rs[k]
				}
			}
			transformOutput(&tmp, &src, bias, trs, res != nil, cout)
			for k := range dst {
				if dst[k] != nil {
					copy(dst[k], tmp[k])
				}
			}
		}
	})
}

// transformOutput computes the four outputs of one tile for n channels:
// dst[2a+b][c] = (Aᵀ M A)[a][b] + bias[c] (+ res[2a+b][c] if addRes) with
// M[i][j] = src[4i+j][c].
func transformOutput(dst *[4][]float32, src *[16][]float32, bias []float32, res [4][]float32, addRes bool, n int) {
	m00, m01, m02, m03 := src[0][:n], src[1][:n], src[2][:n], src[3][:n]
	m10, m11, m12, m13 := src[4][:n], src[5][:n], src[6][:n], src[7][:n]
	m20, m21, m22, m23 := src[8][:n], src[9][:n], src[10][:n], src[11][:n]
	m30, m31, m32, m33 := src[12][:n], src[13][:n], src[14][:n], src[15][:n]
	y00, y01, y10, y11 := dst[0][:n], dst[1][:n], dst[2][:n], dst[3][:n]
	bias = bias[:n]
	for c := 0; c < n; c++ {
		// Rows: s = Aᵀ M (2×4).
		s00 := m00[c] + m10[c] + m20[c]
		s01 := m01[c] + m11[c] + m21[c]
		s02 := m02[c] + m12[c] + m22[c]
		s03 := m03[c] + m13[c] + m23[c]
		s10 := m10[c] - m20[c] - m30[c]
		s11 := m11[c] - m21[c] - m31[c]
		s12 := m12[c] - m22[c] - m32[c]
		s13 := m13[c] - m23[c] - m33[c]
		// Columns: Y = s A (2×2), then the bias.
		b := bias[c]
		y00[c] = (s00 + s01 + s02) + b
		y01[c] = (s01 - s02 - s03) + b
		y10[c] = (s10 + s11 + s12) + b
		y11[c] = (s11 - s12 - s13) + b
	}
	if addRes {
		for k := 0; k < 4; k++ {
			y, r := dst[k][:n], res[k][:n]
			for c := range y {
				y[c] += r[c]
			}
		}
	}
}
