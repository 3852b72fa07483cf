package transformer

import (
	"context"
	"sync"
	"testing"
)

// TestConcurrentStates runs several states of one model in parallel
// goroutines (run with -race) and checks each against a sequential run.
func TestConcurrentStates(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	seqs := [][]int{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 1, 4, 1, 5, 9, 2, 6}, {2, 7, 1, 8, 2, 8, 1, 8, 2, 8}}
	run := func(seq []int) []float32 {
		st := m.NewState()
		if err := m.Prefill(ctx, st, seq[:5]); err != nil {
			t.Error(err)
			return nil
		}
		for _, tok := range seq[5:] {
			if err := m.Decode(ctx, st, tok); err != nil {
				t.Error(err)
				return nil
			}
		}
		return append([]float32(nil), st.LastLogits()...)
	}
	want := make([][]float32, len(seqs))
	for i, s := range seqs {
		want[i] = run(s)
	}
	got := make([][]float32, len(seqs))
	var wg sync.WaitGroup
	for i, s := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = run(s)
		}()
	}
	wg.Wait()
	for i := range seqs {
		if !equal(got[i], want[i]) {
			t.Errorf("sequence %d: concurrent run differs from the sequential one", i)
		}
	}
}
