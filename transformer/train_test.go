package transformer

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/optim"
)

// fdCheck compares an analytic gradient with central finite differences of
// a scalar function of x, at up to maxProbe coordinates, and fails when
// |fd − analytic| > atol + rtol·|analytic|. It logs the worst error.
func fdCheck(t *testing.T, name string, x []float32, analytic []float32, f func() float64, maxProbe int, eps, atol, rtol float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, uint64(len(x))))
	worst, worstRel := 0.0, 0.0
	for n := 0; n < min(maxProbe, len(x)); n++ {
		i := n
		if len(x) > maxProbe {
			i = r.IntN(len(x))
		}
		old := x[i]
		x[i] = old + float32(eps)
		fp := f()
		x[i] = old - float32(eps)
		fm := f()
		x[i] = old
		fd := (fp - fm) / (2 * eps)
		err := math.Abs(fd - float64(analytic[i]))
		worst = math.Max(worst, err)
		if a := math.Abs(float64(analytic[i])); a > 1e-3 {
			worstRel = math.Max(worstRel, err/a)
		}
		if err > atol+rtol*math.Abs(float64(analytic[i])) {
			t.Errorf("%s[%d]: finite difference %.6g, analytic %.6g", name, i, fd, analytic[i])
		}
	}
	t.Logf("%s: worst |fd − analytic| %.3g (relative %.3g where |g| > 1e-3)", name, worst, worstRel)
}

func randVec(r *rand.Rand, n int, s float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * s)
	}
	return v
}

// dotLoss is Σ w·y in float64, the scalar whose gradient wrt y is w.
func dotLoss(w, y []float32) float64 {
	var s float64
	for i := range y {
		s += float64(w[i]) * float64(y[i])
	}
	return s
}

func TestRMSNormGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	rows, d := 3, 8
	x, w, proj := randVec(r, rows*d, 1), randVec(r, d, 1), randVec(r, rows*d, 1)
	y, inv := make([]float32, rows*d), make([]float32, rows)
	f := func() float64 { rmsNormForward(y, inv, x, w, rows, d, 1e-6); return dotLoss(proj, y) }
	f()
	dx, dw := make([]float32, rows*d), make([]float32, d)
	rmsNormBackward(dx, dw, proj, x, inv, w, rows, d)
	fdCheck(t, "rmsnorm dx", x, dx, f, 24, 1e-3, 1e-3, 1e-2)
	fdCheck(t, "rmsnorm dw", w, dw, f, 8, 1e-3, 1e-3, 1e-2)
}

func TestRoPEGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	b, tt, h, hd := 2, 5, 2, 8
	cos, sin := ropeTables(tt, hd, 10000)
	x0, proj := randVec(r, b*tt*h*hd, 1), randVec(r, b*tt*h*hd, 1)
	x := append([]float32(nil), x0...)
	y := make([]float32, len(x))
	f := func() float64 { copy(y, x); ropeForward(y, cos, sin, b, tt, h, hd); return dotLoss(proj, y) }
	dx := append([]float32(nil), proj...)
	ropeBackward(dx, cos, sin, b, tt, h, hd)
	fdCheck(t, "rope dx", x, dx, f, 60, 1e-2, 1e-3, 1e-3)
	// RoPE matches the inference model's rotation.
	m := &Model{cos: cos, sin: sin, cfg: Config{HeadDim: hd}}
	a, c := append([]float32(nil), x0[:tt*h*hd]...), append([]float32(nil), x0[:tt*h*hd]...)
	m.rope(a, tt, h, 0)
	ropeForward(c, cos, sin, 1, tt, h, hd)
	for i := range a {
		if math.Abs(float64(a[i]-c[i])) > 1e-6 {
			t.Fatalf("training RoPE differs from inference RoPE at %d: %v vs %v", i, c[i], a[i])
		}
	}
}

func TestAttentionGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 7))
	b, tt, h, hd := 2, 6, 2, 4
	n := b * tt * h * hd
	q, k, v, proj := randVec(r, n, 1), randVec(r, n, 1), randVec(r, n, 1), randVec(r, n, 1)
	out, p := make([]float32, n), make([]float32, b*h*tt*tt)
	f := func() float64 { attentionForward(out, p, q, k, v, b, tt, h, hd); return dotLoss(proj, out) }
	f()
	dq, dk, dv := make([]float32, n), make([]float32, n), make([]float32, n)
	attentionBackward(dq, dk, dv, proj, p, q, k, v, b, tt, h, hd)
	fdCheck(t, "attention dq", q, dq, f, 40, 1e-3, 2e-3, 1e-2)
	fdCheck(t, "attention dk", k, dk, f, 40, 1e-3, 2e-3, 1e-2)
	fdCheck(t, "attention dv", v, dv, f, 40, 1e-3, 2e-3, 1e-2)
}

func TestSwiGLUGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	n := 30
	g, u, proj := randVec(r, n, 2), randVec(r, n, 1), randVec(r, n, 1)
	h := make([]float32, n)
	f := func() float64 { swigluForward(h, g, u); return dotLoss(proj, h) }
	dg, du := make([]float32, n), make([]float32, n)
	swigluBackward(dg, du, proj, g, u)
	fdCheck(t, "swiglu dg", g, dg, f, n, 1e-3, 1e-3, 1e-2)
	fdCheck(t, "swiglu du", u, du, f, n, 1e-3, 1e-3, 1e-2)
}

func TestCrossEntropyGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	rows, v := 4, 7
	logits := randVec(r, rows*v, 2)
	targets := []int{3, -1, 0, 6}
	buf := make([]float32, rows*v)
	var valid int
	f := func() float64 { copy(buf, logits); return crossEntropyForward(buf, targets, rows, v, &valid) }
	f()
	crossEntropyBackward(buf, targets, rows, v, valid)
	grad := append([]float32(nil), buf...)
	fdCheck(t, "cross-entropy dlogits", logits, grad, f, rows*v, 1e-3, 1e-4, 1e-2)
	if valid != 3 {
		t.Errorf("valid = %d, want 3 (one masked target)", valid)
	}
}

func tinyTrainConfig() Config {
	return Config{VocabSize: 13, HiddenSize: 8, IntermediateSize: 12, NumLayers: 2, NumHeads: 2, NumKVHeads: 2,
		HeadDim: 4, MaxPositions: 32, RMSNormEps: 1e-6, RopeTheta: 10000}
}

