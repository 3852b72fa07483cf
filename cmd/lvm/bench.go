package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lvm-go/lvm/internal/bigmodel"
	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/internal/weights"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("bench", "time prefill and decode (or VQGAN encode and decode) on random weights; JSON last line", runBench)
}

// runBench is "lvm bench": it times the transformer or the VQGAN tokenizer
// and prints a few human lines, then one JSON object as the last line.
//
//	lvm bench --config 300m --dtype f16 --threads 2 --prompt 256 --decode 64 [--candidates K] [--repeat N]
//	lvm bench --config vqgan --threads 2 [--repeat N]
//	lvm bench --model DIR --prompt 256 --decode 16
//	lvm bench --write-random DIR --config 7b --dtype f16
//
// The transformer modes time one prefill of --prompt tokens into an empty
// state and then --decode decode steps (no sampling: the tokens fed are
// fixed pseudo-random codes); with --candidates K the prompt is prefilled
// once, its state cloned K times (not timed) and each step is one
// DecodeBatch over the K states, so decode_tok_s counts K tokens per step.
// Each of --repeat N runs times both phases; the figures are medians.
// --config takes a preset (transformer.PresetNames), "vqgan" (the released
// tokenizer, tokenizer.ReleasedConfig) or the path of a config.json (LLaMA
// or VQGAN), and builds the model with deterministic random weights in
// memory (transformer.NewRandom, tokenizer.NewRandom). --model benchmarks a
// checkpoint on disk instead (transformer.Load, weights memory-mapped) and
// also reports open_s, the time of Load. --write-random streams a random
// checkpoint of --config and --dtype to DIR in the Hugging Face layout
// (bigmodel.Write; the weights of NewRandom with --seed) and exits.
func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	configArg := fs.String("config", "", "`NAME` of a preset ("+strings.Join(transformer.PresetNames(), ", ")+"), vqgan, or a LLaMA or VQGAN config.json path")
	modelDir := fs.String("model", "", "benchmark the checkpoint in `DIR` (transformer.Load) instead of random weights")
	dtypeArg := fs.String("dtype", "f16", "weight storage of random transformers: f16, bf16, f32 or q8")
	threads := fs.Int("threads", 0, "compute threads (0: one per core)")
	prompt := fs.Int("prompt", 256, "prompt tokens to prefill")
	decode := fs.Int("decode", 64, "decode steps after the prompt (0: prefill only)")
	candidates := fs.Int("candidates", 1, "K states decoded together by DecodeBatch (K tokens per step)")
	repeat := fs.Int("repeat", 1, "timed runs; the figures are medians")
	warmup := fs.Int("warmup", 0, "untimed runs before the timed ones")
	seed := fs.Uint64("seed", 1, "seed of the random weights")
	writeDir := fs.String("write-random", "", "write a random checkpoint of --config and --dtype to `DIR` (streamed tensor by tensor) and exit")
	shards := fs.Int("shards", 3, "safetensors shards of --write-random")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm bench --config NAME|vqgan|config.json [--dtype f16] [--threads N] [--prompt 256] [--decode 64] [--candidates K] [--repeat N]")
		fmt.Fprintln(stderr, "       lvm bench --model DIR [--threads N] [--prompt 256] [--decode 64] [--candidates K] [--repeat N]")
		fmt.Fprintln(stderr, "       lvm bench --write-random DIR --config NAME|config.json [--dtype f16] [--shards 3]")
		fmt.Fprintln(stderr, "\nPrints human lines, then one JSON object as the last line.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	dtypeSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "dtype" {
			dtypeSet = true
		}
	})
	usageErr := func(msg string) error {
		fs.Usage()
		return fmt.Errorf("%w: %s", errUsage, msg)
	}
	switch {
	case fs.NArg() != 0:
		return usageErr("unexpected arguments " + strings.Join(fs.Args(), " "))
	case (*configArg == "") == (*modelDir == ""):
		return usageErr("need exactly one of --config and --model")
	case *writeDir != "" && *modelDir != "":
		return usageErr("--write-random takes --config, not --model")
	case *modelDir != "" && dtypeSet && *dtypeArg != "q8":
		return usageErr("with --model, --dtype may only be q8 (quantise at load); otherwise the checkpoint's own dtype is used")
	case *prompt < 1 || *decode < 0 || *candidates < 1 || *repeat < 1 || *warmup < 0 || *shards < 1:
		return usageErr("--prompt, --candidates, --repeat and --shards must be ≥ 1; --decode and --warmup ≥ 0")
	}
	kernels.SetThreads(*threads)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	load := loadAverage()

	if *modelDir != "" {
		return benchTransformer(ctx, stdout, transformerBench{
			model: *modelDir, dtype: transformer.DType(strings.ToLower(*dtypeArg)), prompt: *prompt, decode: *decode, candidates: *candidates,
			repeat: *repeat, warmup: *warmup, seed: *seed, load: load,
		})
	}
	name, llama, vq, err := resolveBenchConfig(*configArg)
	if err != nil {
		return err
	}
	dt := transformer.DType(strings.ToLower(*dtypeArg))
	if *writeDir != "" {
		if llama == nil {
			return usageErr("--write-random writes transformer checkpoints; --config names a VQGAN")
		}
		return benchWriteRandom(stdout, *writeDir, name, *llama, dt, *seed, *shards)
	}
	if vq != nil {
		if dtypeSet {
			return usageErr("--dtype does not apply to the VQGAN (float32)")
		}
		return benchVQGAN(stdout, name, *vq, *repeat, *warmup, *seed, load)
	}
	return benchTransformer(ctx, stdout, transformerBench{
		config: name, cfg: *llama, dtype: dt, prompt: *prompt, decode: *decode,
		candidates: *candidates, repeat: *repeat, warmup: *warmup, seed: *seed, load: load,
	})
}

