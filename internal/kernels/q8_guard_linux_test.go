//go:build linux

package kernels

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// guardedBytes returns n bytes that end exactly at an inaccessible page.
func guardedBytes(t *testing.T, n int) []byte {
	t.Helper()
	// Reuse guarded's mapping: n bytes as uint16 elements may be one byte
	// longer; take the tail.
	h := guarded[uint16](t, (n+1)/2)
	b := unsafeBytes(h)
	return b[len(b)-n:]
}

// TestQ8NoReadPastEnd puts the Q8 operands against a guard page: the
// activation quantiser and every tile kernel (whole groups and masked
// tails) must not touch a byte past the last one.
func TestQ8NoReadPastEnd(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, isa := range q8Paths() {
		withISA(isa, func() {
			for _, s := range []struct{ m, n, k int }{
				{1, 1, 1}, {1, 4, 32}, {2, 5, 33}, {3, 7, 172}, {1, 8, 512}, {2, 4, 544}, {1, 3, 2688},
			} {
				t.Run(fmt.Sprintf("%s/%dx%dx%d", q8PathName(isa), s.m, s.n, s.k), func(t *testing.T) {
					o := newQ8Operands(t, rng, s.m, s.n, s.k)
					ref := make([]float32, s.m*s.n)
					RefMatMulNTQ8(ref, o.a, o.w, s.m)
					bnd := o.bound()

					// The weight quantiser reading a guarded source.
					wf := guarded[float32](t, len(o.wf))
					copy(wf, o.wf)
					wq := NewQ8Matrix(s.n, s.k)
					for r := 0; r < s.n; r++ {
						if err := wq.SetRow(r, wf[r*s.k:(r+1)*s.k]); err != nil {
							t.Fatal(err)
						}
					}
					if !bytes.Equal(wq.data, o.w.data) {
						t.Fatal("quantising a guarded source gave other bytes")
					}

					w := *o.w
					w.data = guardedBytes(t, len(o.w.data))
					copy(w.data, o.w.data)
					a := guarded[float32](t, len(o.a))
					copy(a, o.a)
					c := guarded[float32](t, s.m*s.n)
					MatMulNTQ8(c, a, &w, s.m)
					for i := range c {
						if e := float64(c[i] - ref[i]); e > relTol*bnd[i]+1e-30 || -e > relTol*bnd[i]+1e-30 {
							t.Fatalf("c[%d] = %g, reference %g", i, c[i], ref[i])
						}
					}

					// The quantiser and the tiles on guarded activation rows.
					nb := ceilDiv(s.k, 32)
					as := q8ActStride(nb)
					var rows [2][]byte
					for i := 0; i < min(2, s.m); i++ {
						rows[i] = guardedBytes(t, as)
						q8QuantizeAct(rows[i], a[i*s.k:(i+1)*s.k], s.k, nb)
					}
					var tile [8]float32
					q8Tile(q8Path(), min(2, s.m), &rows, w.data[len(w.data)-w.tileBytes:], 1, nb, tile[:], 4)
					r0 := (ceilDiv(s.n, 4) - 1) * 4
					for i := 0; i < min(2, s.m); i++ {
						for j := 0; r0+j < s.n; j++ {
							want := ref[i*s.n+r0+j]
							if e := float64(tile[4*i+j] - want); e > relTol*bnd[i*s.n+r0+j]+1e-30 || -e > relTol*bnd[i*s.n+r0+j]+1e-30 {
								t.Fatalf("last tile [%d,%d] = %g, reference %g", i, j, tile[4*i+j], want)
							}
						}
					}
				})
			}
		})
	}
}

// unsafeBytes views a []uint16 as bytes.
func unsafeBytes(h []uint16) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&h[0])), 2*len(h))
}
