package eval

import (
	"context"
	"strings"
	"testing"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

// TestRunOnGoldenModels runs the whole protocol on the random-weight golden
// models: the figures are meaningless, but every step must run and the
// report must be complete.
func TestRunOnGoldenModels(t *testing.T) {
	tok, err := tokenizer.Load("../../testdata/vqgan")
	if err != nil {
		t.Fatal(err)
	}
	m, err := transformer.Load("../../testdata/llama")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := lvm.NewPipeline(tok, m)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	rep, err := Run(context.Background(), p, Options{Images: 4, PerTask: 1, Pairs: []int{1, 2}, PPLPerK: 2,
		Progress: func(done, total int) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Analogy) != 8*2 || len(rep.PerplexityByK) != 2 || rep.CodesUsed == 0 {
		t.Fatalf("incomplete report: %+v", rep)
	}
	if rep.CodeStability <= 0 || rep.CodeStability > 1 {
		t.Errorf("code stability %v, want a fraction in (0, 1]", rep.CodeStability)
	}
	if calls != 4+16+4 {
		t.Errorf("%d progress calls, want 24", calls)
	}
	md := rep.Markdown()
	for _, w := range []string{"PSNR", "kept by a second round trip", "| mask | 1 | mask IoU |", "| hflip | 2 | MSE |", "| 2 |"} {
		if !strings.Contains(md, w) {
			t.Errorf("report lacks %q:\n%s", w, md)
		}
	}
	t.Log("\n" + md)
}

func TestBeats(t *testing.T) {
	cases := []struct {
		a    AnalogyScore
		want bool
	}{
		{AnalogyScore{Metric: "MSE", Model: 0.01, Copy: 0.05, Mean: 0.04}, true},
		{AnalogyScore{Metric: "MSE", Model: 0.039, Copy: 0.05, Mean: 0.04}, false},
		{AnalogyScore{Metric: "mask IoU", Model: 0.9, Copy: 0.5, Mean: 0.6}, true},
		{AnalogyScore{Metric: "mask IoU", Model: 0.62, Copy: 0.5, Mean: 0.6}, false},
	}
	for _, c := range cases {
		if got := c.a.Beats(0.1); got != c.want {
			t.Errorf("%+v: Beats = %v", c.a, got)
		}
	}
}
