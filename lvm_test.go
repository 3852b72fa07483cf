package lvm

import (
	"testing"

	"gorgonia.org/tensor"
)

// TestTensorDependencyStarts guards the go.mod pin of
// go4.org/unsafe/assume-no-moving-gc: with the version gorgonia.org/tensor
// v0.9.24 asks for, every program importing tensor panics at start-up on
// Go 1.26, so this test binary would not even reach this line.
func TestTensorDependencyStarts(t *testing.T) {
	d := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	if got := d.Shape(); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("shape = %v, want (2, 3)", got)
	}
	v, err := d.At(1, 2)
	if err != nil || v.(float32) != 6 {
		t.Fatalf("At(1,2) = %v, %v; want 6", v, err)
	}
}
