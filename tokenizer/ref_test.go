package tokenizer

import (
	"math"
	"strconv"
)

// A naive, independent reference of the VQGAN forward pass for tests: CHW
// layout, float64 throughout, PyTorch weight layout read straight from a
// parameter map, direct convolution loops, no banding, no workspace. It
// follows REFERENCE §2 and open-muse's module structure, not the package's
// code.

type refT struct {
	c, h, w int
	d       []float64 // d[(c·h + y)·w + x]
}

func newRefT(c, h, w int) refT { return refT{c, h, w, make([]float64, c*h*w)} }

func (t refT) at(c, y, x int) float64 { return t.d[(c*t.h+y)*t.w+x] }

func refFromF32(c, h, w int, v []float32) refT {
	t := newRefT(c, h, w)
	for i := range t.d {
		t.d[i] = float64(v[i])
	}
	return t
}

func (t refT) f32() []float32 {
	out := make([]float32, len(t.d))
	for i, v := range t.d {
		out[i] = float32(v)
	}
	return out
}

type refNet struct {
	cfg Config
	p   map[string][]float32
}

// conv is a direct 2-D convolution with bias over x padded by (top, left,
// bottom, right) zeros, with the given stride.
func (r *refNet) conv(x refT, name string, cout, k, stride, pt, pl, pb, pr int) refT {
	w, b := r.p[name+".weight"], r.p[name+".bias"]
	if len(w) != cout*x.c*k*k || len(b) != cout {
		panic("reference: bad parameter " + name)
	}
	ho := (x.h+pt+pb-k)/stride + 1
	wo := (x.w+pl+pr-k)/stride + 1
	out := newRefT(cout, ho, wo)
	for o := 0; o < cout; o++ {
		for y := 0; y < ho; y++ {
			for xx := 0; xx < wo; xx++ {
				s := float64(b[o])
				for i := 0; i < x.c; i++ {
					for ky := 0; ky < k; ky++ {
						iy := y*stride + ky - pt
						if iy < 0 || iy >= x.h {
							continue
						}
						for kx := 0; kx < k; kx++ {
							ix := xx*stride + kx - pl
							if ix < 0 || ix >= x.w {
								continue
							}
							s += float64(w[((o*x.c+i)*k+ky)*k+kx]) * x.at(i, iy, ix)
						}
					}
				}
				out.d[(o*ho+y)*wo+xx] = s
			}
		}
	}
	return out
}

func (r *refNet) conv3(x refT, name string, cout int) refT {
	return r.conv(x, name, cout, 3, 1, 1, 1, 1, 1)
}

func (r *refNet) conv1(x refT, name string, cout int) refT {
	return r.conv(x, name, cout, 1, 1, 0, 0, 0, 0)
}

func (r *refNet) groupNorm(x refT, name string, silu bool) refT {
	g, b := r.p[name+".weight"], r.p[name+".bias"]
	out := newRefT(x.c, x.h, x.w)
	cg := x.c / 32
	hw := x.h * x.w
	for grp := 0; grp < 32; grp++ {
		vals := x.d[grp*cg*hw : (grp+1)*cg*hw]
		var mean, v float64
		for _, a := range vals {
			mean += a
		}
		mean /= float64(len(vals))
		for _, a := range vals {
			v += (a - mean) * (a - mean)
		}
		v /= float64(len(vals))
		for c := grp * cg; c < (grp+1)*cg; c++ {
			for i := 0; i < hw; i++ {
				y := (x.d[c*hw+i]-mean)/math.Sqrt(v+1e-6)*float64(g[c]) + float64(b[c])
				if silu {
					y = y / (1 + math.Exp(-y))
				}
				out.d[c*hw+i] = y
			}
		}
	}
	return out
}

func add(a, b refT) refT {
	out := newRefT(a.c, a.h, a.w)
	for i := range out.d {
		out.d[i] = a.d[i] + b.d[i]
	}
	return out
}

func (r *refNet) resBlock(x refT, name string, cout int) refT {
	h := r.conv3(r.groupNorm(x, name+".norm1", true), name+".conv1", cout)
	h = r.conv3(r.groupNorm(h, name+".norm2", true), name+".conv2", cout)
	if x.c != cout {
		x = r.conv1(x, name+".nin_shortcut", cout)
	}
	return add(x, h)
}

func (r *refNet) attn(x refT, name string) refT {
	hn := r.groupNorm(x, name+".norm", false)
	q := r.conv1(hn, name+".q", x.c)
	k := r.conv1(hn, name+".k", x.c)
	v := r.conv1(hn, name+".v", x.c)
	P := x.h * x.w
	o := newRefT(x.c, x.h, x.w)
	scale := 1 / math.Sqrt(float64(x.c))
	wts := make([]float64, P)
	for i := 0; i < P; i++ {
		m := math.Inf(-1)
		for j := 0; j < P; j++ {
			var s float64
			for c := 0; c < x.c; c++ {
				s += q.d[c*P+i] * k.d[c*P+j]
			}
			wts[j] = s * scale
			m = math.Max(m, wts[j])
		}
		var sum float64
		for j := range wts {
			wts[j] = math.Exp(wts[j] - m)
			sum += wts[j]
		}
		for c := 0; c < x.c; c++ {
			var s float64
			for j := 0; j < P; j++ {
				s += v.d[c*P+j] * wts[j] / sum
			}
			o.d[c*P+i] = s
		}
	}
	return add(x, r.conv1(o, name+".proj_out", x.c))
}

