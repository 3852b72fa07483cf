package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/transformer"
)

const llamaDir = "../../testdata/llama"

type llamaGolden struct {
	Prompt     []int   `json:"prompt"`
	Target     []int   `json:"target"`
	Perplexity float64 `json:"perplexity"`
	Greedy     []int   `json:"greedy_256"`
}

func readLlamaGolden(t *testing.T) llamaGolden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(llamaDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g llamaGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// writeImages writes ids as JSON arrays of per ids each, one per line.
func writeImages(t *testing.T, path string, ids []int, per int) {
	t.Helper()
	var b bytes.Buffer
	for i := 0; i < len(ids); i += per {
		line, _ := json.Marshal(ids[i:min(i+per, len(ids))])
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPerplexityCommand(t *testing.T) {
	g := readLlamaGolden(t)
	dir := t.TempDir()
	prompt, target := filepath.Join(dir, "prompt.jsonl"), filepath.Join(dir, "target.jsonl")
	writeImages(t, prompt, g.Prompt, 256)
	writeImages(t, target, g.Target, 100) // line breaks need not follow images
	var out, errOut bytes.Buffer
	if rc := run([]string{"perplexity", "--model", llamaDir, "--prompt", prompt, "--target", target, "--threads", "2"}, &out, &errOut); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	ppl, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	if err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	rel := math.Abs(ppl-g.Perplexity) / g.Perplexity
	t.Logf("lvm perplexity: %v, reference %v, rel err %.3g", ppl, g.Perplexity, rel)
	if rel > 1e-4 {
		t.Errorf("perplexity %v, want %v", ppl, g.Perplexity)
	}
}

func TestPerplexityCommandErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	os.WriteFile(good, []byte("[1, 2, 3]\n"), 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("[1, 2, 99999]\n"), 0o644)
	garbage := filepath.Join(dir, "garbage.jsonl")
	os.WriteFile(garbage, []byte("[1, 2\n"), 0o644)
	cases := []struct {
		name string
		args []string
		rc   int
		msg  string
	}{
		{"no flags", []string{}, 2, "need --model"},
		{"missing target", []string{"--model", llamaDir, "--prompt", good}, 2, "need --model"},
		{"token out of range", []string{"--model", llamaDir, "--prompt", good, "--target", bad}, 1, "token 99999"},
		{"not json", []string{"--model", llamaDir, "--prompt", garbage, "--target", good}, 1, "line 1"},
		{"no model", []string{"--model", dir, "--prompt", good, "--target", good}, 1, "config.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			rc := run(append([]string{"perplexity"}, tc.args...), &out, &errOut)
			if rc != tc.rc || !strings.Contains(errOut.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", rc, errOut.String(), tc.rc, tc.msg)
			}
		})
	}
}

// greedyReference generates n images of per tokens greedily with the
// transformer API, recomputing from scratch for every image with the last
// window images as the prompt.
func greedyReference(t *testing.T, m *transformer.Model, prompt [][]int, n, per, window, codebook int) [][]int {
	t.Helper()
	ctx := context.Background()
	sentence := append([][]int{}, prompt...)
	var out [][]int
	for img := 0; img < n; img++ {
		if len(sentence) > window {
			sentence = sentence[len(sentence)-window:]
		}
		var ids []int
		for _, s := range sentence {
			ids = append(ids, s...)
		}
		st := m.NewState()
		if err := m.Prefill(ctx, st, ids); err != nil {
			t.Fatal(err)
		}
		gen := make([]int, per)
		for i := range gen {
			lg := st.LastLogits()
			best := 0
			for id := 1; id < codebook; id++ {
				if lg[id] > lg[best] {
					best = id
				}
			}
			gen[i] = best
			if err := m.Decode(ctx, st, best); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, gen)
		sentence = append(sentence, gen)
	}
	return out
}

// TestPerplexityData checks data mode's token-weighted aggregate against
// per-sentence TargetNLL calls on the golden model.
func TestPerplexityData(t *testing.T) {
	g := readLlamaGolden(t)
	sents := [][]int{append(append([]int(nil), g.Prompt...), g.Target...), g.Prompt[:300], {5}}
	data := writeJSONL(t, filepath.Join(t.TempDir(), "held.jsonl"), sents)
	var out, errOut bytes.Buffer
	if rc := run([]string{"perplexity", "--model", llamaDir, "--data", data}, &out, &errOut); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	got, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	if err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	m, err := transformer.Load(llamaDir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var nll float64
	n := 0
	for _, s := range sents[:2] { // the one-token sentence predicts nothing
		v, err := m.TargetNLL(context.Background(), s[:1], s[1:])
		if err != nil {
			t.Fatal(err)
		}
		nll += v * float64(len(s)-1)
		n += len(s) - 1
	}
	want := math.Exp(nll / float64(n))
	t.Logf("data perplexity %v, per-sentence reference %v (%s)", got, want, lines[len(lines)-2])
	if math.Abs(got-want) > 1e-6*want || !strings.Contains(out.String(), "2 sentences") {
		t.Errorf("data perplexity %v, want %v; output:\n%s", got, want, out.String())
	}
	if rc := run([]string{"perplexity", "--model", llamaDir, "--data", data, "--prompt", data}, &out, &errOut); rc != 2 {
		t.Errorf("--data with --prompt: exit %d, want 2", rc)
	}
}