// resolveBenchConfig turns --config into a transformer or a VQGAN
// configuration (exactly one is set): a preset name, "vqgan", or a
// config.json (or a directory holding one), told apart by its
// num_hidden_layers key.
func resolveBenchConfig(arg string) (name string, llama *transformer.Config, vq *tokenizer.Config, err error) {
	if strings.EqualFold(arg, "vqgan") {
		c := tokenizer.ReleasedConfig()
		return "vqgan", nil, &c, nil
	}
	if c, err := transformer.Preset(arg); err == nil {
		return strings.ToLower(arg), &c, nil, nil
	}
	path := arg
	if st, err := os.Stat(path); err != nil {
		return "", nil, nil, fmt.Errorf("%w: --config %q is neither a preset (%s, vqgan) nor a config file",
			errUsage, arg, strings.Join(transformer.PresetNames(), ", "))
	} else if st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, nil, err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return "", nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, ok := keys["num_hidden_layers"]; ok {
		c, err := transformer.ParseConfig(data)
		if err != nil {
			return "", nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return arg, &c, nil, nil
	}
	c, err := tokenizer.ParseConfig(data)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return arg, nil, &c, nil
}

// transformerBench is one transformer benchmark: random weights of cfg
// stored as dtype, or the checkpoint in model.
type transformerBench struct {
	config     string
	cfg        transformer.Config
	dtype      transformer.DType
	model      string
	prompt     int
	decode     int
	candidates int
	repeat     int
	warmup     int
	seed       uint64
	load       float64
}

// transformerResult is the JSON line of a transformer benchmark. Times are
// medians over the repeats in seconds; *_cpu_s are the process CPU time of
// the phase (all threads), and the *_tok_s_cpu rates divide by CPU time
// over threads: what the threads would reach with the cores to themselves.
type transformerResult struct {
	Config        string  `json:"config"`
	Model         string  `json:"model,omitempty"`
	DType         string  `json:"dtype"`
	Threads       int     `json:"threads"`
	Prompt        int     `json:"prompt"`
	Decode        int     `json:"decode"`
	Candidates    int     `json:"candidates"`
	Repeat        int     `json:"repeat"`
	PrefillTokS   float64 `json:"prefill_tok_s"`
	DecodeTokS    float64 `json:"decode_tok_s"`
	WeightBytes   int64   `json:"weight_bytes"`
	Params        int64   `json:"params"`
	PrefillS      float64 `json:"prefill_s"`
	DecodeS       float64 `json:"decode_s"`
	PrefillCPUS   float64 `json:"prefill_cpu_s,omitempty"`
	DecodeCPUS    float64 `json:"decode_cpu_s,omitempty"`
	PrefillTokCPU float64 `json:"prefill_tok_s_cpu,omitempty"`
	DecodeTokCPU  float64 `json:"decode_tok_s_cpu,omitempty"`
	BuildS        float64 `json:"build_s,omitempty"`
	OpenS         float64 `json:"open_s,omitempty"`
	MaxRSSBytes   int64   `json:"max_rss_bytes,omitempty"`
	Load1         float64 `json:"load1,omitempty"`
}

func benchTransformer(ctx context.Context, stdout io.Writer, b transformerBench) error {
	res := transformerResult{
		Config: b.config, DType: string(b.dtype), Prompt: b.prompt, Decode: b.decode,
		Candidates: b.candidates, Repeat: b.repeat, Load1: b.load,
	}
	checkLen := func(c transformer.Config) error {
		if b.prompt+b.decode > c.MaxPositions {
			return fmt.Errorf("%w: --prompt %d + --decode %d exceeds the model's %d positions", errUsage, b.prompt, b.decode, c.MaxPositions)
		}
		return nil
	}
	if b.model == "" {
		if err := checkLen(b.cfg); err != nil {
			return err
		}
	}
	var m *transformer.Model
	start := time.Now()
	if b.model != "" {
		var err error
		var opts transformer.LoadOptions
		if b.dtype == transformer.Q8 {
			opts.Quantize = transformer.Q8
		}
		if m, err = transformer.LoadWith(b.model, opts); err != nil {
			return err
		}
		defer m.Close()
		res.OpenS = since(start)
		res.Model = b.model
		b.cfg = m.Config()
		res.Config = presetName(b.cfg)
		dt, size, err := checkpointWeights(b.model, b.cfg)
		if err != nil {
			return err
		}
		res.DType, res.WeightBytes = dt, size
		if opts.Quantize == transformer.Q8 {
			res.DType, res.WeightBytes = "q8", m.WeightBytes()
		}
		fmt.Fprintf(stdout, "model %s: %v\n", b.model, b.cfg)
		fmt.Fprintf(stdout, "opened in %.3f s (%s, %.2f GB of weights, memory-mapped)\n", res.OpenS, res.DType, float64(res.WeightBytes)/1e9)
	} else {
		var err error
		if m, err = transformer.NewRandom(b.cfg, b.dtype, b.seed); err != nil {
			return err
		}
		res.BuildS = since(start)
		res.WeightBytes = randomWeightBytes(b.cfg, b.dtype)
		fmt.Fprintf(stdout, "config %s: %v\n", b.config, b.cfg)
		fmt.Fprintf(stdout, "random %s weights built in %.2f s (%.2f GB)\n", b.dtype, res.BuildS, float64(res.WeightBytes)/1e9)
	}
	if wb, ok := any(m).(interface{ WeightBytes() int64 }); ok {
		res.WeightBytes = wb.WeightBytes()
	}
	res.Params = b.cfg.NumParams()
	res.Threads = kernels.Threads()
	c := m.Config()
	if err := checkLen(c); err != nil {
		return err
	}
	// Inputs are fixed pseudo-random image codes.
	toks := make([]int, b.prompt+b.decode+b.candidates)
	codes := uint64(min(c.VocabSize, transformer.LVMCodebookSize))
	r := b.seed*0x9e3779b97f4a7c15 | 1
	for i := range toks {
		r ^= r << 13
		r ^= r >> 7
		r ^= r << 17
		toks[i] = int(r % codes)
	}
	st := m.NewStateCap(b.prompt + b.decode)
	states := make([]*transformer.State, b.candidates)
	step := make([]int, b.candidates)
	runtime.GC() // the weights are built: keep collection out of the timings
	fmt.Fprintf(stdout, "threads %d, prompt %d, decode %d × %d candidate(s), %d run(s) after %d warm-up; load average %.2f\n",
		res.Threads, b.prompt, b.decode, b.candidates, b.repeat, b.warmup, b.load)

	var pre, dec, preCPU, decCPU []float64
	for run := 0; run < b.warmup+b.repeat; run++ {
		st.Reset()
		t0, c0 := time.Now(), cpuTime()
		if err := m.Prefill(ctx, st, toks[:b.prompt]); err != nil {
			return err
		}
		tp, cp := since(t0), cpuTime()-c0
		if b.candidates > 1 {
			for k := range states {
				states[k] = st.Clone()
			}
		}
		t0, c0 = time.Now(), cpuTime()
		for j := 0; j < b.decode; j++ {
			if b.candidates == 1 {
				if err := m.Decode(ctx, st, toks[b.prompt+j]); err != nil {
					return err
				}
				continue
			}
			for k := range step {
				step[k] = toks[b.prompt+j+k]
			}
			if err := m.DecodeBatch(ctx, states, step); err != nil {
				return err
			}
		}
		td, cd := since(t0), cpuTime()-c0
		if b.decode == 0 {
			td, cd = 0, 0
		}
		if run < b.warmup {
			continue
		}
		pre, dec = append(pre, tp), append(dec, td)
		preCPU, decCPU = append(preCPU, cp), append(decCPU, cd)
	}
	clear(states)
	res.PrefillS, res.DecodeS = median(pre), median(dec)
	res.PrefillTokS = rate(b.prompt, res.PrefillS)
	res.DecodeTokS = rate(b.decode*b.candidates, res.DecodeS)
	if cpuTime() > 0 {
		res.PrefillCPUS, res.DecodeCPUS = median(preCPU), median(decCPU)
		res.PrefillTokCPU = rate(b.prompt*res.Threads, res.PrefillCPUS)
		res.DecodeTokCPU = rate(b.decode*b.candidates*res.Threads, res.DecodeCPUS)
	}
	res.MaxRSSBytes = maxRSS()
	fmt.Fprintf(stdout, "prefill %d tokens: %.4g s, %.1f tok/s (CPU %.4g s, %.1f tok/s per CPU-s/thread)\n",
		b.prompt, res.PrefillS, res.PrefillTokS, res.PrefillCPUS, res.PrefillTokCPU)
	if b.decode > 0 {
		fmt.Fprintf(stdout, "decode %d steps × %d: %.4g s, %.2f tok/s, %.3g ms/step (CPU %.4g s, %.2f tok/s per CPU-s/thread)\n",
			b.decode, b.candidates, res.DecodeS, res.DecodeTokS, 1e3*res.DecodeS/float64(b.decode), res.DecodeCPUS, res.DecodeTokCPU)
	}
	if res.MaxRSSBytes > 0 {
		fmt.Fprintf(stdout, "max resident set %.2f GB\n", float64(res.MaxRSSBytes)/1e9)
	}
	res.round()
	return writeJSONLine(stdout, res)
}

// presetName is the name of the preset c is, or "custom".
func presetName(c transformer.Config) string {
	for _, n := range transformer.PresetNames() {
		if p, _ := transformer.Preset(n); p == c {
			return n
		}
	}
	return "custom"
}

// randomWeightBytes is the storage of NewRandom's weights, for models
// without a WeightBytes method: every tensor in dt; for q8 (transformer.Q8)
// the linear weights in blocks of 32 int8 values with an fp16 scale (34
// bytes a block, llama.cpp's Q8_0), the embedding in fp16 and the norms in
// float32.
func randomWeightBytes(c transformer.Config, dt transformer.DType) int64 {
	var n int64
	for name, shape := range transformer.ParamShapes(c) {
		elems := int64(1)
		for _, d := range shape {
			elems *= int64(d)
		}
		switch {
		case dt == transformer.F32:
			n += 4 * elems
		case dt != "q8":
			n += 2 * elems
		case name == "model.embed_tokens.weight":
			n += 2 * elems
		case len(shape) == 2:
			n += int64(shape[0]) * int64((shape[1]+31)/32) * 34
		default:
			n += 4 * elems
		}
	}
	return n
}

// checkpointWeights returns the dtype of the checkpoint's linear weights
// and the bytes of all the tensors the model uses, read from the headers.
func checkpointWeights(dir string, c transformer.Config) (string, int64, error) {
	set, err := weights.Open(dir)
	if err != nil {
		return "", 0, err
	}
	defer set.Close()
	var n int64
	for name := range transformer.ParamShapes(c) {
		t, err := set.Tensor(name)
		if err != nil {
			return "", 0, err
		}
		n += int64(len(t.Data))
	}
	t, err := set.Tensor("model.layers.0.mlp.up_proj.weight")
	if err != nil {
		return "", 0, err
	}
	return strings.ToLower(t.DType.String()), n, nil
}

// vqganResult is the JSON line of a VQGAN benchmark (medians, seconds).
type vqganResult struct {
	Config        string  `json:"config"`
	Threads       int     `json:"threads"`
	Repeat        int     `json:"repeat"`
	Resolution    int     `json:"resolution"`
	EncodeS       float64 `json:"encode_s"`
	DecodeS       float64 `json:"decode_s"`
	EncodeDecodeS float64 `json:"encode_decode_s"`
	EncodeCPUS    float64 `json:"encode_cpu_s,omitempty"`
	DecodeCPUS    float64 `json:"decode_cpu_s,omitempty"`
	Params        int64   `json:"params"`
	BuildS        float64 `json:"build_s"`
	MaxRSSBytes   int64   `json:"max_rss_bytes,omitempty"`
	Load1         float64 `json:"load1,omitempty"`
}

// benchVQGAN times Encode of one square image of the configured resolution
// (the resize is then a copy) and Decode of the codes it gives.
func benchVQGAN(stdout io.Writer, name string, cfg tokenizer.Config, repeat, warmup int, seed uint64, load float64) error {
	start := time.Now()
	tk, err := tokenizer.NewRandom(cfg, seed)
	if err != nil {
		return err
	}
	res := vqganResult{
		Config: name, Threads: kernels.Threads(), Repeat: repeat, Resolution: cfg.Resolution,
		Params: int64(tokenizer.NumParameters(cfg)), BuildS: since(start), Load1: load,
	}
	fmt.Fprintf(stdout, "VQGAN %s: %d×%d, channel_mult %v, %.1fM params, random weights built in %.2f s\n",
		name, cfg.Resolution, cfg.Resolution, cfg.ChannelMult, float64(res.Params)/1e6, res.BuildS)
	fmt.Fprintf(stdout, "threads %d, %d run(s) after %d warm-up; load average %.2f\n", res.Threads, repeat, warmup, load)
	img := benchImage(cfg.Resolution)
	runtime.GC()
	var enc, dec, encCPU, decCPU []float64
	for run := 0; run < warmup+repeat; run++ {
		t0, c0 := time.Now(), cpuTime()
		ids, err := tk.Encode(img)
		if err != nil {
			return err
		}
		te, ce := since(t0), cpuTime()-c0
		t0, c0 = time.Now(), cpuTime()
		if _, err := tk.Decode(ids); err != nil {
			return err
		}
		td, cd := since(t0), cpuTime()-c0
		if run >= warmup {
			enc, dec = append(enc, te), append(dec, td)
			encCPU, decCPU = append(encCPU, ce), append(decCPU, cd)
		}
	}
	res.EncodeS, res.DecodeS = median(enc), median(dec)
	res.EncodeDecodeS = res.EncodeS + res.DecodeS
	if cpuTime() > 0 {
		res.EncodeCPUS, res.DecodeCPUS = median(encCPU), median(decCPU)
	}
	res.MaxRSSBytes = maxRSS()
	fmt.Fprintf(stdout, "encode %.4g s (CPU %.4g s), decode %.4g s (CPU %.4g s), together %.4g s\n",
		res.EncodeS, res.EncodeCPUS, res.DecodeS, res.DecodeCPUS, res.EncodeDecodeS)
	res.EncodeS, res.DecodeS, res.EncodeDecodeS = round4(res.EncodeS), round4(res.DecodeS), round4(res.EncodeDecodeS)
	res.EncodeCPUS, res.DecodeCPUS, res.BuildS = round4(res.EncodeCPUS), round4(res.DecodeCPUS), round4(res.BuildS)
	return writeJSONLine(stdout, res)
}

// benchImage is a side×side RGB image of smooth gradients plus noise.
func benchImage(side int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	r := uint32(12345)
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			r = r*1664525 + 1013904223
			n := uint8(r >> 27)
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / side), uint8(y * 255 / side), uint8((x+y)*127/side) + n, 255})
		}
	}
	return img
}

