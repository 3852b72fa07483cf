package sampling_test

import (
	"fmt"

	"github.com/lvm-go/lvm/sampling"
)

// A Sampler draws the next id from a model's logits. The same seed gives
// the same draws on every platform.
func ExampleSampler() {
	logits := []float32{0.1, 2.5, 2.4, -1, 0.3}
	cfg := sampling.Default() // temperature 1, top-k 50, top-p 1, ids ≥ 8192 suppressed
	cfg.TopK = 2
	cfg.Seed = 42
	s, err := sampling.New(cfg)
	if err != nil {
		panic(err)
	}
	counts := map[int]int{}
	for i := 0; i < 1000; i++ {
		id, _ := s.Sample(logits)
		counts[id]++
	}
	// Only the two largest logits (ids 1 and 2) survive top-k 2.
	fmt.Println(len(counts), counts[1] > 0, counts[2] > 0)
	// Output: 2 true true
}

// Greedy decoding takes the arg-max outside the suppressed range.
func ExampleConfig_greedy() {
	s, _ := sampling.New(sampling.Config{Greedy: true, SuppressFrom: 3, SuppressTo: 5})
	id, _ := s.Sample([]float32{0.5, 1.5, 0.2, 9, 9})
	fmt.Println(id)
	// Output: 1
}

func ExampleArgmax() {
	fmt.Println(sampling.Argmax([]float32{3, 1, 7, 7}, 8192, 8292))
	// Output: 2
}
