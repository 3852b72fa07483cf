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
// PNGs: answer.png res×res, overview.png the 7 prompt images and the answer.
func checkRun(t *testing.T, res int, args ...string) string {
	t.Helper()
	out := t.TempDir()
	var stdout bytes.Buffer
	if err := run(context.Background(), append(args, "--out", out), &stdout); err != nil {
		t.Fatal(err)
	}
	sizes, err := demo.PNGSizes(out, "answer.png", "overview.png")
	if err != nil {
		t.Fatal(err)
	}
	cell := demo.Cell(res)
	if want := image.Pt(res, res); sizes[0] != want {
		t.Errorf("answer.png is %v, want %v", sizes[0], want)
	}
	if want := image.Pt(7*cell+demo.CheckerWidth+cell, cell); sizes[1] != want {
		t.Errorf("overview.png is %v, want %v", sizes[1], want)
	}
	for _, name := range []string{"answer.png", "overview.png", "PSNR"} {
		if !strings.Contains(stdout.String(), name) {
			t.Errorf("stdout does not mention %s:\n%s", name, stdout.String())
		}
	}
	return stdout.String()
}

// TestRun runs the example end to end on the embedded model, with no
// model flags.
func TestRun(t *testing.T) {
	a := checkRun(t, pretrained.Resolution)
	if !strings.Contains(a, "invert, 3 pairs") {
		t.Errorf("stdout does not name the task:\n%s", a)
	}
	checkRun(t, pretrained.Resolution, "--task", "vflip", "--scene", "5", "--seed", "2")
}

// TestRunGolden runs it on the small golden models (64×64 images).
func TestRunGolden(t *testing.T) {
	checkRun(t, 64, "--model", "../../testdata/llama", "--tokenizer", "../../testdata/vqgan")
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--model", "../../testdata/llama"}, "without --tokenizer"},
		{[]string{"--tokenizer", "../../testdata/vqgan"}, "without --model"},
		{[]string{"--task", "spin"}, "unknown task"},
		{[]string{"--pairs", "9"}, "pairs"},
	} {
		err := run(context.Background(), append(tc.args, "--out", t.TempDir()), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.msg)
		}
	}
}
