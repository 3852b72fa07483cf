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

func TestParseMixture(t *testing.T) {
	for _, c := range []struct {
		in   string
		want [3]float64
		ok   bool
	}{
		{"0.3,0.5,0.2", [3]float64{0.3, 0.5, 0.2}, true},
		{"0, 1, 0", [3]float64{0, 1, 0}, true},
		{"1,2", [3]float64{}, false},
		{"0,0,0", [3]float64{}, false},
		{"-1,1,1", [3]float64{}, false},
		{"a,1,1", [3]float64{}, false},
		{"inf,1,1", [3]float64{}, false},
	} {
		m, err := parseMixture(c.in)
		if (err == nil) != c.ok {
			t.Errorf("parseMixture(%q): error %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if c.ok && (m.Sequential != c.want[0] || m.Analogy != c.want[1] || m.Composite != c.want[2]) {
			t.Errorf("parseMixture(%q) = %+v, want %v", c.in, m, c.want)
		}
	}
}
