package tokenizer

// The decoder's last layer (conv_out, 128 → 3 channels at full resolution)
// is a matrix product with three columns, which the register-tiled kernels
// handle poorly. It runs instead on a kernel that takes one output pixel at
// a time: the nine input pixels under the kernel, 32 channels a step,
// against the three output channels' weights (27·Cin floats, which stay in
// the L1 cache), with the sums reduced across the vector lanes at the end.

// useRGBConv reports whether a stride-1 3×3 convolution from cin to cout
// channels runs on the three-output kernel.
func useRGBConv(cin, cout int) bool { return w4Enabled && cout == 3 && cin%32 == 0 }

// rgbConv runs the convolution (stride 1, zero padding 1; cv.rgb set) on
// in, one unit of work per output row.
func (cv *conv) rgbConv(ws *workspace, in act) act {
	H, W, cin := in.h, in.w, in.c
	out := newAct(ws, H, W, 3)
	zeros := ws.get(cin)
	clear(zeros)
	parallelUnits(H, func(y int) {
		run := func(x, n int) {
			var off [9]int
			for ky := 0; ky < 3; ky++ {
				for kx := 0; kx < 3; kx++ {
					yy, xx := y-1+ky, x-1+kx
					off[3*ky+kx] = -1
					if yy >= 0 && yy < H && xx >= 0 && xx < W {
						off[3*ky+kx] = (yy*W + xx) * cin
					}
				}
			}
			rgbRun(out.d[(y*W+x)*3:], in.d, zeros, &off, cin, cv.w, cv.b, n, cin)
		}
		// The first and last pixels of a row see the zero padding; those
		// between read three valid columns.
		run(0, 1)
		if W > 2 {
			run(1, W-2)
		}
		if W > 1 {
			run(W-1, 1)
		}
	})
	ws.put(zeros)
	return out
}

// rgbRun computes n consecutive output pixels of a row: pixel i of the run
// is dst[3i + o] = bias[o] + Σ_t Σ_c in[off[t] + i·step + c]·w[o·9·cin + t·cin + c]
// (taps with off[t] < 0 read zeros).
func rgbRun(dst, in, zeros []float32, off *[9]int, step int, w, bias []float32, n, cin int) {
	if w4Asm {
		rgbConvAsm(dst, in, zeros, off, step, w, bias, n, cin)
		return
	}
	rgbConvGo(dst, in, off, step, w, bias, n, cin)
}

// rgbConvGo is the reference of the three-output kernel: float32 sums in
// order of tap and channel.
func rgbConvGo(dst, in []float32, off *[9]int, step int, w, bias []float32, n, cin int) {
	for i := 0; i < n; i++ {
		var s [3]float32
		for t, o := range off {
			if o < 0 {
				continue
			}
			x := in[o+i*step : o+i*step+cin]
			for oc := range s {
				wr := w[(oc*9+t)*cin : (oc*9+t+1)*cin]
				for c, v := range x {
					s[oc] += v * wr[c]
				}
			}
		}
		for oc := range s {
			dst[3*i+oc] = s[oc] + bias[oc]
		}
	}
}
