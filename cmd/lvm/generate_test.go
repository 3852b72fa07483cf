package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/transformer"
)

func runGenerateFile(t *testing.T, args ...string) [][]int {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	var stdout, stderr bytes.Buffer
	if rc := run(append([]string{"generate", "--model", llamaDir, "--tokens-out", out, "--threads", "2"}, args...), &stdout, &stderr); rc != 0 {
		t.Fatalf("exit %d: %s", rc, stderr.String())
	}
	lines, err := readTokenLines(out)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestGenerateGreedyGolden checks that token-mode greedy generation of one
// 256-token image reproduces greedy_256 of the golden fixture.
func TestGenerateGreedyGolden(t *testing.T) {
	g := readLlamaGolden(t)
	prompt := filepath.Join(t.TempDir(), "prompt.jsonl")
	writeImages(t, prompt, g.Prompt, 256)
	got := runGenerateFile(t, "--prompt-tokens", prompt, "--greedy", "--tokens-per-image", "256", "--images", "1")
	if len(got) != 1 || len(got[0]) != 256 {
		t.Fatalf("got %d lines", len(got))
	}
	for i := range g.Greedy {
		if got[0][i] != g.Greedy[i] {
			t.Fatalf("token %d: %d, want %d", i, got[0][i], g.Greedy[i])
		}
	}
}

// TestGenerateWindow generates several small images with a 3-image window
// (so it both continues the cache and slides) and compares them with
// per-image recomputation through the transformer API, with a codebook
// limit; and checks that sampling never produces suppressed ids.
func TestGenerateWindow(t *testing.T) {
	g := readLlamaGolden(t)
	const per, codebook = 16, 1000
	prompt := filepath.Join(t.TempDir(), "prompt.jsonl")
	// Prompt ids are codes, so they too lie below the codebook.
	codes := make([]int, 2*per)
	for i := range codes {
		codes[i] = g.Prompt[i] % codebook
	}
	writeImages(t, prompt, codes, per)
	got := runGenerateFile(t, "--prompt-tokens", prompt, "--greedy", "--tokens-per-image", fmt.Sprint(per),
		"--images", "4", "--context-images", "3", "--codebook", fmt.Sprint(codebook))
	m, err := transformer.Load(llamaDir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := greedyReference(t, m, [][]int{codes[:per], codes[per:]}, 4, per, 3, codebook)
	if len(got) != len(want) {
		t.Fatalf("%d images, want %d", len(got), len(want))
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("image %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}

	sampled := runGenerateFile(t, "--prompt-tokens", prompt, "--tokens-per-image", fmt.Sprint(per),
		"--images", "3", "--codebook", "1000", "--top-k", "0", "--temperature", "3", "--seed", "7")
	for i, img := range sampled {
		if len(img) != per {
			t.Errorf("image %d: %d tokens", i, len(img))
		}
		for _, id := range img {
			if id < 0 || id >= codebook {
				t.Errorf("image %d: id %d ≥ --codebook %d", i, id, codebook)
			}
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	dir := t.TempDir()
	prompt := filepath.Join(dir, "p.jsonl")
	writeImages(t, prompt, []int{1, 2, 3, 4, 5, 6, 7, 8}, 4)
	out := filepath.Join(dir, "o.jsonl")
	cases := []struct {
		name string
		args []string
		rc   int
		msg  string
	}{
		{"no flags", nil, 2, "need --out and IMAGE..."},
		{"model without tokenizer", []string{"--model", llamaDir, "--out", dir, "x.png"}, 2, "--model is given without --tokenizer"},
		{"tokenizer without model", []string{"--tokenizer", "../../testdata/vqgan", "--out", dir, "x.png"}, 2, "--tokenizer is given without --model"},
		{"embedded without out", []string{"x.png"}, 2, "image mode needs --out"},
		{"token mode without model", []string{"--prompt-tokens", prompt, "--tokens-out", out}, 2, "need --out and IMAGE"},
		{"wrong image length", []string{"--model", llamaDir, "--prompt-tokens", prompt, "--tokens-out", out, "--tokens-per-image", "5"}, 1, "line 1: 4 tokens"},
		{"codebook too big", []string{"--model", llamaDir, "--prompt-tokens", prompt, "--tokens-out", out, "--tokens-per-image", "4", "--codebook", "9000"}, 1, "vocabulary 8292"},
		{"image length vs flag", []string{"--model", llamaDir, "--prompt-tokens", prompt, "--tokens-out", out, "--tokens-per-image", "3000"}, 1, "want --tokens-per-image 3000"},
		{"bad top-p", []string{"--model", llamaDir, "--prompt-tokens", prompt, "--tokens-out", out, "--tokens-per-image", "4", "--top-p", "0"}, 1, "top-p"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			rc := run(append([]string{"generate"}, tc.args...), &stdout, &stderr)
			if rc != tc.rc || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", rc, stderr.String(), tc.rc, tc.msg)
			}
		})
	}
}
