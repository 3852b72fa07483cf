// Package half converts between float32 and the two 16-bit float formats
// found in checkpoints: IEEE 754 binary16 (F16) and bfloat16 (BF16).
//
// Conversions to float32 are exact. Conversions from float32 round to
// nearest, ties to even, as PyTorch's .half() and .bfloat16() do; NaN stays
// NaN and overflow becomes ±Inf.
package half

import "math"

// f16Table holds the float32 bits of every binary16 value; 256 KiB, built
// once, so that F16ToF32 is one load per element.
var f16Table = func() []uint32 {
	t := make([]uint32, 1<<16)
	for i := range t {
		t[i] = f16ToF32Bits(uint16(i))
	}
	return t
}()

func f16ToF32Bits(h uint16) uint32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return sign
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return sign | e<<23 | mant<<13
	case exp == 0x1f:
		return sign | 0xff<<23 | mant<<13
	default:
		return sign | (exp+127-15)<<23 | mant<<13
	}
}

// F16ToF32 returns the float32 value of the binary16 bits h.
func F16ToF32(h uint16) float32 { return math.Float32frombits(f16Table[h]) }

// F32ToF16 rounds f to the nearest binary16 value (ties to even).
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, and up to Inf: both correct
	}
	return sign | uint16(h)
}

// BF16ToF32 returns the float32 value of the bfloat16 bits h.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds f to the nearest bfloat16 value (ties to even).
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it quiet and a NaN
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16sToF32s converts src into dst; len(dst) must be at least len(src).
func F16sToF32s(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = math.Float32frombits(f16Table[h])
	}
}

// BF16sToF32s converts src into dst; len(dst) must be at least len(src).
func BF16sToF32s(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = math.Float32frombits(uint32(h) << 16)
	}
}
