// Package weights reads checkpoint files: safetensors (single file or a
// sharded directory with model.safetensors.index.json) and PyTorch
// torch.save zip archives (pytorch_model.bin) holding a state dict.
//
// Files are memory-mapped read-only where possible, so opening a large
// checkpoint costs neither a copy nor start-up time: a Tensor's Data aliases
// the mapping and stays valid until the Set is closed.
//
// Every reader validates what it maps and returns an error that names the
// file and the tensor at fault; no input, however malformed, makes it panic,
// allocates more than a small multiple of its own size, or runs code: the
// pickle interpreter behind the PyTorch reader only knows the handful of
// globals a state dict needs (see ParseTorch).
//
// Element types are limited to what the LVM checkpoints hold: float32,
// float16 and bfloat16. Other element types are rejected with an error that
// names the tensor and its type.
package weights

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/lvm-go/lvm/internal/half"
)

// DType is the element type of a stored tensor.
type DType uint8

const (
	F32  DType = iota + 1 // IEEE float32, little-endian
	F16                   // IEEE binary16, little-endian
	BF16                  // bfloat16, little-endian
)

// Size is the number of bytes of one element (0 for an unknown DType).
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// String returns the safetensors spelling of d ("F32", "F16", "BF16").
func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case BF16:
		return "BF16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Tensor is one named, contiguous, row-major tensor of a checkpoint.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	// Data holds the little-endian element bytes, len = NumElements·DType.Size().
	// It usually aliases a read-only memory map: never write to it, and do
	// not use it after the owning Set is closed.
	Data []byte
	// File is the path of the file the tensor was read from (for messages).
	File string
}

// NumElements is the product of Shape (1 for a scalar of shape []).
// It does not check for overflow; tensors made by this package never
// overflow it.
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// check verifies that t's dtype is known and Data has exactly the byte length
// its shape asks for.
func (t *Tensor) check() error {
	if t.DType.Size() == 0 {
		return fmt.Errorf("weights: %s: tensor %q: unknown dtype %v", t.File, t.Name, t.DType)
	}
	n, ok := numElements(t.Shape, t.DType.Size())
	if !ok {
		return fmt.Errorf("weights: %s: tensor %q: invalid shape %v", t.File, t.Name, t.Shape)
	}
	if n*t.DType.Size() != len(t.Data) {
		return fmt.Errorf("weights: %s: tensor %q: shape %v of %v needs %d bytes, data has %d",
			t.File, t.Name, t.Shape, t.DType, n*t.DType.Size(), len(t.Data))
	}
	return nil
}

// Float32s returns a new []float32 of NumElements values converted from any
// DType (F16 and BF16 exactly, via internal/half). The result never aliases
// Data.
func (t *Tensor) Float32s() ([]float32, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	switch t.DType {
	case F32:
		out := make([]float32, len(t.Data)/4)
		if v, ok := viewF32(t.Data); ok {
			copy(out, v)
			return out, nil
		}
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
		return out, nil
	case F16, BF16:
		u := t.uint16s()
		out := make([]float32, len(u))
		if t.DType == F16 {
			half.F16sToF32s(out, u)
		} else {
			half.BF16sToF32s(out, u)
		}
		return out, nil
	}
	return nil, fmt.Errorf("weights: %s: tensor %q: cannot convert %v", t.File, t.Name, t.DType)
}

// Uint16s returns the raw 16-bit elements of an F16 or BF16 tensor. The
// result aliases Data (read-only!) when Data is 2-byte aligned on a
// little-endian machine, and is a fresh copy otherwise. F32 tensors give an
// error.
func (t *Tensor) Uint16s() ([]uint16, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.DType != F16 && t.DType != BF16 {
		return nil, fmt.Errorf("weights: %s: tensor %q: Uint16s needs F16 or BF16, tensor is %v", t.File, t.Name, t.DType)
	}
	return t.uint16s(), nil
}

// uint16s views or copies Data as []uint16; len(Data) must be even.
func (t *Tensor) uint16s() []uint16 {
	if v, ok := viewU16(t.Data); ok {
		return v
	}
	out := make([]uint16, len(t.Data)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
	}
	return out
}

// F32View returns the elements of an F32 tensor. The result aliases Data
// (read-only!) when Data is 4-byte aligned on a little-endian machine, and is
// a fresh copy otherwise. Other dtypes give an error (use Float32s).
func (t *Tensor) F32View() ([]float32, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.DType != F32 {
		return nil, fmt.Errorf("weights: %s: tensor %q: F32View needs F32, tensor is %v (use Float32s)", t.File, t.Name, t.DType)
	}
	if v, ok := viewF32(t.Data); ok {
		return v, nil
	}
	return t.Float32s()
}

// littleEndian reports whether the machine stores integers little-endian,
// which is what makes a zero-copy view of file bytes valid.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// viewU16 reinterprets b as []uint16 without copying when that is valid:
// little-endian host and 2-byte aligned address. An empty b gives an empty
// slice.
func viewU16(b []byte) ([]uint16, bool) {
	if len(b) == 0 {
		return []uint16{}, true
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if !littleEndian || uintptr(p)%2 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(p), len(b)/2), true
}

// viewF32 reinterprets b as []float32 without copying when that is valid:
// little-endian host and 4-byte aligned address.
func viewF32(b []byte) ([]float32, bool) {
	if len(b) == 0 {
		return []float32{}, true
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if !littleEndian || uintptr(p)%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(p), len(b)/4), true
}

// numElements multiplies dims, refusing negative dims and any product whose
// byte size (×elemSize) would not fit in an int. A zero dim makes the product
// 0 whatever the others are.
func numElements(shape []int, elemSize int) (int, bool) {
	if elemSize <= 0 {
		return 0, false
	}
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			return 0, true
		}
	}
	limit := math.MaxInt / elemSize
	n := 1
	for _, d := range shape {
		if n > limit/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}
