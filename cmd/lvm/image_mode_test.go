package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/demo"
	"github.com/lvm-go/lvm/pretrained"
	"github.com/lvm-go/lvm/synth"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

const vqganDir = "../../testdata/vqgan"

func TestGenerateImageMode(t *testing.T) {
	imgs := []string{vqganDir + "/exact.png", vqganDir + "/resize.png"}
	gen := func(dir string, extra ...string) string {
		args := append([]string{"generate", "--model", llamaDir, "--tokenizer", vqganDir, "--out", dir,
			"--images", "2", "--candidates", "2", "--seed", "3", "--tokens-out", filepath.Join(dir, "ids.jsonl")}, extra...)
		out, errOut, code := runCLI(t, append(args, imgs...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if !strings.Contains(errOut, "tok/s") || !strings.Contains(errOut, "64/64 tokens") {
			t.Errorf("no progress bar on stderr: %q", errOut)
		}
		return out
	}
	a, b := t.TempDir(), t.TempDir()
	out := gen(a)
	gen(b)
	for _, name := range []string{"c0_000.png", "c0_001.png", "c1_000.png", "c1_001.png", "overview.png", "ids.jsonl"} {
		if !strings.Contains(out, name) && name != "ids.jsonl" {
			t.Errorf("stdout does not list %s:\n%s", name, out)
		}
		fa, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		fb, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(fa, fb) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
	ids, err := readTokenLines(filepath.Join(a, "ids.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 4 {
		t.Fatalf("%d id lines, want 2 candidates × 2 images", len(ids))
	}
	for i, g := range ids {
		for _, id := range g {
			if id < 0 || id >= 512 {
				t.Fatalf("line %d: id %d is not a code of the 512-code tokenizer", i, id)
			}
		}
	}
	if fmt.Sprint(ids[0]) == fmt.Sprint(ids[2]) {
		t.Error("candidates 0 and 1 generated the same first image")
	}

	// Sixteen prompt images do not fit with the image to generate.
	var sixteen []string
	for range 16 {
		sixteen = append(sixteen, imgs[0])
	}
	_, errOut, code := runCLI(t, append([]string{"generate", "--model", llamaDir, "--tokenizer", vqganDir, "--out", t.TempDir(), "--quiet"}, sixteen...)...)
	if code != 1 || !strings.Contains(errOut, "16 images; at most 15") {
		t.Errorf("16 prompt images: exit %d, %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "generate", "--model", llamaDir, "--tokenizer", vqganDir, imgs[0])
	if code != 2 || !strings.Contains(errOut, "--out") {
		t.Errorf("missing --out: exit %d, %q", code, errOut)
	}
}

// TestGenerateEmbedded runs image mode with neither --model nor
// --tokenizer: the embedded synth32 model continues synth frames.
func TestGenerateEmbedded(t *testing.T) {
	dir := t.TempDir()
	g, err := synth.NewGenerator(1, pretrained.Resolution, synth.HeldOut)
	if err != nil {
		t.Fatal(err)
	}
	s, err := g.Sequential(synth.MotionMove, 3)
	if err != nil {
		t.Fatal(err)
	}
	var prompt []string
	for i, img := range s.Images {
		prompt = append(prompt, filepath.Join(dir, fmt.Sprintf("frame%d.png", i)))
		if err := demo.WritePNG(prompt[i], img); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	args := append([]string{"generate", "--out", out, "--images", "2", "--quiet", "--tokens-out", filepath.Join(dir, "ids.jsonl")}, prompt...)
	stdout, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	sizes, err := demo.PNGSizes(out, "000.png", "001.png", "overview.png")
	if err != nil {
		t.Fatal(err)
	}
	res, cell := pretrained.Resolution, demo.Cell(pretrained.Resolution)
	for i, want := range []image.Point{image.Pt(res, res), image.Pt(res, res), image.Pt(3*cell+demo.CheckerWidth+2*cell, cell)} {
		if sizes[i] != want {
			t.Errorf("PNG %d is %v, want %v", i, sizes[i], want)
		}
	}
	if !strings.Contains(stdout, "overview.png") {
		t.Errorf("stdout does not list overview.png:\n%s", stdout)
	}
	ids, err := readTokenLines(filepath.Join(dir, "ids.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || len(ids[0]) != pretrained.TokensPerImage {
		t.Fatalf("%d id lines of %d ids, want 2 of %d", len(ids), len(ids[0]), pretrained.TokensPerImage)
	}
}

func TestPerplexityImageMode(t *testing.T) {
	prompt := []string{vqganDir + "/exact.png", vqganDir + "/resize.png"}
	target := []string{vqganDir + "/exact.decoded.png"}
	args := append([]string{"perplexity", "--model", llamaDir, "--tokenizer", vqganDir, "--prompt"}, prompt...)
	args = append(append(args, "--target"), target...)
	out, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	got, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	if err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}

	// The same figure through the library: tokenize, then Model.Perplexity.
	tok, err := tokenizer.Load(vqganDir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tokenizeFiles(tok, prompt)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := tokenizeFiles(tok, target)
	if err != nil {
		t.Fatal(err)
	}
	m, err := transformer.Load(llamaDir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want, err := m.Perplexity(context.Background(), p, tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image-mode perplexity %.6f, library %.6f", got, want)
	if d := got - want; d > 1e-6*want || d < -1e-6*want {
		t.Errorf("CLI perplexity %v, library %v", got, want)
	}
	_, errOut, code = runCLI(t, "perplexity", "--model", llamaDir, "--tokenizer", vqganDir, "--prompt", prompt[0])
	if code != 2 {
		t.Errorf("missing --target: exit %d, %q", code, errOut)
	}
}
