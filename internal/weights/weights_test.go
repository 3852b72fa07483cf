package weights

import (
	"encoding/binary"
	"math"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lvm-go/lvm/internal/half"
)

// f32Bytes encodes v little-endian.
func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// u16Bytes encodes v little-endian.
func u16Bytes(v []uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

// misalign returns a copy of b starting at an odd address.
func misalign(b []byte) []byte {
	buf := make([]byte, len(b)+1)
	out := buf[1:]
	if uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%2 != 0 {
		out = buf[:len(b)]
	}
	copy(out, b)
	return out
}

func aliases[T any](v []T, b []byte) bool {
	return len(v) > 0 && unsafe.Pointer(unsafe.SliceData(v)) == unsafe.Pointer(unsafe.SliceData(b))
}

// TestTensorConversions checks Float32s, Uint16s and F32View for every
// dtype, on aligned data (views must alias) and misaligned data (copies,
// same values), against internal/half for the 16-bit types.
func TestTensorConversions(t *testing.T) {
	vals := []float32{0, 1, -2.5, 65504, 1e-3, float32(math.Inf(-1)), 3.140625}
	f16 := make([]uint16, len(vals))
	bf16 := make([]uint16, len(vals))
	for i, v := range vals {
		f16[i] = half.F32ToF16(v)
		bf16[i] = half.F32ToBF16(v)
	}
	tests := []struct {
		name string
		dt   DType
		data []byte
		want []float32
	}{
		{"F32", F32, f32Bytes(vals), vals},
		{"F16", F16, u16Bytes(f16), func() []float32 { o := make([]float32, len(f16)); half.F16sToF32s(o, f16); return o }()},
		{"BF16", BF16, u16Bytes(bf16), func() []float32 { o := make([]float32, len(bf16)); half.BF16sToF32s(o, bf16); return o }()},
	}
	for _, tc := range tests {
		for _, aligned := range []bool{true, false} {
			data := tc.data
			if !aligned {
				data = misalign(data)
			}
			tn := &Tensor{Name: "t." + tc.name, DType: tc.dt, Shape: []int{len(vals)}, Data: data, File: "mem"}
			got, err := tn.Float32s()
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "%s aligned=%v", tc.name, aligned)
			assert.False(t, aliases(got, data), "Float32s must copy")
			if tc.dt == F32 {
				v, err := tn.F32View()
				require.NoError(t, err)
				assert.Equal(t, tc.want, v)
				assert.Equal(t, aligned, aliases(v, data), "F32View aliasing, aligned=%v", aligned)
				_, err = tn.Uint16s()
				assert.ErrorContains(t, err, "t.F32")
			} else {
				u, err := tn.Uint16s()
				require.NoError(t, err)
				assert.Equal(t, aligned, aliases(u, data), "Uint16s aliasing, aligned=%v", aligned)
				for i, x := range u {
					assert.Equal(t, binary.LittleEndian.Uint16(data[2*i:]), x)
				}
				_, err = tn.F32View()
				assert.ErrorContains(t, err, "t."+tc.name)
			}
		}
	}
}

// TestTensorCheck covers tensors whose Data does not match the shape.
func TestTensorCheck(t *testing.T) {
	tests := []struct {
		name string
		t    Tensor
		ok   bool
	}{
		{"scalar", Tensor{Name: "s", DType: F32, Shape: nil, Data: make([]byte, 4)}, true},
		{"empty", Tensor{Name: "e", DType: F16, Shape: []int{0, 5}, Data: nil}, true},
		{"short", Tensor{Name: "short", DType: F32, Shape: []int{2}, Data: make([]byte, 7)}, false},
		{"negative", Tensor{Name: "neg", DType: F32, Shape: []int{-1}, Data: nil}, false},
		{"overflow", Tensor{Name: "big", DType: F32, Shape: []int{math.MaxInt / 2, 3}, Data: nil}, false},
		{"nodtype", Tensor{Name: "nodt", Shape: []int{1}, Data: make([]byte, 4)}, false},
	}
	for _, tc := range tests {
		_, err := tc.t.Float32s()
		if tc.ok {
			assert.NoError(t, err, tc.name)
		} else {
			assert.ErrorContains(t, err, tc.t.Name, tc.name)
		}
	}
	assert.Equal(t, 1, (&Tensor{}).NumElements())
	assert.Equal(t, 24, (&Tensor{Shape: []int{2, 3, 4}}).NumElements())
	assert.Equal(t, "BF16", BF16.String())
	assert.Equal(t, 0, DType(9).Size())
}
