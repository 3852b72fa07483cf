package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("perplexity", "perplexity of target token ids given prompt token ids (the paper's metric)", runPerplexity)
}

// runPerplexity has two modes. Token mode: "lvm perplexity --model DIR
// --prompt FILE --target FILE", where both files hold JSON arrays of token
// ids, one per line, concatenated in order. Image mode: "lvm perplexity
// --model DIR --tokenizer DIR --prompt IMG... --target IMG...". Either way
// the perplexity is the last line of the output.
func runPerplexity(args []string, stdout, stderr io.Writer) error {
	args, promptImgs, targetImgs := splitImageLists(args)
	fs := newFlagSet("perplexity", stderr)
	model := fs.String("model", "", "transformer checkpoint `DIR` (config.json and weights)")
	tokDir := fs.String("tokenizer", "", "VQGAN tokenizer `DIR`: image mode, --prompt and --target then take image files")
	promptPath := fs.String("prompt", "", "`FILE` of prompt token ids: JSON arrays, one per line, concatenated in order (image mode: IMG...)")
	targetPath := fs.String("target", "", "`FILE` of target token ids, same format (image mode: IMG...)")
	dataPath := fs.String("data", "", "data mode: `FILE` of visual sentences in the trainer's JSON lines; prints the held-out perplexity of every token after each sentence's first")
	maxSents := fs.Int("sentences", 0, "data mode: use the first `N` sentences (0: all)")
	threads := fs.Int("threads", 0, "compute threads (0: one per core)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm perplexity --model DIR --prompt FILE --target FILE")
		fmt.Fprintln(stderr, "       lvm perplexity --model DIR --tokenizer DIR --prompt IMG... --target IMG...")
		fmt.Fprintln(stderr, "       lvm perplexity --model DIR --data FILE.jsonl [--sentences N]")
		fmt.Fprintln(stderr, "\nPrints exp(-mean log p(target | prompt)) over all logits, as the last line.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	imageMode := *tokDir != ""
	if *dataPath != "" {
		if *model == "" || imageMode || *promptPath != "" || *targetPath != "" || *maxSents < 0 || fs.NArg() != 0 {
			fs.Usage()
			return fmt.Errorf("%w: data mode needs --model and --data only", errUsage)
		}
		kernels.SetThreads(*threads)
		return dataPerplexity(*model, *dataPath, *maxSents, stdout)
	}
	if imageMode {
		if *model == "" || len(promptImgs) == 0 || len(targetImgs) == 0 || fs.NArg() != 0 {
			fs.Usage()
			return fmt.Errorf("%w: image mode needs --model, --tokenizer, --prompt IMG... and --target IMG...", errUsage)
		}
	} else if *model == "" || *promptPath == "" || *targetPath == "" || fs.NArg() != 0 || len(promptImgs) > 1 || len(targetImgs) > 1 {
		fs.Usage()
		return fmt.Errorf("%w: need --model, --prompt and --target (and no other arguments)", errUsage)
	}
	var prompt, target []int
	if imageMode {
		tok, err := tokenizer.Load(*tokDir)
		if err != nil {
			return err
		}
		if prompt, err = tokenizeFiles(tok, promptImgs); err != nil {
			return err
		}
		if target, err = tokenizeFiles(tok, targetImgs); err != nil {
			return err
		}
	} else {
		var err error
		if prompt, err = readTokenFile(*promptPath); err != nil {
			return err
		}
		if target, err = readTokenFile(*targetPath); err != nil {
			return err
		}
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

// splitImageLists takes the values of --prompt and --target out of args:
// in image mode each is followed by several files, up to the next flag.
// The first value of each stays in args so that token mode parses as usual.
func splitImageLists(args []string) (rest, prompt, target []string) {
	var list *[]string
	for _, a := range args {
		switch {
		case a == "--prompt" || a == "-prompt":
			list = &prompt
			rest = append(rest, a)
			continue
		case a == "--target" || a == "-target":
			list = &target
			rest = append(rest, a)
			continue
		case strings.HasPrefix(a, "-"):
			list = nil
		case list != nil:
			if len(*list) == 0 {
				rest = append(rest, a)
			}
			*list = append(*list, a)
			continue
		}
		rest = append(rest, a)
	}
	return rest, prompt, target
}

// tokenizeFiles encodes image files and concatenates their codes.
func tokenizeFiles(tok *tokenizer.Tokenizer, paths []string) ([]int, error) {
	var ids []int
	for _, path := range paths {
		img, err := readImage(path)
		if err != nil {
			return nil, err
		}
		g, err := tok.Encode(img)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ids = append(ids, g...)
	}
	return ids, nil
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

// dataPerplexity prints the perplexity of a file of visual sentences:
// every token after each sentence's first, given the tokens before it in
// its sentence (each sentence alone, from position 0). The last line is
// the token-weighted perplexity exp(Σ NLL / tokens); the line before it
// also gives the mean of the per-sentence perplexities.
func dataPerplexity(modelDir, path string, limit int, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	sents, err := sentence.ReadJSONL(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if limit > 0 && len(sents) > limit {
		sents = sents[:limit]
	}
	m, err := transformer.Load(modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var nll, meanPPL float64
	tokens, used := 0, 0
	for i, s := range sents {
		if len(s) < 2 {
			continue
		}
		if len(s) > m.Config().MaxPositions {
			return fmt.Errorf("%s: sentence %d has %d tokens, more than the model's %d positions", path, i, len(s), m.Config().MaxPositions)
		}
		v, err := m.TargetNLL(ctx, s[:1], s[1:])
		if err != nil {
			return fmt.Errorf("%s: sentence %d: %w", path, i, err)
		}
		nll += v * float64(len(s)-1)
		meanPPL += math.Exp(v)
		tokens += len(s) - 1
		used++
	}
	if used == 0 {
		return fmt.Errorf("%s: no sentence of two tokens or more", path)
	}
	fmt.Fprintf(stdout, "model: %s (%s)\n", modelDir, m.Config())
	fmt.Fprintf(stdout, "%d sentences, %d predicted tokens; mean per-sentence perplexity %.4f\n", used, tokens, meanPPL/float64(used))
	fmt.Fprintf(stdout, "%.6f\n", math.Exp(nll/float64(tokens)))
	return nil
}
