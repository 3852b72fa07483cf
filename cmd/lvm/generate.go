package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/lvm-go/lvm"
	"github.com/lvm-go/lvm/internal/demo"
	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/pretrained"
	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("generate", "continue a visual sentence: the next images from prompt images (or token ids)", runGenerate)
}

// runGenerate has two modes.
//
// Image mode: lvm generate [--model DIR --tokenizer DIR] [flags] --out DIR
// IMAGE...: the prompt images in order; writes each candidate's images as
// PNG and an overview. Without --model and --tokenizer it runs the model
// embedded in package pretrained (32×32 images of the synth world).
//
// Token mode: lvm generate --model DIR --prompt-tokens FILE
// --tokens-per-image N --tokens-out FILE: the prompt file holds one JSON
// array per image; each generated image's ids are written as one JSON
// array per line (candidate 0's images first, then candidate 1's, …).
func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", stderr)
	model := fs.String("model", "", "transformer checkpoint `DIR` (config.json and weights; image mode default: the embedded synth32 model)")
	tokDir := fs.String("tokenizer", "", "VQGAN tokenizer `DIR` (image mode; default: the embedded synth32 tokenizer)")
	outDir := fs.String("out", "", "output `DIR` for PNG files (image mode)")
	promptPath := fs.String("prompt-tokens", "", "`FILE` of prompt images' token ids, one JSON array per image and line (token mode)")
	tokensOut := fs.String("tokens-out", "", "`FILE` for the generated images' ids, one JSON array per line (- for stdout; token mode, optional in image mode)")
	perImage := fs.Int("tokens-per-image", 256, "tokens of one image (token mode)")
	codebook := fs.Int("codebook", transformer.LVMCodebookSize, "ids ≥ this are never generated (token mode; image mode uses the tokenizer's codebook)")
	images := fs.Int("images", 1, "images to generate per candidate")
	candidates := fs.Int("candidates", 1, "independent continuations, sharing one prefill of the prompt")
	contextImages := fs.Int("context-images", lvm.DefaultContextImages, "images kept as the prompt when a new image starts (older ones slide out)")
	greedy := fs.Bool("greedy", false, "take the most likely id at every step instead of sampling")
	temperature := fs.Float64("temperature", 1, "sampling temperature")
	topK := fs.Int("top-k", 50, "keep the k most likely ids (0: all)")
	topP := fs.Float64("top-p", 1, "keep the smallest set of ids whose probability reaches p")
	seed := fs.Uint64("seed", 0, "random seed (candidate c uses seed+c)")
	threads := fs.Int("threads", 0, "compute threads (0: one per core)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm generate [--model DIR --tokenizer DIR] [flags] --out DIR IMAGE...")
		fmt.Fprintln(stderr, "       lvm generate --model DIR --prompt-tokens FILE --tokens-per-image N [flags] --tokens-out FILE")
		fmt.Fprintln(stderr, "\nImage mode without --model and --tokenizer runs the embedded synth32 model")
		fmt.Fprintln(stderr, "(package pretrained: 32×32 images of the synth world, as lvm synth draws them).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	imageMode := *tokDir != "" || fs.NArg() > 0
	embedded := imageMode && *model == "" && *tokDir == ""
	switch {
	case imageMode && *tokDir == "" && !embedded:
		fs.Usage()
		return fmt.Errorf("%w: --model is given without --tokenizer: give both, or neither for the embedded synth32 model", errUsage)
	case imageMode && *model == "" && !embedded:
		fs.Usage()
		return fmt.Errorf("%w: --tokenizer is given without --model: give both, or neither for the embedded synth32 model", errUsage)
	case !imageMode && *model == "":
		fs.Usage()
		return fmt.Errorf("%w: need --out and IMAGE... (image mode; the embedded synth32 model unless --model and --tokenizer are given) or --model, --prompt-tokens and --tokens-out (token mode)", errUsage)
	case imageMode && (*outDir == "" || fs.NArg() == 0 || *promptPath != ""):
		fs.Usage()
		return fmt.Errorf("%w: image mode needs --out and at least one IMAGE (and no --prompt-tokens)", errUsage)
	case !imageMode && (*promptPath == "" || *tokensOut == ""):
		fs.Usage()
		return fmt.Errorf("%w: need --model, --prompt-tokens and --tokens-out (token mode) or --out and IMAGE... (image mode)", errUsage)
	case *perImage < 1 || *images < 1 || *candidates < 1 || *contextImages < 1 || *codebook < 1:
		return fmt.Errorf("%w: --tokens-per-image, --images, --candidates, --context-images and --codebook must be ≥ 1", errUsage)
	}
	opts := lvm.Options{
		Images:        *images,
		Candidates:    *candidates,
		ContextImages: *contextImages,
		Sampling:      sampling.Config{Greedy: *greedy, Temperature: *temperature, TopK: *topK, TopP: *topP, Seed: *seed},
	}
	if err := opts.Sampling.Validate(); err != nil {
		return err
	}
	kernels.SetThreads(*threads)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// Read every input before the (slow) model load.
	var prompt *sentence.VisualSentence
	var promptImgs []image.Image
	var tok *tokenizer.Tokenizer
	if imageMode {
		var err error
		if embedded {
			tok, err = pretrained.Tokenizer()
		} else {
			tok, err = tokenizer.Load(*tokDir)
		}
		if err != nil {
			return err
		}
		for _, path := range fs.Args() {
			img, err := readImage(path)
			if err != nil {
				return err
			}
			promptImgs = append(promptImgs, img)
		}
	} else {
		lines, err := readTokenLines(*promptPath)
		if err != nil {
			return err
		}
		if prompt, err = sentence.New(1, *perImage); err != nil {
			return err
		}
		for i, ids := range lines {
			if len(ids) != *perImage {
				return fmt.Errorf("%s line %d: %d tokens, want --tokens-per-image %d", *promptPath, i+1, len(ids), *perImage)
			}
			if err := prompt.Append(ids); err != nil {
				return fmt.Errorf("%s line %d: %w", *promptPath, i+1, err)
			}
		}
	}
	var m *transformer.Model
	var err error
	if embedded {
		m, err = pretrained.Model()
	} else {
		m, err = transformer.Load(*model)
	}
	if err != nil {
		return err
	}
	defer m.Close()

	bar := newProgress(stderr, *quiet)
	opts.Progress = bar.update
	var cands []lvm.Candidate
	if imageMode {
		pipe, err := lvm.NewPipeline(tok, m)
		if err != nil {
			return err
		}
		if prompt, err = sentence.SequentialImages(ctx, tok, promptImgs...); err != nil {
			return err
		}
		cands, err = pipe.Generate(ctx, prompt, opts)
		bar.finish()
		if err != nil {
			return err
		}
		if err := writeGeneratedImages(*outDir, promptImgs, cands, demo.Cell(tok.Resolution()), stdout); err != nil {
			return err
		}
	} else {
		cands, err = lvm.GenerateTokens(ctx, m, prompt, *codebook, opts)
		bar.finish()
		if err != nil {
			return err
		}
	}
	if *tokensOut != "" {
		return writeTokenLines(*tokensOut, stdout, cands)
	}
	return nil
}

