package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/transformer"
)

// TestTrainCommand trains a tiny model for a few steps on a periodic
// stream, resumes it, and loads the result as an inference model.
func TestTrainCommand(t *testing.T) {
	dir := t.TempDir()
	var sents [][]int
	for s := 0; s < 20; s++ {
		var toks []int
		for i := 0; i < 16; i++ {
			toks = append(toks, (s+i)%5)
		}
		sents = append(sents, toks)
	}
	data := writeJSONL(t, filepath.Join(dir, "train.jsonl"), sents)
	cfg := `{"model_type":"llama","vocab_size":8,"hidden_size":16,"intermediate_size":24,"num_hidden_layers":1,
		"num_attention_heads":2,"max_position_embeddings":16}`
	cfgPath := filepath.Join(dir, "tiny.json")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	out := filepath.Join(dir, "ckpt")
	args := []string{"train", "--data", data, "--config", cfgPath, "--out", out, "--steps", "20", "--rows", "2",
		"--row-len", "8", "--lr", "1e-2", "--checkpoint-every", "10", "--threads", "1"}
	stdout, stderr, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "step 20/20") || !strings.Contains(stderr, "tok/s") || !strings.Contains(stdout, "final loss") {
		t.Errorf("progress/stdout missing:\n%s\n%s", stderr, stdout)
	}
	args[8] = "30" // --steps 30, resumed from step 20
	_, stderr, code = runCLI(t, append(args, "--resume")...)
	if code != 0 || !strings.Contains(stderr, "resuming at step 20") || !strings.Contains(stderr, "step 30/30") {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	m, err := transformer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()

	// A new run from those weights starts at step 0 with a fresh schedule.
	ft := filepath.Join(dir, "ft")
	_, stderr, code = runCLI(t, "train", "--data", data, "--from", out, "--out", ft, "--steps", "5", "--rows", "2",
		"--row-len", "8", "--lr", "1e-3", "--threads", "1")
	if code != 0 || strings.Contains(stderr, "resuming") || !strings.Contains(stderr, "step 5/5") {
		t.Fatalf("--from: exit %d: %s", code, stderr)
	}
	if m, err = transformer.Load(ft); err != nil {
		t.Fatal(err)
	}
	m.Close()
	for _, bad := range [][]string{{"--from", out, "--config", cfgPath}, {"--from", out, "--resume"}, {"--from", filepath.Join(dir, "none")}} {
		a := append([]string{"train", "--data", data, "--out", ft, "--steps", "9", "--row-len", "8"}, bad...)
		if _, stderr, code := runCLI(t, a...); code == 0 {
			t.Errorf("%v accepted: %s", bad, stderr)
		}
	}
	_, stderr, code = runCLI(t, "train", "--data", data, "--out", out, "--steps", "1", "--config", "nosuch")
	if code != 1 || !strings.Contains(stderr, "nosuch") {
		t.Errorf("bad config: exit %d, %s", code, stderr)
	}
}

// TestTrainUntil checks that a run split with --until and --resume writes
// the same checkpoint as an uninterrupted one.
func TestTrainUntil(t *testing.T) {
	dir := t.TempDir()
	var sents [][]int
	for s := 0; s < 20; s++ {
		var toks []int
		for i := 0; i < 16; i++ {
			toks = append(toks, (s*3+i*i)%7)
		}
		sents = append(sents, toks)
	}
	data := writeJSONL(t, filepath.Join(dir, "train.jsonl"), sents)
	cfgPath := filepath.Join(dir, "tiny.json")
	if err := os.WriteFile(cfgPath, []byte(`{"model_type":"llama","vocab_size":8,"hidden_size":16,"intermediate_size":24,
		"num_hidden_layers":1,"num_attention_heads":2,"max_position_embeddings":16}`), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"train", "--data", data, "--config", cfgPath, "--steps", "12", "--rows", "2", "--row-len", "8",
		"--lr", "1e-2", "--threads", "1"}
	checkSplitRun(t, dir, base, 5, 12)
}

// checkSplitRun runs the training command base (flags without --out and
// --until) once whole and once split by --until and --resume, in dir, and
// checks that both write the same model.safetensors, byte for byte.
func checkSplitRun(t *testing.T, dir string, base []string, until, steps int) {
	t.Helper()
	whole, split := filepath.Join(dir, "whole"), filepath.Join(dir, "split")
	if _, stderr, code := runCLI(t, append(base, "--out", whole)...); code != 0 {
		t.Fatalf("whole run: exit %d: %s", code, stderr)
	}
	stdout, stderr, code := runCLI(t, append(base, "--out", split, "--until", fmt.Sprint(until))...)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("stopped after step %d of %d", until, steps)) ||
		strings.Contains(stderr, fmt.Sprintf("step %d/%d", until+1, steps)) {
		t.Fatalf("--until %d: exit %d:\n%s\n%s", until, code, stdout, stderr)
	}
	if _, stderr, code := runCLI(t, append(base, "--out", split, "--resume")...); code != 0 ||
		!strings.Contains(stderr, fmt.Sprintf("resuming at step %d", until)) {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	a, err := os.ReadFile(filepath.Join(whole, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(split, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Error("a run split by --until and --resume differs from the uninterrupted run")
	}
}

// writeJSONL writes sents to path in the trainer's JSON lines and returns
// path.
func writeJSONL(t *testing.T, path string, sents [][]int) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := sentence.WriteJSONL(f, sents...); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
