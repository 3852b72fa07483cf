package tokenizer

import (
	"context"
	"errors"
	"image"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lvm-go/lvm/internal/optim"
)

// trImageSeq is a seekable ImageSource of trImages pictures (as 8-bit
// NRGBA images): image k is drawn by its own generator, so a resumed run
// can skip to where the interrupted one stopped, as the CLI seeks its
// synth.Generator.
type trImageSeq struct {
	seed uint64
	r    int
	n    uint64
}

func (s *trImageSeq) NextImage() (image.Image, error) {
	R := s.r
	pix := trImages(rand.New(rand.NewPCG(s.seed, s.n)), 1, R)
	s.n++
	img := image.NewNRGBA(image.Rect(0, 0, R, R))
	for y := 0; y < R; y++ {
		for x := 0; x < R; x++ {
			o := y*img.Stride + 4*x
			for c := 0; c < 3; c++ {
				img.Pix[o+c] = uint8(math.Round(float64(pix[(c*R+y)*R+x]) * 255))
			}
			img.Pix[o+3] = 255
		}
	}
	return img, nil
}

// trParamValues copies every parameter's values.
func trParamValues(tm *TrainVQGAN) [][]float32 {
	out := make([][]float32, len(tm.params))
	for i, p := range tm.params {
		out[i] = append([]float32(nil), p.Value...)
	}
	return out
}

// trSameParams reports the first parameter that differs in any bit.
func trSameParams(t *testing.T, what string, a, b [][]float32) {
	t.Helper()
	for i := range a {
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				t.Fatalf("%s: parameter %d value %d: %v vs %v", what, i, j, a[i][j], b[i][j])
			}
		}
	}
}

