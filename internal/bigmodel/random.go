package bigmodel

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/lvm-go/lvm/internal/half"
	"github.com/lvm-go/lvm/transformer"
)

// fillRandom writes into dst (len = elements·size of dt) the bytes that
// transformer.RandomTensor(name, shape, dt, seed) returns, about 4× faster
// and without allocating: the pool of 4096 values is converted to the
// storage type once, and each draw of the generator stores 4 elements at
// once. TestFillRandomMatches and FuzzFillRandom hold it to RandomTensor,
// the reference.
func fillRandom(dst []byte, name string, shape []int, dt transformer.DType, seed uint64) error {
	size := 1
	for _, s := range shape {
		size *= s
	}
	var esize int
	switch dt {
	case transformer.F32:
		esize = 4
	case transformer.F16, transformer.BF16:
		esize = 2
	default:
		return fmt.Errorf("bigmodel: unknown dtype %q", dt)
	}
	if len(dst) != size*esize {
		return fmt.Errorf("bigmodel: tensor %s: buffer of %d bytes for %d elements of %s", name, len(dst), size, dt)
	}
	// The parameters and the generator are RandomTensor's.
	scale, offset := 0.1, 1.0
	if len(shape) == 2 {
		scale, offset = math.Sqrt(3/float64(shape[1])), 0
		if name == "model.embed_tokens.weight" {
			scale = 1
		}
	}
	r := seed*0x9e3779b97f4a7c15 | 1
	for _, c := range name {
		r = (r ^ uint64(c)) * 0x100000001b3
	}
	next := func() uint64 {
		r ^= r >> 12
		r ^= r << 25
		r ^= r >> 27
		return r * 2685821657736338717
	}
	var pool [4096]uint32 // the storage bits of each pool value
	for i := range pool {
		v := float32(offset + (float64(next()>>11)/(1<<53)*2-1)*scale)
		switch dt {
		case transformer.F32:
			pool[i] = math.Float32bits(v)
		case transformer.F16:
			pool[i] = uint32(half.F32ToF16(v))
		default:
			pool[i] = uint32(half.F32ToBF16(v))
		}
	}
	full := size &^ 3
	if esize == 2 {
		for i := 0; i < full; i += 4 {
			x := next()
			w := uint64(pool[x&4095]) | uint64(pool[(x>>16)&4095])<<16 |
				uint64(pool[(x>>32)&4095])<<32 | uint64(pool[(x>>48)&4095])<<48
			binary.LittleEndian.PutUint64(dst[2*i:], w)
		}
	} else {
		for i := 0; i < full; i += 4 {
			x := next()
			binary.LittleEndian.PutUint64(dst[4*i:], uint64(pool[x&4095])|uint64(pool[(x>>16)&4095])<<32)
			binary.LittleEndian.PutUint64(dst[4*i+8:], uint64(pool[(x>>32)&4095])|uint64(pool[(x>>48)&4095])<<32)
		}
	}
	if full < size {
		x := next()
		for j := 0; full+j < size; j++ {
			v := pool[(x>>(16*j))&4095]
			if esize == 2 {
				binary.LittleEndian.PutUint16(dst[2*(full+j):], uint16(v))
			} else {
				binary.LittleEndian.PutUint32(dst[4*(full+j):], v)
			}
		}
	}
	return nil
}
