package transformer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lvm-go/lvm/internal/kernels"
)

// The Q8 benchmarks run the 300M configuration of REFERENCE §3 with random
// weights quantised to 8 bits (NewRandom(…, Q8, …): 309 MB, read once per
// decode step), on 2 threads:
//
//	go test -run '^$' -bench Q8 -benchtime 1x -count 3 ./transformer
//
// Each reports tokens/s and tokens per CPU-second/2 (tokens/cpu2s: the
// rate on 2 cores left to this process). Issue 5 asks for decode after a
// 256-token prompt at least as fast as llama.cpp Q8_0 on this machine, 90
// tokens/s.

var benchQ8 struct {
	once sync.Once
	m    *Model
	err  error
}

func benchQ8Model(b *testing.B) *Model {
	benchQ8.once.Do(func() {
		c, _ := Preset("300m")
		benchQ8.m, benchQ8.err = NewRandom(c, Q8, 12345)
	})
	if benchQ8.err != nil {
		b.Fatal(benchQ8.err)
	}
	return benchQ8.m
}

// q8BenchTokens returns n deterministic codes.
func q8BenchTokens(n int) []int {
	t := make([]int, n)
	x := uint64(99)
	for i := range t {
		x = x*6364136223846793005 + 1442695040888963407
		t[i] = int(x>>33) % LVMCodebookSize
	}
	return t
}

// q8Report adds the tokens/s and tokens/cpu2s metrics.
func q8Report(b *testing.B, tokens int, wall time.Duration, cpu float64) {
	b.ReportMetric(float64(tokens)/wall.Seconds(), "tokens/s")
	b.ReportMetric(float64(tokens)/(cpu/2), "tokens/cpu2s")
}

// withTwoThreads runs f with the kernels on 2 threads.
func withTwoThreads(f func()) {
	old := kernels.Threads()
	kernels.SetThreads(2)
	defer kernels.SetThreads(old)
	f()
}

// BenchmarkQ8Prefill256 times one prefill of 256 tokens.
func BenchmarkQ8Prefill256(b *testing.B) {
	m := benchQ8Model(b)
	toks := q8BenchTokens(256)
	st := m.NewStateCap(256)
	ctx := context.Background()
	withTwoThreads(func() {
		b.ResetTimer()
		start, cpu0 := time.Now(), q8CPUSeconds()
		for i := 0; i < b.N; i++ {
			st.Reset()
			if err := m.Prefill(ctx, st, toks); err != nil {
				b.Fatal(err)
			}
		}
		q8Report(b, 256*b.N, time.Since(start), q8CPUSeconds()-cpu0)
	})
}

// BenchmarkQ8Decode256 times 256 decode steps after a 256-token prompt
// (the prefill is not timed).
func BenchmarkQ8Decode256(b *testing.B) {
	m := benchQ8Model(b)
	toks := q8BenchTokens(512)
	st := m.NewStateCap(512)
	ctx := context.Background()
	withTwoThreads(func() {
		var elapsed time.Duration
		var cpu float64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			st.Reset()
			if err := m.Prefill(ctx, st, toks[:256]); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start, cpu0 := time.Now(), q8CPUSeconds()
			for _, tok := range toks[256:] {
				if err := m.Decode(ctx, st, tok); err != nil {
					b.Fatal(err)
				}
			}
			elapsed += time.Since(start)
			cpu += q8CPUSeconds() - cpu0
		}
		q8Report(b, 256*b.N, elapsed, cpu)
	})
}

// BenchmarkQ8DecodeBatch4 times 256 steps of DecodeBatch over 4 candidates
// cloned from one 256-token prompt; tokens/s counts all 4 × 256 tokens.
func BenchmarkQ8DecodeBatch4(b *testing.B) {
	m := benchQ8Model(b)
	toks := q8BenchTokens(512)
	ctx := context.Background()
	prompt := m.NewStateCap(512)
	withTwoThreads(func() {
		if err := m.Prefill(ctx, prompt, toks[:256]); err != nil {
			b.Fatal(err)
		}
		var elapsed time.Duration
		var cpu float64
		step := make([]int, 4)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			states := []*State{prompt.Clone(), prompt.Clone(), prompt.Clone(), prompt.Clone()}
			b.StartTimer()
			start, cpu0 := time.Now(), q8CPUSeconds()
			for j := 256; j < 512; j++ {
				for k := range step {
					step[k] = toks[(j+97*k)%512]
				}
				if err := m.DecodeBatch(ctx, states, step); err != nil {
					b.Fatal(err)
				}
			}
			elapsed += time.Since(start)
			cpu += q8CPUSeconds() - cpu0
		}
		q8Report(b, 4*256*b.N, elapsed, cpu)
	})
}
