package transformer

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/internal/weights"
)

func tinyConfig() Config {
	return Config{VocabSize: 50, HiddenSize: 16, IntermediateSize: 24, NumLayers: 2,
		NumHeads: 2, NumKVHeads: 2, MaxPositions: 32, RMSNormEps: 1e-6, RopeTheta: 10000}
}

func tinyModel(t *testing.T) *Model {
	t.Helper()
	m, err := newModel(tinyConfig(), randomSource(tinyConfig(), weights.F16, 3))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInputErrors(t *testing.T) {
	m := tinyModel(t)
	other := tinyModel(t)
	ctx := context.Background()
	cases := []struct {
		name    string
		run     func() error
		is      error
		message string
	}{
		{"empty prefill", func() error { return m.Prefill(ctx, m.NewState(), nil) }, ErrEmptyInput, "empty"},
		{"token = V", func() error { return m.Prefill(ctx, m.NewState(), []int{1, 50}) }, ErrBadToken, "token 50 at index 1"},
		{"negative token", func() error { return m.Decode(ctx, m.NewState(), -1) }, ErrBadToken, "token -1"},
		{"longer than max positions", func() error { return m.Prefill(ctx, m.NewState(), make([]int, 33)) }, ErrCacheFull, "32 max positions"},
		{"cache full", func() error {
			st := m.NewStateCap(4)
			if err := m.Prefill(ctx, st, []int{1, 2, 3, 4}); err != nil {
				return err
			}
			return m.Decode(ctx, st, 5)
		}, ErrCacheFull, "capacity 4"},
		{"all logits empty", func() error { _, err := m.PrefillAll(ctx, m.NewState(), nil); return err }, ErrEmptyInput, "empty"},
		{"perplexity empty prompt", func() error { _, err := m.Perplexity(ctx, nil, []int{1}); return err }, ErrEmptyInput, "prompt"},
		{"perplexity empty target", func() error { _, err := m.Perplexity(ctx, []int{1}, nil); return err }, ErrEmptyInput, "target"},
		{"perplexity too long", func() error { _, err := m.Perplexity(ctx, make([]int, 20), make([]int, 13)); return err }, ErrCacheFull, "max positions"},
		{"perplexity bad token", func() error { _, err := m.Perplexity(ctx, []int{1}, []int{99}); return err }, ErrBadToken, "token 99"},
		{"mean of none", func() error { _, err := m.MeanPerplexity(ctx, nil); return err }, ErrEmptyInput, "no examples"},
		{"mean names example", func() error {
			_, err := m.MeanPerplexity(ctx, []Example{{[]int{1}, []int{2}}, {[]int{1}, []int{77}}})
			return err
		}, ErrBadToken, "example 1"},
		{"foreign state", func() error { return m.Decode(ctx, other.NewState(), 1) }, nil, "another model"},
		{"nil state", func() error { return m.Decode(ctx, nil, 1) }, nil, "nil"},
		{"no logits", func() error { _, err := m.NewState().Logits(); return err }, ErrNoLogits, "no logits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
		})
	}
}

// TestInvalidInputKeepsState checks that a rejected call changes nothing.
func TestInvalidInputKeepsState(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	st := m.NewStateCap(6)
	if err := m.Prefill(ctx, st, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	before := append([]float32(nil), st.LastLogits()...)
	if err := m.Prefill(ctx, st, []int{4, 5, 6, 7}); !errors.Is(err, ErrCacheFull) {
		t.Fatalf("err %v", err)
	}
	if err := m.Decode(ctx, st, 1000); !errors.Is(err, ErrBadToken) {
		t.Fatalf("err %v", err)
	}
	if st.Len() != 3 || !equal(st.LastLogits(), before) {
		t.Fatalf("rejected calls changed the state: Len %d", st.Len())
	}
}

// TestCancel checks that a done context stops a prefill with an error
// wrapping it, and that the state is left usable at its previous length.
func TestCancel(t *testing.T) {
	m := tinyModel(t)
	st := m.NewState()
	if err := m.Prefill(context.Background(), st, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Prefill(ctx, st, []int{4, 5, 6, 7})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "layer 0") {
		t.Fatalf("err %v, want context.Canceled at layer 0", err)
	}
	if st.Len() != 3 || st.LastLogits() != nil {
		t.Fatalf("after cancel: Len %d, logits %v", st.Len(), st.LastLogits() != nil)
	}
	if _, err := m.Perplexity(ctx, []int{1}, []int{2}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Perplexity with done ctx: %v", err)
	}
	// Continuing gives what an uninterrupted state gives.
	if err := m.Prefill(context.Background(), st, []int{4, 5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	ref := m.NewState()
	if err := m.Prefill(context.Background(), ref, []int{1, 2, 3, 4, 5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	if a, _ := maxAbsRel(st.LastLogits(), ref.LastLogits()); a > 1e-5 {
		t.Errorf("after cancel and retry: max abs diff %g", a)
	}
}

// TestLoadErrors checks that a checkpoint with a missing or misshapen
// tensor is rejected with an error naming it.
func TestLoadErrors(t *testing.T) {
	c := tinyConfig()
	cases := []struct {
		name    string
		edit    func(memSource)
		message string
	}{
		{"missing lm_head", func(s memSource) { delete(s, "lm_head.weight") }, "lm_head.weight"},
		{"missing layer norm", func(s memSource) { delete(s, "model.layers.1.post_attention_layernorm.weight") }, "model.layers.1.post_attention_layernorm.weight"},
		{"transposed", func(s memSource) {
			tn := s["model.layers.0.mlp.down_proj.weight"]
			tn.Shape = []int{tn.Shape[1], tn.Shape[0]}
		}, "model.layers.0.mlp.down_proj.weight (memory): shape [24 16], want [16 24]"},
		{"short data", func(s memSource) {
			tn := s["model.embed_tokens.weight"]
			tn.Data = tn.Data[:len(tn.Data)-2]
		}, "model.embed_tokens.weight"},
		{"bad dtype", func(s memSource) { s["model.norm.weight"].DType = 0 }, "model.norm.weight"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := randomSource(c, weights.F16, 1)
			tc.edit(src)
			_, err := newModel(c, src)
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %v, want one naming %q", err, tc.message)
			}
		})
	}
	bad := tinyConfig()
	bad.NumKVHeads = 3
	if _, err := newModel(bad, randomSource(c, weights.F16, 1)); err == nil {
		t.Error("newModel with an invalid config: no error")
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("Load of an empty directory: %v", err)
	}
}

// TestDecodeAllocs checks that a decode step allocates nothing once the
// state's buffers exist, on one thread and on two (the pool's helper idle
// between calls, as in a decode loop).
func TestDecodeAllocs(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	st := m.NewState()
	old := kernels.Threads()
	defer kernels.SetThreads(old)
	for _, threads := range []int{1, 2} {
		kernels.SetThreads(threads)
		st.Reset()
		if err := m.Prefill(ctx, st, []int{1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
		if err := m.Decode(ctx, st, 5); err != nil { // grows the buffers to their decode size
			t.Fatal(err)
		}
		i := 0
		allocs := testing.AllocsPerRun(20, func() {
			if err := m.Decode(ctx, st, i%50); err != nil {
				t.Fatal(err)
			}
			i++
		})
		t.Logf("%d threads: %.1f allocations per decode step", threads, allocs)
		if allocs != 0 && !raceEnabled {
			t.Errorf("decode step allocates %.1f times on %d threads", allocs, threads)
		}
	}
}
