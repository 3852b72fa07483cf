package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("perplexity", "perplexity of target token ids given prompt token ids (the paper's metric)", runPerplexity)
}

// runPerplexity implements "lvm perplexity --model DIR --prompt FILE
// --target FILE": both files hold JSON arrays of token ids, one per line,
// concatenated in order; the perplexity is the last line of the output.
func runPerplexity(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("perplexity", stderr)
	model := fs.String("model", "", "transformer checkpoint `DIR` (config.json and weights)")
	promptPath := fs.String("prompt", "", "`FILE` of prompt token ids: JSON arrays, one per line, concatenated in order")
	targetPath := fs.String("target", "", "`FILE` of target token ids, same format")
	threads := fs.Int("threads", 0, "compute threads (0: one per core)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm perplexity --model DIR --prompt FILE --target FILE")
		fmt.Fprintln(stderr, "\nPrints exp(-mean log p(target | prompt)) over all logits, as the last line.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || *promptPath == "" || *targetPath == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --model, --prompt and --target (and no other arguments)", errUsage)
	}
	prompt, err := readTokenFile(*promptPath)
	if err != nil {
		return err
	}
	target, err := readTokenFile(*targetPath)
	if err != nil {
		return err
	}
	kernels.SetThreads(*threads)
	m, err := transformer.Load(*model)
	if err != nil {
		return err
	}
	defer m.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(stdout, "model: %s (%s)\n", *model, m.Config())
	fmt.Fprintf(stdout, "prompt: %d tokens, target: %d tokens\n", len(prompt), len(target))
	ppl, err := m.Perplexity(ctx, prompt, target)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%.6f\n", ppl)
	return nil
}

// readTokenFile reads a file of JSON arrays of token ids, one per line, and
// concatenates them.
func readTokenFile(path string) ([]int, error) {
	lines, err := readTokenLines(path)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, l := range lines {
		ids = append(ids, l...)
	}
	return ids, nil
}
