package main

import (
	"context"
	"io"
	"testing"

	"github.com/lvm-go/lvm/internal/demo"
)

// TestRun runs the example end to end on the small golden models.
func TestRun(t *testing.T) {
	out := t.TempDir()
	args := []string{"--model", "../../testdata/llama", "--tokenizer", "../../testdata/vqgan", "--out", out}
	if err := run(context.Background(), args, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := demo.CheckPNGs(out, "answer.png", "overview.png"); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), nil, io.Discard); err == nil {
		t.Error("missing flags accepted")
	}
}