func writeGeneratedImages(dir string, prompt []image.Image, cands []lvm.Candidate, cell int, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rows := make([][]image.Image, len(cands))
	for c, cand := range cands {
		rows[c] = cand.Images
		for i, img := range cand.Images {
			name := filepath.Join(dir, fmt.Sprintf("%03d.png", i))
			if len(cands) > 1 {
				name = filepath.Join(dir, fmt.Sprintf("c%d_%03d.png", c, i))
			}
			if err := demo.WritePNG(name, img); err != nil {
				return err
			}
			fmt.Fprintln(stdout, name)
		}
	}
	name := filepath.Join(dir, "overview.png")
	if err := demo.WritePNG(name, demo.Overview(prompt, rows, cell)); err != nil {
		return err
	}
	fmt.Fprintln(stdout, name)
	return nil
}

func writeTokenLines(path string, stdout io.Writer, cands []lvm.Candidate) error {
	out := stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	for _, c := range cands {
		for _, ids := range c.Tokens {
			line, _ := json.Marshal(ids)
			w.Write(line)
			w.WriteByte('\n')
		}
	}
	return w.Flush()
}

// progress draws a one-line progress bar with the token rate on stderr.
type progress struct {
	w      io.Writer
	off    bool
	start  time.Time
	last   time.Time
	drawn  bool
	done   int
	totals int
}

func newProgress(w io.Writer, off bool) *progress {
	return &progress{w: w, off: off, start: time.Now()}
}

func (p *progress) update(done, total int) {
	p.done, p.totals = done, total
	if p.off {
		return
	}
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	filled := width * done / max(total, 1)
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d tokens  %.1f tok/s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, rate)
	p.drawn = true
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