// TestTrainerLearns fits a tiny model to simple synthetic 8×8 images: the
// reconstruction loss of the last 10 of 100 steps must be well below that
// of the first 10. It also checks the progress reports and the checkpoint
// calls.
func TestTrainerLearns(t *testing.T) {
	start, cpu0 := time.Now(), processCPUSeconds()
	cfg := trTinyConfig()
	tm, err := NewTrainVQGAN(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	tm.DeadCodeSteps = 3
	const steps = 100
	var (
		first, last float64
		st          TrainStats
		reports     []int
		checkpoints []int
	)
	peak := 3e-3 // a variable: EndLR's default is PeakLR/10 computed at run time
	sched := optim.Schedule{Peak: peak, End: peak / 10, Warmup: 10, Total: steps}
	tr, err := NewTrainer(tm, TrainOptions{Batch: 8, Steps: steps, PeakLR: peak, Warmup: 10,
		Images: &trImageSeq{seed: 12, r: cfg.Resolution},
		Progress: func(p TrainProgress) {
			reports = append(reports, p.Step)
			if p.Steps != steps || p.LR != sched.LR(p.Step-1) || p.ImagesPerS <= 0 || p.Left < 0 || p.GradNorm <= 0 {
				t.Errorf("step %d: progress %+v (LR want %v)", p.Step, p, sched.LR(p.Step-1))
			}
			st = p.Stats
			if p.Step <= 10 {
				first += st.Recon / 10
			} else if p.Step > steps-10 {
				last += st.Recon / 10
			}
		},
		Checkpoint:      func(step int) error { checkpoints = append(checkpoints, step); return nil },
		CheckpointEvery: 40,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("reconstruction MSE %.4f (steps 1–10) → %.4f (steps 91–100); last step: loss %.4f, %d of %d codes used, perplexity %.2f; %v wall, %.2f s CPU",
		first, last, st.Loss, st.CodesUsed, cfg.NumEmbeddings, st.Perplexity, time.Since(start).Round(time.Millisecond), processCPUSeconds()-cpu0)
	if last > 0.6*first {
		t.Errorf("reconstruction loss did not fall clearly: %.4f → %.4f", first, last)
	}
	if st.CodesUsed < cfg.NumEmbeddings/2 {
		t.Errorf("only %d codes in use after training", st.CodesUsed)
	}
	if len(reports) != steps || reports[0] != 1 || reports[steps-1] != steps || tr.Step() != steps {
		t.Errorf("%d progress reports (%d … %d), Step() = %d", len(reports), reports[0], reports[len(reports)-1], tr.Step())
	}
	if !reflect.DeepEqual(checkpoints, []int{40, 80, 100}) {
		t.Errorf("checkpoints at %v, want [40 80 100]", checkpoints)
	}
	// A finished run does nothing more.
	if err := tr.Run(context.Background()); err != nil || len(reports) != steps {
		t.Errorf("second Run: %v, %d reports", err, len(reports))
	}
}

// TestTrainerMatchesLoop checks that the Trainer computes exactly the step
// that the lvm train-tokenizer command computed before it used the
// Trainer: Preprocess each image, Forward, ZeroGrads, Backward, clip at 1,
// AdamW (no weight decay) with warmup steps/20 then cosine to a tenth of
// the peak, and the dead-code restart.
func TestTrainerMatchesLoop(t *testing.T) {
	const steps, batch, peak = 6, 2, 1e-3
	cfg := trTinyConfig()
	a, err := NewTrainVQGAN(cfg, 41)
	if err != nil {
		t.Fatal(err)
	}
	a.DeadCodeSteps = 2
	var stats []TrainStats
	var restarts int
	tr, err := NewTrainer(a, TrainOptions{Batch: batch, Steps: steps, PeakLR: peak,
		Images:   &trImageSeq{seed: 42, r: cfg.Resolution},
		Progress: func(p TrainProgress) { stats = append(stats, p.Stats); restarts += p.Restarted }})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	b, err := NewTrainVQGAN(cfg, 41)
	if err != nil {
		t.Fatal(err)
	}
	b.DeadCodeSteps = 2
	opt := optim.NewAdamW(0)
	sched := optim.Schedule{Peak: peak, End: peak / 10, Warmup: max(1, steps/20), Total: steps}
	src := &trImageSeq{seed: 42, r: cfg.Resolution}
	R := cfg.Resolution
	pix := make([]float32, batch*3*R*R)
	for step := 0; step < steps; step++ {
		for i := 0; i < batch; i++ {
			img, _ := src.NextImage()
			chw, err := Preprocess(img, R)
			if err != nil {
				t.Fatal(err)
			}
			copy(pix[i*3*R*R:], chw)
		}
		st, err := b.Forward(pix, batch)
		if err != nil {
			t.Fatal(err)
		}
		if st != stats[step] {
			t.Fatalf("step %d: Trainer %+v, loop %+v", step, stats[step], st)
		}
		optim.ZeroGrads(b.params)
		if err := b.Backward(); err != nil {
			t.Fatal(err)
		}
		optim.ClipGlobalNorm(b.params, 1)
		if err := opt.Step(b.params, sched.LR(step)); err != nil {
			t.Fatal(err)
		}
		restarts -= b.restartDeadCodes(opt)
	}
	if restarts != 0 {
		t.Errorf("restart counts differ by %d", restarts)
	}
	trSameParams(t, "Trainer vs loop", trParamValues(a), trParamValues(b))
}

// TestTrainerResume interrupts a run halfway (through its context), saves
// the model and the AdamW and dead-code state, reloads both into a new
// Trainer and finishes the run: every parameter must be bit-identical to
// an uninterrupted run's, and the saved checkpoint must load for inference
// and tokenise like the trained model.
func TestTrainerResume(t *testing.T) {
	const steps, batch = 8, 2
	cfg := trTinyConfig()
	opts := func(src ImageSource, progress func(TrainProgress)) TrainOptions {
		return TrainOptions{Batch: batch, Steps: steps, PeakLR: 2e-3, Warmup: 2, WeightDecay: 0.01,
			Images: src, Progress: progress}
	}
	newModel := func() *TrainVQGAN {
		tm, err := NewTrainVQGAN(cfg, 31)
		if err != nil {
			t.Fatal(err)
		}
		tm.DeadCodeSteps = 2
		tm.DeadCodeRule = RestartFar // not the default: the checkpoint must keep it
		return tm
	}

	// Uninterrupted.
	full := newModel()
	var want []TrainStats
	tr, err := NewTrainer(full, opts(&trImageSeq{seed: 32, r: cfg.Resolution}, func(p TrainProgress) { want = append(want, p.Stats) }))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Interrupted after step steps/2 (the context ends during it), saved,
	// and resumed in a new model and Trainer.
	var got []TrainStats
	restarts := 0
	dir := trInterrupted(t, newModel(), opts(&trImageSeq{seed: 32, r: cfg.Resolution}, nil), steps/2)
	src := &trImageSeq{seed: 32, r: cfg.Resolution}
	resumed, tr := trResumed(t, dir, opts(src, func(p TrainProgress) { got = append(got, p.Stats); restarts += p.Restarted }))
	if tr.Step() != steps/2 || resumed.DeadCodeSteps != 2 || resumed.DeadCodeRule != RestartFar {
		t.Fatalf("restored at step %d with DeadCodeSteps %d and rule %v, want %d, 2 and far",
			tr.Step(), resumed.DeadCodeSteps, resumed.DeadCodeRule, steps/2)
	}
	src.n = uint64(tr.Step() * batch)
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if restarts == 0 {
		t.Errorf("no dead code was restarted after the resume: the test does not cover the restart state")
	}
	if !reflect.DeepEqual(got, want[steps/2:]) {
		t.Errorf("stats after resume\n%+v\nuninterrupted\n%+v", got, want[steps/2:])
	}
	trSameParams(t, "resumed vs uninterrupted", trParamValues(resumed), trParamValues(full))

	// The saved checkpoint loads for inference.
	if err := resumed.Save(dir); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Config(); got.NumEmbeddings != 16 || got.Resolution != 8 || !got.NoAttnMidBlock || got.CommitmentCost != 0.25 {
		t.Errorf("reloaded config %+v", got)
	}
	pix := trImages(rand.New(rand.NewPCG(36, 37)), 1, 8)
	if _, err := resumed.Forward(pix, 1); err != nil {
		t.Fatal(err)
	}
	ids, err := tok.EncodePixels(pix, 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if id != resumed.codes[i] && resumed.margins[i] > 1e-5 {
			t.Errorf("position %d: loaded model code %d, trained %d", i, id, resumed.codes[i])
		}
	}
}

func TestTrainerErrors(t *testing.T) {
	tm, err := NewTrainVQGAN(trTinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	src := &trImageSeq{seed: 1, r: 8}
	for _, c := range []struct {
		name string
		tm   *TrainVQGAN
		opts TrainOptions
		want string
	}{
		{"no steps", tm, TrainOptions{Images: src}, "Steps"},
		{"negative steps", tm, TrainOptions{Steps: -1, Images: src}, "Steps"},
		{"no images", tm, TrainOptions{Steps: 1}, "Images"},
		{"no model", nil, TrainOptions{Steps: 1, Images: src}, "nil model"},
	} {
		if _, err := NewTrainer(c.tm, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming %q", c.name, err, c.want)
		}
	}
	gray := trTinyConfig()
	gray.NumChannels = 1
	if tg, err := NewTrainVQGAN(gray, 1); err != nil {
		t.Fatal(err)
	} else if _, err := NewTrainer(tg, TrainOptions{Steps: 1, Images: src}); err == nil || !strings.Contains(err.Error(), "num_channels") {
		t.Errorf("1-channel model: err = %v", err)
	}

	run := func(opts TrainOptions, ctx context.Context) (*Trainer, error) {
		tr, err := NewTrainer(tm, opts)
		if err != nil {
			t.Fatal(err)
		}
		return tr, tr.Run(ctx)
	}
	errSource := errors.New("no more images")
	if _, err := run(TrainOptions{Steps: 1, Batch: 1, Images: ImageFunc(func() (image.Image, error) { return nil, errSource })},
		context.Background()); !errors.Is(err, errSource) {
		t.Errorf("failing image source: err = %v", err)
	}
	if _, err := run(TrainOptions{Steps: 1, Batch: 1, Images: ImageFunc(func() (image.Image, error) { return image.NewNRGBA(image.Rect(0, 0, 0, 0)), nil })},
		context.Background()); err == nil || !strings.Contains(err.Error(), "training image 0 of step 0") {
		t.Errorf("empty image: err = %v", err)
	}
	errCheckpoint := errors.New("disk full")
	if tr, err := run(TrainOptions{Steps: 3, Batch: 1, Images: src, CheckpointEvery: 1, Checkpoint: func(int) error { return errCheckpoint }},
		context.Background()); !errors.Is(err, errCheckpoint) || tr.Step() != 1 {
		t.Errorf("failing checkpoint: err = %v at step %d", err, tr.Step())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if tr, err := run(TrainOptions{Steps: 3, Batch: 1, Images: src}, ctx); err != context.Canceled || tr.Step() != 0 {
		t.Errorf("ended context: err = %v at step %d", err, tr.Step())
	}
	tr, err := NewTrainer(tm, TrainOptions{Steps: 1, Images: src})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.LoadOptimizer(filepath.Join(t.TempDir(), "missing.safetensors")); err == nil {
		t.Errorf("loading a missing optimizer state succeeded")
	}
}

// TestTrainerFreezeEncoder trains a tiny model's decoder side alone: the
// encoder, quant_conv and codebook must keep every bit (so every image
// keeps its codes), no dead code may be restarted although DeadCodeSteps
// is 1, every decoder-side tensor must move, the reconstruction loss must
// fall, and an interrupted run must resume bit-identically with the mode
// restored from the optimizer checkpoint.
func TestTrainerFreezeEncoder(t *testing.T) {
	const steps, batch = 60, 4
	cfg := trTinyConfig()
	newModel := func() *TrainVQGAN {
		tm, err := NewTrainVQGAN(cfg, 51)
		if err != nil {
			t.Fatal(err)
		}
		tm.DeadCodeSteps = 1 // unfrozen, this restarts codes at every step
		tm.FreezeEncoder = true
		return tm
	}
	opts := func(progress func(TrainProgress)) TrainOptions {
		return TrainOptions{Batch: batch, Steps: steps, PeakLR: 3e-3, Warmup: 5,
			Images: &trImageSeq{seed: 52, r: cfg.Resolution}, Progress: progress}
	}
	probe := trImages(rand.New(rand.NewPCG(53, 54)), 6, cfg.Resolution)
	encode := func(tok *Tokenizer) []int {
		var ids []int
		n := 3 * cfg.Resolution * cfg.Resolution
		for i := 0; i < len(probe); i += n {
			got, err := tok.EncodePixels(probe[i:i+n], cfg.Resolution, cfg.Resolution)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, got...)
		}
		return ids
	}
	full := newModel()
	before := trParamValues(full)
	tok0, err := full.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	codes0 := encode(tok0)
	var stats []TrainStats
	restarts := 0
	tr, err := NewTrainer(full, opts(func(p TrainProgress) { stats = append(stats, p.Stats); restarts += p.Restarted }))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := trParamValues(full)
	for i, p := range full.params {
		same := reflect.DeepEqual(before[i], after[i])
		if dec := isDecoderSide(p.Name); dec == same {
			t.Errorf("%s: decoder side %v, unchanged %v", p.Name, dec, same)
		}
	}
	if restarts != 0 {
		t.Errorf("%d dead codes restarted with the encoder frozen", restarts)
	}
	tok1, err := full.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	codes1 := encode(tok1)
	if !reflect.DeepEqual(codes0, codes1) {
		t.Errorf("codes changed by decoder-only training:\n%v\n%v", codes0, codes1)
	}
	var first, last float64
	for i := 0; i < 10; i++ {
		first += stats[i].Recon / 10
		last += stats[steps-10+i].Recon / 10
	}
	t.Logf("decoder-only reconstruction MSE %.4f (steps 1–10) → %.4f (steps %d–%d); codes of %d probe images unchanged",
		first, last, steps-9, steps, len(probe)/(3*cfg.Resolution*cfg.Resolution))
	if last > 0.8*first {
		t.Errorf("reconstruction loss did not fall: %.4f → %.4f", first, last)
	}

	// Interrupted, saved, resumed into a model without the flag: the
	// checkpoint restores it and the run ends bit-identical.
	dir := trInterrupted(t, newModel(), opts(nil), steps/2)
	o := opts(nil)
	o.Images = &trImageSeq{seed: 52, r: cfg.Resolution, n: steps / 2 * batch}
	resumed, tr := trResumed(t, dir, o)
	if !resumed.FreezeEncoder || tr.Step() != steps/2 {
		t.Fatalf("restored FreezeEncoder %v at step %d, want true at %d", resumed.FreezeEncoder, tr.Step(), steps/2)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	trSameParams(t, "resumed vs uninterrupted", trParamValues(resumed), after)
}

// TestWithCodebookAndParentCodes grows a trained tiny tokenizer from 16 to
// 40 codes (not a multiple: codes 16…39 start from rows 0…15, 0…7) and
// relates the grown codes back: rows below 16 and every other parameter
// must be copied bit for bit, the new rows must lie within a few noise
// widths of their parents, and ParentCodes must name each new code's
// parent (exactly for codes the images never chose, which fall back to the
// nearest row; for most chosen ones, where a noisy row can take positions
// from a neighbour).
func TestWithCodebookAndParentCodes(t *testing.T) {
	cfg := trTinyConfig()
	tm, err := NewTrainVQGAN(cfg, 61)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(tm, TrainOptions{Batch: 4, Steps: 30, PeakLR: 3e-3, Images: &trImageSeq{seed: 62, r: cfg.Resolution}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	const K, k, E = 16, 40, 4
	g, err := tm.WithCodebook(k, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c := g.Config(); c.NumEmbeddings != k || tm.Config().NumEmbeddings != K {
		t.Fatalf("codebooks %d (grown) and %d (original)", c.NumEmbeddings, tm.Config().NumEmbeddings)
	}
	old, grown := tm.ParamMap(), g.ParamMap()
	for name, v := range old {
		if name != "quantize.embedding.weight" && !reflect.DeepEqual(v, grown[name]) {
			t.Errorf("%s changed", name)
		}
	}
	ob, gb := old["quantize.embedding.weight"], grown["quantize.embedding.weight"]
	if !reflect.DeepEqual(ob, gb[:K*E]) {
		t.Error("the first 16 rows changed")
	}
	var rms float64
	for _, v := range ob {
		rms += float64(v) * float64(v) / float64(len(ob))
	}
	rms = math.Sqrt(rms)
	for j := K; j < k; j++ {
		d := math.Sqrt(sqDist(gb[j*E:(j+1)*E], ob[(j%K)*E:(j%K+1)*E]))
		if d == 0 || d > 5*0.05*rms*math.Sqrt(E) {
			t.Errorf("code %d lies %.3g from its parent %d (noise width %.3g per value)", j, d, j%K, 0.05*rms)
		}
	}
	if _, err := tm.WithCodebook(K-1, 3); err == nil {
		t.Error("shrinking the codebook accepted")
	}

	parentTok, err := tm.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	childTok, err := g.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	seq := &trImageSeq{seed: 63, r: cfg.Resolution}
	imgs := make([]image.Image, 64)
	for i := range imgs {
		imgs[i], _ = seq.NextImage()
	}
	codes, seen, err := ParentCodes(parentTok, childTok, imgs)
	if err != nil {
		t.Fatal(err)
	}
	agree, chosen, positions := 0, 0, 0
	for c := range codes {
		positions += seen[c]
		switch {
		case seen[c] == 0 && codes[c] != c%K:
			t.Errorf("unseen code %d: parent %d, want the nearest row %d", c, codes[c], c%K)
		case seen[c] > 0:
			chosen++
			if codes[c] == c%K {
				agree++
			}
		}
	}
	t.Logf("%d of %d grown codes chosen on %d images; %d of them name their origin as parent", chosen, k, len(imgs), agree)
	if positions != len(imgs)*cfg.GridSize()*cfg.GridSize() || chosen == 0 || agree < chosen*9/10 {
		t.Errorf("%d positions counted; %d of %d chosen codes name their origin", positions, agree, chosen)
	}
	other := cfg
	other.Resolution = 16
	wide, err := NewTrainVQGAN(other, 1)
	if err != nil {
		t.Fatal(err)
	}
	wideTok, err := wide.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParentCodes(parentTok, wideTok, imgs); err == nil || !strings.Contains(err.Error(), "grid") {
		t.Errorf("different grids: %v", err)
	}
}

// trInterrupted runs a Trainer of opts over tm until the context ends during
// step stop, checks that Run stopped there with context.Canceled, and saves
// the model and its optimizer state to a new directory, which it returns.
func trInterrupted(t *testing.T, tm *TrainVQGAN, opts TrainOptions, stop int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := opts.Progress
	opts.Progress = func(p TrainProgress) {
		if progress != nil {
			progress(p)
		}
		if p.Step == stop {
			cancel()
		}
	}
	tr, err := NewTrainer(tm, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(ctx); !errors.Is(err, context.Canceled) || tr.Step() != stop {
		t.Fatalf("interrupted run: err %v at step %d, want context.Canceled at %d", err, tr.Step(), stop)
	}
	dir := t.TempDir()
	if err := tm.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := tr.SaveOptimizer(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// trResumed loads the run trInterrupted saved in dir into a new model and a
// Trainer of opts with the optimizer state restored.
func trResumed(t *testing.T, dir string, opts TrainOptions) (*TrainVQGAN, *Trainer) {
	t.Helper()
	tm, err := LoadTrainVQGAN(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(tm, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.LoadOptimizer(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		t.Fatal(err)
	}
	return tm, tr
}
