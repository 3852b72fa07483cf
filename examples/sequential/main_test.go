package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/demo"
	"github.com/lvm-go/lvm/pretrained"
)

// checkRun runs the example with args into a new directory and checks its
// PNGs: next res×res frames, and an overview of the frames and them.
func checkRun(t *testing.T, res, frames, next int, args ...string) string {
	t.Helper()
	out := t.TempDir()
	var stdout bytes.Buffer
	args = append(args, "--out", out, "--frames", fmt.Sprint(frames), "--next", fmt.Sprint(next))
	if err := run(context.Background(), args, &stdout); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range next {
		names = append(names, fmt.Sprintf("next_%d.png", i))
	}
	names = append(names, "overview.png")
	sizes, err := demo.PNGSizes(out, names...)
	if err != nil {
		t.Fatal(err)
	}
	cell := demo.Cell(res)
	for i, name := range names {
		want := image.Pt(res, res)
		if name == "overview.png" {
			want = image.Pt(frames*cell+demo.CheckerWidth+next*cell, cell)
		}
		if sizes[i] != want {
			t.Errorf("%s is %v, want %v", name, sizes[i], want)
		}
		if !strings.Contains(stdout.String(), name) {
			t.Errorf("stdout does not mention %s:\n%s", name, stdout.String())
		}
	}
	return stdout.String()
}

// TestRun runs the example end to end on the embedded model, with no
// model flags.
func TestRun(t *testing.T) {
	if s := checkRun(t, pretrained.Resolution, 4, 2); !strings.Contains(s, "move, 4 frames: PSNR") {
		t.Errorf("stdout does not score the prediction:\n%s", s)
	}
	checkRun(t, pretrained.Resolution, 3, 1, "--motion", "rotate")
}

// TestRunGolden runs it on the small golden models (64×64 images).
func TestRunGolden(t *testing.T) {
	checkRun(t, 64, 3, 2, "--model", "../../testdata/llama", "--tokenizer", "../../testdata/vqgan")
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--tokenizer", "../../testdata/vqgan"}, "without --model"},
		{[]string{"--motion", "spin"}, "unknown motion"},
		{[]string{"--frames", "15", "--next", "2"}, "at most 16"},
		{[]string{"--next", "0"}, "≥ 1"},
	} {
		err := run(context.Background(), append(tc.args, "--out", t.TempDir()), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.msg)
		}
	}
}
