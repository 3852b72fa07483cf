package half

import (
	"math"
	"testing"
)

// TestF16RoundTrip checks every binary16 value survives f16→f32→f16, which
// pins both directions to the exact IEEE mapping.
func TestF16RoundTrip(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		if f != f { // NaN
			if g := F32ToF16(f); F16ToF32(g) == F16ToF32(g) {
				t.Fatalf("NaN %#04x came back as non-NaN %#04x", h, g)
			}
			continue
		}
		if g := F32ToF16(f); g != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, g)
		}
	}
}

func TestF16KnownValues(t *testing.T) {
	cases := []struct {
		h uint16
		f float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, float32(math.Ldexp(1, -24))},
		{0x0400, float32(math.Ldexp(1, -14))}, {0x3555, 0.333251953125}, {0x7c00, float32(math.Inf(1))},
	}
	for _, c := range cases {
		if got := F16ToF32(c.h); got != c.f {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", c.h, got, c.f)
		}
	}
	// Rounding: halfway between 1 and the next f16 (1+2^-10) rounds to even (1).
	if got := F32ToF16(1 + float32(math.Ldexp(1, -11))); got != 0x3c00 {
		t.Errorf("tie rounding: got %#04x", got)
	}
	if got := F32ToF16(65520); got != 0x7c00 {
		t.Errorf("overflow: got %#04x, want +Inf", got)
	}
	if got := F32ToF16(float32(math.Ldexp(1, -25)) * 1.5); got != 0x0001 {
		t.Errorf("subnormal rounding: got %#04x", got)
	}
}

func TestBF16(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := BF16ToF32(h)
		if f != f {
			continue
		}
		if g := F32ToBF16(f); g != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, g)
		}
	}
	// 1 + 2^-8 is halfway between bf16 1 and 1+2^-7: ties to even gives 1.
	if got := F32ToBF16(1 + 1.0/256); got != 0x3f80 {
		t.Errorf("tie: got %#04x", got)
	}
	if got := F32ToBF16(1 + 3.0/512); got != 0x3f81 {
		t.Errorf("above tie: got %#04x", got)
	}
}
