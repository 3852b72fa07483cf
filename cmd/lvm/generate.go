package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"

	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("generate", "continue a visual sentence: generate images' token ids from prompt token ids", runGenerate)
}

// runGenerate implements "lvm generate --model DIR --prompt-tokens FILE
// --tokens-per-image N --images M --tokens-out FILE" (token mode): the
// prompt file holds one JSON array per image; each generated image's ids
// are written as one JSON array per line.
func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", stderr)
	model := fs.String("model", "", "transformer checkpoint `DIR` (config.json and weights)")
	promptPath := fs.String("prompt-tokens", "", "`FILE` of prompt images' token ids, one JSON array per image and line")
	outPath := fs.String("tokens-out", "", "`FILE` to write the generated images' ids to, one JSON array per line (- for stdout)")
	perImage := fs.Int("tokens-per-image", 256, "tokens of one image")
	images := fs.Int("images", 1, "images to generate")
	contextImages := fs.Int("context-images", 15, "images kept as the prompt when a new image starts (older ones slide out)")
	codebook := fs.Int("codebook", transformer.LVMCodebookSize, "ids ≥ this are never generated")
	greedy := fs.Bool("greedy", false, "take the most likely id at every step instead of sampling")
	temperature := fs.Float64("temperature", 1, "sampling temperature")
	topK := fs.Int("top-k", 50, "keep the k most likely ids (0: all)")
	topP := fs.Float64("top-p", 1, "keep the smallest set of ids whose probability reaches p")
	seed := fs.Uint64("seed", 0, "random seed")
	threads := fs.Int("threads", 0, "compute threads (0: one per core)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm generate --model DIR --prompt-tokens FILE [--greedy] --tokens-per-image N --images M --tokens-out FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || *promptPath == "" || *outPath == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --model, --prompt-tokens and --tokens-out (and no other arguments)", errUsage)
	}
	if *perImage < 1 || *images < 1 || *contextImages < 1 || *codebook < 1 {
		return fmt.Errorf("%w: --tokens-per-image, --images, --context-images and --codebook must be ≥ 1", errUsage)
	}
	prompt, err := readTokenLines(*promptPath)
	if err != nil {
		return err
	}
	for i, img := range prompt {
		if len(img) != *perImage {
			return fmt.Errorf("%s line %d: %d tokens, want --tokens-per-image %d", *promptPath, i+1, len(img), *perImage)
		}
	}
	cfg := sampling.Config{Greedy: *greedy, Temperature: *temperature, TopK: *topK, TopP: *topP,
		SuppressFrom: *codebook, SuppressTo: math.MaxInt, Seed: *seed}
	sampler, err := sampling.New(cfg)
	if err != nil {
		return err
	}

	kernels.SetThreads(*threads)
	m, err := transformer.Load(*model)
	if err != nil {
		return err
	}
	defer m.Close()
	mc := m.Config()
	if *codebook > mc.VocabSize {
		return fmt.Errorf("--codebook %d > vocabulary %d", *codebook, mc.VocabSize)
	}
	// The prompt window plus one new image must fit the context.
	window := min(*contextImages, mc.MaxPositions / *perImage - 1)
	if window < 1 {
		return fmt.Errorf("--tokens-per-image %d: a prompt image and a new one exceed %d max positions", *perImage, mc.MaxPositions)
	}
	if len(prompt) > window {
		fmt.Fprintf(stderr, "prompt has %d images; keeping the last %d\n", len(prompt), window)
		prompt = prompt[len(prompt)-window:]
	}

	out := stdout
	if *outPath != "-" {
		f, err := os.Create(*outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	defer w.Flush()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st := m.NewStateCap((window + 1) * *perImage)
	sentence := prompt // the images of the current prompt window
	fresh := true      // the state must be rebuilt from sentence
	for img := 0; img < *images; img++ {
		if fresh {
			st.Reset()
			var ids []int
			for _, im := range sentence {
				ids = append(ids, im...)
			}
			if err := m.Prefill(ctx, st, ids); err != nil {
				return fmt.Errorf("image %d: prompt: %w", img+1, err)
			}
		}
		gen := make([]int, *perImage)
		for i := range gen {
			id, err := sampler.Sample(st.LastLogits())
			if err != nil {
				return fmt.Errorf("image %d token %d: %w", img+1, i, err)
			}
			gen[i] = id
			if i < len(gen)-1 {
				if err := m.Decode(ctx, st, id); err != nil {
					return fmt.Errorf("image %d token %d: %w", img+1, i, err)
				}
			}
		}
		line, _ := json.Marshal(gen)
		w.Write(line)
		w.WriteByte('\n')
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "image %d/%d done\n", img+1, *images)

		// Slide the window (REFERENCE §4): when an image drops out the
		// positions restart at 0 and everything is recomputed; otherwise
		// the cache continues with the new image's last token.
		sentence = append(sentence, gen)
		if len(sentence) > window {
			sentence = sentence[len(sentence)-window:]
			fresh = true
		} else if img+1 < *images {
			if err := m.Decode(ctx, st, gen[len(gen)-1]); err != nil {
				return fmt.Errorf("image %d: %w", img+1, err)
			}
			fresh = false
		}
	}
	return nil
}
