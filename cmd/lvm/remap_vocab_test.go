package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

// TestRemapVocabCommand grows a tiny trained tokenizer with --codebook and
// moves a transformer of its vocabulary to the grown codes.
func TestRemapVocabCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeTinyVQGANConfig(t, dir)
	tok, grown := filepath.Join(dir, "tok"), filepath.Join(dir, "grown")
	if _, stderr, code := runCLI(t, "train-tokenizer", "--config", cfgPath, "--out", tok, "--steps", "3", "--batch", "2"); code != 0 {
		t.Fatalf("train-tokenizer: %s", stderr)
	}
	_, stderr, code := runCLI(t, "train-tokenizer", "--from", tok, "--codebook", "24", "--out", grown, "--steps", "2", "--batch", "2")
	if code != 0 || !strings.Contains(stderr, "codebook 24") {
		t.Fatalf("--codebook 24: exit %d: %s", code, stderr)
	}
	if g, err := tokenizer.Load(grown); err != nil || g.Config().NumEmbeddings != 24 {
		t.Fatalf("grown tokenizer: %v", err)
	}
	if _, _, code := runCLI(t, "train-tokenizer", "--config", cfgPath, "--codebook", "24", "--out", grown, "--steps", "2"); code == 0 {
		t.Error("--codebook without --from accepted")
	}

	lm := filepath.Join(dir, "lm")
	tm, err := transformer.NewTrainModel(transformer.Config{VocabSize: 16, HiddenSize: 16, IntermediateSize: 24, NumLayers: 1,
		NumHeads: 2, MaxPositions: 16, RMSNormEps: 1e-6, RopeTheta: 10000}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Save(lm); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "lm24")
	stdout, stderr, code := runCLI(t, "remap-vocab", "--model", lm, "--parent-tokenizer", tok, "--tokenizer", grown, "--out", out, "--images", "16")
	if code != 0 || !strings.Contains(stdout, "24 codes from 16") {
		t.Fatalf("remap-vocab: exit %d: %s%s", code, stdout, stderr)
	}
	m, err := transformer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Config().VocabSize; v != 24 {
		t.Errorf("remapped vocabulary %d, want 24", v)
	}
	m.Close()
	for _, bad := range [][]string{
		{"--model", lm, "--parent-tokenizer", grown, "--tokenizer", tok, "--out", out}, // vocabulary 16, parent codebook 24
		{"--model", lm, "--parent-tokenizer", tok, "--tokenizer", grown, "--out", lm},  // over the model
		{"--model", lm, "--parent-tokenizer", tok, "--out", out},                       // no --tokenizer
	} {
		if _, stderr, code := runCLI(t, append([]string{"remap-vocab"}, bad...)...); code == 0 {
			t.Errorf("%v accepted: %s", bad, stderr)
		}
	}
}