// TestTrainModelGradient checks the whole model's gradient (embedding,
// every linear layer, norms) against finite differences of the loss.
func TestTrainModelGradient(t *testing.T) {
	tm, err := NewTrainModel(tinyTrainConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	// Larger weights than the 0.02 init, so the loss depends measurably on
	// every parameter.
	r := rand.New(rand.NewPCG(12, 13))
	for _, p := range tm.params {
		for i := range p.Value {
			p.Value[i] += float32(r.NormFloat64() * 0.3)
		}
	}
	b, tt := 2, 6
	tokens, targets := make([]int, b*tt), make([]int, b*tt)
	for i := range tokens {
		tokens[i] = r.IntN(13)
		targets[i] = r.IntN(13)
	}
	targets[4] = -1
	f := func() float64 {
		l, err := tm.Forward(tokens, targets, b, tt)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	f()
	optim.ZeroGrads(tm.params)
	if err := tm.Backward(); err != nil {
		t.Fatal(err)
	}
	grads := map[string][]float32{}
	for _, p := range tm.params {
		grads[p.Name] = append([]float32(nil), p.Grad...)
	}
	for _, p := range tm.params {
		fdCheck(t, p.Name, p.Value, grads[p.Name], f, 12, 2e-3, 2e-3, 3e-2)
	}
}

// TestTrainModelMatchesInference checks that the training forward computes
// the inference model's logits: the trained weights saved and reloaded give
// the same next-token distribution.
func TestTrainModelMatchesInference(t *testing.T) {
	tm, err := NewTrainModel(tinyTrainConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(14, 15))
	for _, p := range tm.params {
		for i := range p.Value {
			p.Value[i] += float32(r.NormFloat64() * 0.3)
		}
	}
	tokens := []int{1, 5, 7, 2, 12, 0, 3}
	targets := make([]int, len(tokens))
	if _, err := tm.Forward(tokens, targets, 1, len(tokens)); err != nil {
		t.Fatal(err)
	}
	probs := append([]float32(nil), tm.act.logits...)
	src := memorySource{}
	for _, p := range tm.params {
		src[p.Name] = encode(p.Name, 1, ParamShapes(tm.cfg)[p.Name], p.Value)
	}
	m, err := newModel(tm.cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := m.PrefillAll(t.Context(), m.NewState(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	lg := logits.Data().([]float32)
	v := tm.cfg.VocabSize
	worst := 0.0
	for row := range tokens {
		var sum float64
		mx := lg[row*v]
		for _, x := range lg[row*v : (row+1)*v] {
			mx = max(mx, x)
		}
		for _, x := range lg[row*v : (row+1)*v] {
			sum += math.Exp(float64(x - mx))
		}
		for j := 0; j < v; j++ {
			pj := math.Exp(float64(lg[row*v+j]-mx)) / sum
			worst = math.Max(worst, math.Abs(pj-float64(probs[row*v+j])))
		}
	}
	t.Logf("training vs inference forward: max |Δp| = %.3g", worst)
	if worst > 1e-5 {
		t.Errorf("training forward differs from inference: max |Δp| %.3g", worst)
	}
}

// TestTrainingLearns fits a tiny model to a repeating sequence: the loss
// must fall well below its starting value.
func TestTrainingLearns(t *testing.T) {
	tm, err := NewTrainModel(tinyTrainConfig(), 5)
	if err != nil {
		t.Fatal(err)
	}
	opt := optim.NewAdamW(0.0)
	seq := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5}
	tokens, targets := seq[:16], seq[1:17]
	var first, last float64
	for step := 0; step < 150; step++ {
		loss, err := tm.Forward(tokens, targets, 1, 16)
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = loss
		}
		last = loss
		optim.ZeroGrads(tm.params)
		tm.Backward()
		optim.ClipGlobalNorm(tm.params, 1)
		opt.Step(tm.params, 1e-2)
	}
	t.Logf("loss %.3f → %.3f after 150 steps", first, last)
	if last > first/4 {
		t.Errorf("loss did not fall: %.3f → %.3f", first, last)
	}
}

// TestTrainCheckpointRoundTrip saves a model and its optimizer, reloads
// both, and checks that training continues identically and that Load reads
// the checkpoint as an inference model.
func TestTrainCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tm, err := NewTrainModel(tinyTrainConfig(), 7)
	if err != nil {
		t.Fatal(err)
	}
	opt := optim.NewAdamW(0.1)
	tokens, targets := []int{1, 2, 3, 4, 5, 6}, []int{2, 3, 4, 5, 6, 7}
	step := func(tm *TrainModel, opt *optim.AdamW) float64 {
		loss, err := tm.Forward(tokens, targets, 1, 6)
		if err != nil {
			t.Fatal(err)
		}
		optim.ZeroGrads(tm.params)
		tm.Backward()
		opt.Step(tm.params, 1e-2)
		return loss
	}
	step(tm, opt)
	if err := tm.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := tm.saveOptimizer(filepath.Join(dir, "optimizer.safetensors"), opt); err != nil {
		t.Fatal(err)
	}
	tm2, err := LoadTrainModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	opt2 := optim.NewAdamW(0.1)
	if err := tm2.loadOptimizer(filepath.Join(dir, "optimizer.safetensors"), opt2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		a, b := step(tm, opt), step(tm2, opt2)
		if a != b {
			t.Fatalf("step %d after resume: loss %v vs %v", i, b, a)
		}
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config().NumLayers != 2 {
		t.Errorf("reloaded config %v", m.Config())
	}
}

// cycleRows is a RowSource repeating one sequence's rows.
type cycleRows struct {
	seq []int
	t   int
	i   int
}

func (c *cycleRows) NextRow() ([]int, error) {
	start := (c.i * c.t) % (len(c.seq) - c.t - 1)
	c.i++
	return c.seq[start : start+c.t+1], nil
}

// TestTrainerRun trains a tiny model on a periodic stream with
// accumulation, then checks determinism and resumption.
func TestTrainerRun(t *testing.T) {
	var seq []int
	for i := 0; i < 200; i++ {
		seq = append(seq, i%7+1)
	}
	dir := t.TempDir()
	run := func(resumeFrom string) float64 {
		tm, _ := NewTrainModel(tinyTrainConfig(), 9)
		tr, err := NewTrainer(tm, TrainOptions{Rows: 2, RowLen: 8, Accumulate: 2, Steps: 60, PeakLR: 1e-2, Warmup: 5})
		if err != nil {
			t.Fatal(err)
		}
		if resumeFrom != "" {
			if tr.Model, err = LoadTrainModel(resumeFrom); err != nil {
				t.Fatal(err)
			}
			if err := tr.LoadOptimizer(filepath.Join(resumeFrom, "optimizer.safetensors")); err != nil {
				t.Fatal(err)
			}
			if got := tr.Step(); got != 30 {
				t.Fatalf("Step after LoadOptimizer = %d, want 30", got)
			}
		} else {
			// Checkpoint at step 30, as an interrupted run would have.
			tr.opts.CheckpointEvery = 30
			tr.opts.Checkpoint = func(step int) error {
				if step != 30 {
					return nil
				}
				if err := tr.Model.Save(dir); err != nil {
					return err
				}
				return tr.SaveOptimizer(filepath.Join(dir, "optimizer.safetensors"))
			}
		}
		var last TrainProgress
		tr.opts.Progress = func(p TrainProgress) { last = p }
		loss, err := tr.Run(t.Context(), &cycleRows{seq: seq, t: 8, i: 4 * tr.Step()})
		if err != nil {
			t.Fatal(err)
		}
		if last.Step != 60 || last.TokensPerS <= 0 {
			t.Errorf("last progress %+v", last)
		}
		if tr.Step() != 60 {
			t.Errorf("Step after Run = %d, want 60", tr.Step())
		}
		return loss
	}
	full, again := run(""), run("")
	if full != again {
		t.Fatalf("not deterministic: %v vs %v", full, again)
	}
	t.Logf("loss after 60 steps: %.4f (uniform would be %.2f)", full, math.Log(13))
	if full > 0.5 {
		t.Errorf("periodic stream not learned: loss %.3f", full)
	}
	// Resume from the step-30 checkpoint: the same loss as the straight run.
	if resumed := run(dir); resumed != full {
		t.Errorf("resumed run ends at loss %v, straight run %v", resumed, full)
	}
}

// BenchmarkTrainStep times one forward + backward over 4 rows of 768
// tokens for a 5M-parameter model (hidden 256, 6 layers, FFN 688,
// vocabulary 512): the scale of the shipped synthetic-world model.
func BenchmarkTrainStep(b *testing.B) {
	c := Config{VocabSize: 512, HiddenSize: 256, IntermediateSize: 688, NumLayers: 6, NumHeads: 4, NumKVHeads: 4,
		HeadDim: 64, MaxPositions: 768, RMSNormEps: 1e-6, RopeTheta: 10000}
	tm, err := NewTrainModel(c, 1)
	if err != nil {
		b.Fatal(err)
	}
	const rows, t = 4, 768
	tokens, targets := make([]int, rows*t), make([]int, rows*t)
	for i := range tokens {
		tokens[i], targets[i] = (i*7919)%512, (i*104729+3)%512
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := tm.Forward(tokens, targets, rows, t); err != nil {
			b.Fatal(err)
		}
		if err := tm.Backward(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rows*t)/b.Elapsed().Seconds(), "tok/s")
}

// TestAttentionMatchesReference compares the blocked attention forward
// and backward with the one-dot-at-a-time references on shapes that are
// and are not multiples of the block.
func TestAttentionMatchesReference(t *testing.T) {
	for _, s := range []struct{ b, t, h, hd int }{{1, 5, 1, 4}, {2, 70, 2, 8}, {1, 130, 3, 64}, {2, 64, 2, 16}} {
		r := rand.New(rand.NewPCG(uint64(s.t), 3))
		w := s.h * s.hd
		vec := func(n int) []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			return x
		}
		q, k, v, dout := vec(s.b*s.t*w), vec(s.b*s.t*w), vec(s.b*s.t*w), vec(s.b*s.t*w)
		out, ref := make([]float32, len(q)), make([]float32, len(q))
		p, pRef := vec(s.b*s.h*s.t*s.t), vec(s.b*s.h*s.t*s.t) // garbage: must be overwritten
		attentionForward(out, p, q, k, v, s.b, s.t, s.h, s.hd)
		refAttentionForward(ref, pRef, q, k, v, s.b, s.t, s.h, s.hd)
		e1, e2 := maxAbsDiff(out, ref), maxAbsDiff(p, pRef)
		grads := make([][]float32, 6)
		for i := range grads {
			grads[i] = vec(len(q))
		}
		attentionBackward(grads[0], grads[1], grads[2], dout, p, q, k, v, s.b, s.t, s.h, s.hd)
		refAttentionBackward(grads[3], grads[4], grads[5], dout, pRef, q, k, v, s.b, s.t, s.h, s.hd)
		e3 := max(maxAbsDiff(grads[0], grads[3]), maxAbsDiff(grads[1], grads[4]), maxAbsDiff(grads[2], grads[5]))
		t.Logf("B=%d T=%d H=%d hd=%d: max abs diff out %.2g, p %.2g, grads %.2g", s.b, s.t, s.h, s.hd, e1, e2, e3)
		if e1 > 1e-5 || e2 > 1e-6 || e3 > 1e-5 {
			t.Errorf("B=%d T=%d H=%d hd=%d: blocked attention differs from the reference: out %g, p %g, grads %g (tol 1e-5, 1e-6, 1e-5)", s.b, s.t, s.h, s.hd, e1, e2, e3)
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// TestRemapVocab moves a perturbed tiny model to a vocabulary of V+3
// tokens with a scrambled parent map: the rows of the two vocabulary
// matrices must be copied from the parents, every other parameter
// unchanged, and on a sequence of child tokens the new model's logits must
// equal the old model's on the parent tokens, gathered through the map
// (bit for bit: the hidden states are the same computation).
func TestRemapVocab(t *testing.T) {
	cfg := tinyTrainConfig()
	tm, err := NewTrainModel(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(8, 9))
	for _, p := range tm.params {
		for i := range p.Value {
			p.Value[i] += float32(r.NormFloat64() * 0.3)
		}
	}
	V := cfg.VocabSize
	parent := make([]int, V+3)
	for c := range parent {
		parent[c] = (c*5 + 3) % V
	}
	got, err := tm.RemapVocab(parent)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config().VocabSize != V+3 || got.NumParams() != tm.NumParams()+2*3*cfg.HiddenSize {
		t.Fatalf("remapped: vocabulary %d, %d parameters (old %d)", got.Config().VocabSize, got.NumParams(), tm.NumParams())
	}
	for i, p := range got.params {
		if p.Name == "model.embed_tokens.weight" || p.Name == "lm_head.weight" {
			continue
		}
		if !slices.Equal(p.Value, tm.params[i].Value) {
			t.Errorf("%s changed", p.Name)
		}
	}
	infer := func(m *TrainModel) *Model {
		src := memorySource{}
		for _, p := range m.params {
			src[p.Name] = encode(p.Name, 1, ParamShapes(m.cfg)[p.Name], p.Value)
		}
		mod, err := newModel(m.cfg, src)
		if err != nil {
			t.Fatal(err)
		}
		return mod
	}
	children := []int{V + 2, 0, V, 7, V + 1, 3}
	parents := make([]int, len(children))
	for i, c := range children {
		parents[i] = parent[c]
	}
	oldM, newM := infer(tm), infer(got)
	lo, err := oldM.PrefillAll(t.Context(), oldM.NewState(), parents)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := newM.PrefillAll(t.Context(), newM.NewState(), children)
	if err != nil {
		t.Fatal(err)
	}
	a, b := lo.Data().([]float32), ln.Data().([]float32)
	for row := range children {
		for c, p := range parent {
			if x, y := b[row*(V+3)+c], a[row*V+p]; math.Float32bits(x) != math.Float32bits(y) {
				t.Fatalf("position %d: logit of token %d is %v, its parent %d's was %v", row, c, x, p, y)
			}
		}
	}
	for _, bad := range [][]int{{0, V}, {-1}} {
		if _, err := tm.RemapVocab(bad); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
			t.Errorf("parent map %v: %v", bad, err)
		}
	}
	if _, err := tm.RemapVocab(nil); err == nil {
		t.Error("empty parent map accepted")
	}
}