// writeResult is the JSON line of --write-random.
type writeResult struct {
	WriteRandom string   `json:"write_random"`
	Config      string   `json:"config"`
	DType       string   `json:"dtype"`
	Seed        uint64   `json:"seed"`
	Tensors     int      `json:"tensors"`
	Files       []string `json:"files"`
	WeightBytes int64    `json:"weight_bytes"`
	FileBytes   int64    `json:"file_bytes"`
	WriteS      float64  `json:"write_s"`
}

func benchWriteRandom(stdout io.Writer, dir, name string, c transformer.Config, dt transformer.DType, seed uint64, shards int) error {
	fmt.Fprintf(stdout, "writing %s (%v) as %s to %s\n", name, c, dt, dir)
	start := time.Now()
	next := 0.1
	sum, err := bigmodel.Write(dir, c, dt, bigmodel.Options{Shards: shards, Seed: seed, Progress: func(w, total int64) {
		if f := float64(w) / float64(total); f >= next || w == total {
			fmt.Fprintf(stdout, "  %3.0f%%  %.2f GB  %.1f s\n", 100*f, float64(w)/1e9, time.Since(start).Seconds())
			next = math.Floor(f*10)/10 + 0.1
		}
	}})
	if err != nil {
		return err
	}
	res := writeResult{
		WriteRandom: dir, Config: name, DType: string(dt), Seed: seed, Tensors: sum.Tensors, Files: sum.Files,
		WeightBytes: sum.WeightSize, FileBytes: sum.FileSize, WriteS: round4(since(start)),
	}
	fmt.Fprintf(stdout, "wrote %d tensors, %.2f GB in %d files in %.1f s\n", res.Tensors, float64(res.FileBytes)/1e9, len(res.Files), res.WriteS)
	return writeJSONLine(stdout, res)
}

// round trims the result's floats to 4 significant digits.
func (r *transformerResult) round() {
	for _, p := range []*float64{&r.PrefillTokS, &r.DecodeTokS, &r.PrefillTokCPU, &r.DecodeTokCPU,
		&r.PrefillS, &r.DecodeS, &r.PrefillCPUS, &r.DecodeCPUS, &r.BuildS, &r.OpenS} {
		*p = round4(*p)
	}
}

// round4 rounds x to 4 significant digits.
func round4(x float64) float64 {
	y, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	if err != nil {
		return x
	}
	return y
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }

// rate is n per s seconds (0 when nothing was timed).
func rate(n int, s float64) float64 {
	if n == 0 || s <= 0 {
		return 0
	}
	return float64(n) / s
}

// median of xs (0 for none): the mean of the middle two for an even count.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// loadAverage is the 1-minute load average from /proc/loadavg (0 where
// there is none).
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	x, _ := strconv.ParseFloat(f[0], 64)
	return x
}
