package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/demo"
	"github.com/lvm-go/lvm/sentence"
)

func TestSynthCommand(t *testing.T) {
	dir := t.TempDir()
	out, sheet := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "s.png")
	// The golden tokenizer takes 64×64 images: 16 tokens each.
	stdout, stderr, code := runCLI(t, "synth", "--tokenizer", vqganDir, "--out", out, "--sheet", sheet, "--sentences", "5", "--max-images", "6")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote 5 sentences") {
		t.Errorf("stdout %q", stdout)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sents, err := sentence.ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(sents) != 5 {
		t.Fatalf("%d sentences", len(sents))
	}
	for i, s := range sents {
		if len(s) == 0 || len(s)%16 != 0 || len(s) > 6*16 {
			t.Errorf("sentence %d: %d tokens", i, len(s))
		}
	}
	if err := demo.CheckPNGs(dir, "s.png"); err != nil {
		t.Error(err)
	}
	if _, _, code := runCLI(t, "synth", "--out", out); code != 2 {
		t.Errorf("--out without --tokenizer: exit %d", code)
	}
}
