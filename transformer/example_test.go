package transformer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/transformer"
)

// Load a Hugging Face checkpoint, prefill a prompt, then decode greedily.
// (The fixture is a 2-layer model with random weights.)
func ExampleModel() {
	m, err := transformer.Load("../testdata/llama")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	st := m.NewState()
	if err := m.Prefill(ctx, st, []int{17, 4095, 8000, 3}); err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		next := sampling.Argmax(st.LastLogits(), transformer.LVMCodebookSize, m.Config().VocabSize)
		if err := m.Decode(ctx, st, next); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(st.Len(), len(st.LastLogits()))
	// Output: 9 8292
}

// A State is one sequence's KV cache; Clone lets several continuations
// share one prefill, and DecodeBatch advances them together.
func ExampleState() {
	m, _ := transformer.Load("../testdata/llama")
	defer m.Close()
	ctx := context.Background()
	prompt := m.NewState()
	m.Prefill(ctx, prompt, []int{1, 2, 3, 4, 5, 6})
	a, b := prompt, prompt.Clone()
	m.DecodeBatch(ctx, []*transformer.State{a, b}, []int{100, 200})
	fmt.Println(a.Len(), b.Len())
	a.Reset()
	fmt.Println(a.Len(), a.LastLogits() == nil)
	// Output:
	// 7 7
	// 0 true
}

// Config comes from config.json or a preset of the paper's model sizes.
func ExampleConfig() {
	for _, name := range []string{"300m", "7b"} {
		c, _ := transformer.Preset(name)
		fmt.Printf("%s: D=%d layers=%d heads=%d, %.1fM parameters\n", name, c.HiddenSize, c.NumLayers, c.NumHeads, float64(c.NumParams())/1e6)
	}
	// Output:
	// 300m: D=1024 layers=22 heads=8, 291.0M parameters
	// 7b: D=4096 layers=32 heads=32, 6544.2M parameters
}

// Examples score target images given prompt images, the paper's metric.
func ExampleExample() {
	m, _ := transformer.Load("../testdata/llama")
	defer m.Close()
	ppl, err := m.MeanPerplexity(context.Background(), []transformer.Example{
		{Prompt: []int{1, 2, 3, 4}, Target: []int{5, 6}},
		{Prompt: []int{7, 8}, Target: []int{9, 10, 11}},
	})
	fmt.Println(err == nil, ppl > 1)
	// Output: true true
}
