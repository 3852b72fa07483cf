package main

import (
	"bytes"
	"context"
	"image"
	"io"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/demo"
	"github.com/lvm-go/lvm/pretrained"
)

// checkRun runs the example with args into a new directory and checks its
// PNGs: two res×res steps, and an overview of the 7 prompt images (two
// chains and the query) and the two steps.
func checkRun(t *testing.T, res int, args ...string) string {
	t.Helper()
	out := t.TempDir()
	var stdout bytes.Buffer
	if err := run(context.Background(), append(args, "--out", out), &stdout); err != nil {
		t.Fatal(err)
	}
	sizes, err := demo.PNGSizes(out, "step_0.png", "step_1.png", "overview.png")
	if err != nil {
		t.Fatal(err)
	}
	cell := demo.Cell(res)
	for i, want := range []image.Point{image.Pt(res, res), image.Pt(res, res), image.Pt(7*cell+demo.CheckerWidth+2*cell, cell)} {
		if sizes[i] != want {
			t.Errorf("PNG %d is %v, want %v", i, sizes[i], want)
		}
	}
	for _, name := range []string{"step_0.png", "step_1.png", "overview.png"} {
		if !strings.Contains(stdout.String(), name) {
			t.Errorf("stdout does not mention %s:\n%s", name, stdout.String())
		}
	}
	return stdout.String()
}

// TestRun runs the example end to end on the embedded model, with no
// model flags.
func TestRun(t *testing.T) {
	if s := checkRun(t, pretrained.Resolution); !strings.Contains(s, "hflip then grayscale, 2 chains: PSNR") {
		t.Errorf("stdout does not score the answer:\n%s", s)
	}
}

// TestRunGolden runs it on the small golden models (64×64 images).
func TestRunGolden(t *testing.T) {
	checkRun(t, 64, "--model", "../../testdata/llama", "--tokenizer", "../../testdata/vqgan", "--f", "vflip", "--g", "invert")
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--model", "../../testdata/llama"}, "without --tokenizer"},
		{[]string{"--g", "spin"}, "unknown task"},
		{[]string{"--chains", "5"}, "chains"},
	} {
		err := run(context.Background(), append(tc.args, "--out", t.TempDir()), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.msg)
		}
	}
}
