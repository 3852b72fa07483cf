// Package weights reads checkpoint files: safetensors (single file or a
// sharded directory with model.safetensors.index.json) and PyTorch
// torch.save zip archives (pytorch_model.bin) holding a state dict.
//
// Files are memory-mapped read-only where possible, so opening a large
// checkpoint costs neither a copy nor start-up time: a Tensor's Data aliases
// the mapping and stays valid until the Set is closed.
//
// Every reader validates what it maps and returns an error that names the
// file and the tensor at fault; no input, however malformed, makes it panic.
package weights

import "fmt"

// DType is the element type of a stored tensor.
type DType uint8

const (
	F32  DType = iota + 1 // IEEE float32, little-endian
	F16                   // IEEE binary16, little-endian
	BF16                  // bfloat16, little-endian
)

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

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