func upsampleNearest(x refT) refT {
	out := newRefT(x.c, 2*x.h, 2*x.w)
	for c := 0; c < x.c; c++ {
		for y := 0; y < out.h; y++ {
			for xx := 0; xx < out.w; xx++ {
				out.d[(c*out.h+y)*out.w+xx] = x.at(c, y/2, xx/2)
			}
		}
	}
	return out
}

func avgPool(x refT) refT {
	out := newRefT(x.c, x.h/2, x.w/2)
	for c := 0; c < x.c; c++ {
		for y := 0; y < out.h; y++ {
			for xx := 0; xx < out.w; xx++ {
				out.d[(c*out.h+y)*out.w+xx] = (x.at(c, 2*y, 2*xx) + x.at(c, 2*y, 2*xx+1) +
					x.at(c, 2*y+1, 2*xx) + x.at(c, 2*y+1, 2*xx+1)) / 4
			}
		}
	}
	return out
}

func (r *refNet) mid(x refT, name string) refT {
	x = r.resBlock(x, name+".block_1", x.c)
	if !r.cfg.NoAttnMidBlock {
		x = r.attn(x, name+".attn_1")
	}
	return r.resBlock(x, name+".block_2", x.c)
}

// latent is encoder + quant_conv.
func (r *refNet) latent(x refT) refT {
	c := r.cfg
	h := r.conv3(x, "encoder.conv_in", c.HiddenChannels)
	res := c.Resolution
	L := len(c.ChannelMult)
	for i := 0; i < L; i++ {
		p := "encoder.down." + strconv.Itoa(i)
		out := c.HiddenChannels * c.ChannelMult[i]
		nAttn := 0
		if c.hasAttn(res) {
			nAttn = c.NumResBlocks
		}
		for j := 0; j < c.NumResBlocks; j++ {
			h = r.resBlock(h, p+".block."+strconv.Itoa(j), out)
			if nAttn > 1 { // open-muse applies level attention only then
				h = r.attn(h, p+".attn."+strconv.Itoa(j))
			}
		}
		if i != L-1 {
			if c.ResampleWithConv {
				h = r.conv(h, p+".downsample.conv", out, 3, 2, 0, 0, 1, 1)
			} else {
				h = avgPool(h)
			}
			res /= 2
		}
	}
	h = r.mid(h, "encoder.mid")
	h = r.conv3(r.groupNorm(h, "encoder.norm_out", true), "encoder.conv_out", c.ZChannels)
	return r.conv1(h, "quant_conv", c.QuantizedEmbedDim)
}

// quantize returns the exact nearest codes and their best/second-best gaps.
func (r *refNet) quantize(z refT) (codes []int, margins []float64) {
	E, K := r.cfg.QuantizedEmbedDim, r.cfg.NumEmbeddings
	cb := r.p["quantize.embedding.weight"]
	P := z.h * z.w
	for p := 0; p < P; p++ {
		best, bestD, second := -1, math.Inf(1), math.Inf(1)
		for j := 0; j < K; j++ {
			var d float64
			for e := 0; e < E; e++ {
				t := z.d[e*P+p] - float64(cb[j*E+e])
				d += t * t
			}
			if d < bestD {
				second = bestD
				best, bestD = j, d
			} else if d < second {
				second = d
			}
		}
		codes = append(codes, best)
		margins = append(margins, second-bestD)
	}
	return codes, margins
}

// decode is codebook lookup, post_quant_conv and the decoder, for a g×g grid.
func (r *refNet) decode(codes []int, gh, gw int) refT {
	c := r.cfg
	E := c.QuantizedEmbedDim
	cb := r.p["quantize.embedding.weight"]
	z := newRefT(E, gh, gw)
	for p, id := range codes {
		for e := 0; e < E; e++ {
			z.d[e*gh*gw+p] = float64(cb[id*E+e])
		}
	}
	L := len(c.ChannelMult)
	top := c.HiddenChannels * c.ChannelMult[L-1]
	h := r.conv1(z, "post_quant_conv", c.ZChannels)
	h = r.conv3(h, "decoder.conv_in", top)
	h = r.mid(h, "decoder.mid")
	res := c.Resolution >> (L - 1)
	for i := L - 1; i >= 0; i-- {
		p := "decoder.up." + strconv.Itoa(i)
		out := c.HiddenChannels * c.ChannelMult[i]
		nAttn := 0
		if c.hasAttn(res) {
			nAttn = c.NumResBlocks + 1
		}
		for j := 0; j < c.NumResBlocks+1; j++ {
			h = r.resBlock(h, p+".block."+strconv.Itoa(j), out)
			if nAttn > 1 {
				h = r.attn(h, p+".attn."+strconv.Itoa(j))
			}
		}
		if i != 0 {
			h = upsampleNearest(h)
			if c.ResampleWithConv {
				h = r.conv3(h, p+".upsample.conv", out)
			}
			res *= 2
		}
	}
	h = r.groupNorm(h, "decoder.norm_out", true)
	return r.conv3(h, "decoder.conv_out", c.NumChannels)
}
