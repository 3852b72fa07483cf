package tokenizer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/lvm-go/lvm/internal/optim"
)

// TrainVQGAN is a trainable float32 VQGAN of the official structure (the
// tokenizer stage of the LVM recipe, REFERENCE §2 and §5): every parameter
// with its gradient, and the activations of one forward pass over a batch,
// kept for the backward pass.
//
// The loss of a batch of images x is
//
//	recon      = mean over all values of (decoder(z_q) − x)²
//	codebook   = mean over latent values of (sg(z) − e)²
//	commitment = β · mean (z − sg(e))²          (β = Config.CommitmentCost)
//	loss       = recon + codebook + commitment
//
// with z the quant_conv output, e its nearest codebook rows (z_q = e, exact)
// and a straight-through estimator: the decoder's gradient with respect to
// z_q is passed to z unchanged. Perceptual and adversarial terms are not
// included.
//
// Trainer runs the training: each step is Forward, Backward, an AdamW
// update, then the dead-code restart (the remedy that keeps the codebook in
// use; see DeadCodeSteps). Parameters carry the checkpoint names of
// ParamNames, in PyTorch layout, so Tokenizer, Save and the saved AdamW
// state need no conversion. Dropout is
// not supported (configs with dropout > 0 are rejected). A TrainVQGAN is not
// safe for concurrent use.
type TrainVQGAN struct {
	cfg    Config
	params []optim.Param
	byName map[string]*trParam

	enc, dec                 []trModule // run in order; backward in reverse
	quantConv, postQuantConv *trConvLayer
	codebook                 *trParam // [K, E]

	// DeadCodeSteps is the number of consecutive training steps after
	// which a code that no Forward chose is re-initialised to an encoder
	// output of the step's batch (and its AdamW moments zeroed); 0
	// disables restarts. NewTrainVQGAN sets 20.
	DeadCodeSteps int
	// DeadCodeRule chooses which encoder outputs restarted codes take
	// (RestartRandom unless set).
	DeadCodeRule RestartRule

	// FreezeEncoder, when set, trains the decoder side alone
	// (post_quant_conv and decoder.*): Backward stops at the quantiser,
	// Trainer updates only those parameters and restarts no dead code, so
	// the encoder, quant_conv and codebook keep every bit and every image
	// keeps its codes. A tokenizer fine-tuned this way decodes better yet
	// tokenizes exactly as before, so a transformer trained on its codes
	// stays valid. Set it before the Trainer's first step (a saved
	// optimizer state records it and LoadOptimizer restores it).
	FreezeEncoder bool

	sc        trScratch
	pool      trPool
	rngSrc    *rand.PCG // the dead-code restarts' generator (saved with the optimizer state)
	rng       *rand.Rand
	sinceUsed []int  // per code: steps since a Forward last chose it
	usedNow   []bool // per code: chosen by a Forward since the last restartDeadCodes
	counts    []int

	// The last Forward.
	b       int
	x       []float32 // input, channels-last [b, R, R, C]
	z, zq   []float32 // quant_conv output and its quantised rows [b·g·g, E]
	codes   []int     // [b·g·g]
	margins []float64
	out     []float32 // decoder output, channels-last [b, R, R, C]
	dIn     []float32 // decoder input in the frozen mode (see trFrozenVQ)
	ready   bool      // a Forward awaits its Backward

	frozen *trFrozenVQ
}

// TrainStats are the losses and codebook figures of one Forward.
type TrainStats struct {
	Loss       float64 // Recon + Codebook + Commitment, the loss Backward differentiates
	Recon      float64 // mean squared error over all b·C·R·R output values
	Codebook   float64 // mean over the latent values of (sg(z) − e)²
	Commitment float64 // β · mean (z − sg(e))²
	CodesUsed  int     // distinct codes chosen in the batch
	Perplexity float64 // exp(entropy) of the batch's code frequencies: 1 (one code) … K (all equally)
}

// trFrozenVQ is a test hook: it freezes the quantiser's discrete choice and
// its stop-gradient operands at the values of one forward pass, so that the
// loss becomes a smooth function of every parameter whose gradient is the
// straight-through one (what the whole-model finite-difference test
// checks). With it set, Forward uses the given codes, feeds the decoder
// z + (e0 − z0) and computes codebook = mean((z0 − e)²), commitment =
// β·mean((z − e0)²).
type trFrozenVQ struct {
	codes  []int
	z0, e0 []float32
}

// trParam is a parameter's values and gradient (PyTorch layout).
type trParam struct{ w, g []float32 }

// NewTrainVQGAN returns a model of configuration cfg initialised as
// PyTorch initialises the official modules: every convolution's weight and
// bias uniform in ±1/√fan_in (kaiming_uniform with a = √5), GroupNorm
// weights 1 and biases 0, the codebook uniform in ±1/K; deterministic for
// seed (which also seeds the dead-code restarts).
func NewTrainVQGAN(cfg Config, seed uint64) (*TrainVQGAN, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Dropout != 0 {
		return nil, fmt.Errorf("tokenizer: training does not support dropout (config has dropout = %v)", cfg.Dropout)
	}
	cfg.ChannelMult = append([]int(nil), cfg.ChannelMult...)
	cfg.AttnResolutions = append([]int{}, cfg.AttnResolutions...)
	names, shapes, err := ParamNames(cfg)
	if err != nil {
		return nil, err
	}
	t := &TrainVQGAN{cfg: cfg, byName: make(map[string]*trParam, len(names)), DeadCodeSteps: 20}
	r := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	for i, name := range names {
		n := 1
		for _, d := range shapes[i] {
			n *= d
		}
		p := &trParam{w: make([]float32, n), g: make([]float32, n)}
		trInitParam(p.w, name, shapes[i], names, shapes, cfg, r)
		t.byName[name] = p
		t.params = append(t.params, optim.Param{Name: name, Value: p.w, Grad: p.g})
	}
	b := &trBuilder{t: t, claimed: map[string]bool{}}
	b.build()
	if b.err == nil {
		for _, name := range names {
			if !b.claimed[name] {
				b.err = fmt.Errorf("tokenizer: internal error: parameter %s is not used by the training model", name)
				break
			}
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	K := cfg.NumEmbeddings
	t.sinceUsed, t.usedNow, t.counts = make([]int, K), make([]bool, K), make([]int, K)
	t.rngSrc = rand.NewPCG(seed^0x9e3779b97f4a7c15, seed)
	t.rng = rand.New(t.rngSrc)
	return t, nil
}

// trInitParam fills w, the parameter name of the given shape, with its
// PyTorch default initial values drawn from r.
func trInitParam(w []float32, name string, shape []int, names []string, shapes [][]int, cfg Config, r *rand.Rand) {
	uniform := func(bound float64) {
		for i := range w {
			w[i] = float32(bound * (2*r.Float64() - 1))
		}
	}
	switch {
	case name == "quantize.embedding.weight":
		uniform(1 / float64(cfg.NumEmbeddings))
	case len(shape) == 4: // convolution weight [out, in, k, k]
		uniform(1 / math.Sqrt(float64(shape[1]*shape[2]*shape[3])))
	case len(shape) == 1:
		// A bias takes its layer's weight: a convolution's gives the
		// bound, a GroupNorm's (1-D) means weight 1 and bias 0.
		base, isBias := strings.CutSuffix(name, ".bias")
		var wshape []int
		for i, n := range names {
			if isBias && n == base+".weight" {
				wshape = shapes[i]
			}
		}
		switch {
		case isBias && len(wshape) == 4:
			uniform(1 / math.Sqrt(float64(wshape[1]*wshape[2]*wshape[3])))
		case isBias:
			clear(w)
		default:
			for i := range w {
				w[i] = 1
			}
		}
	}
}

// Config returns a copy of the model's configuration.
func (t *TrainVQGAN) Config() Config {
	c := t.cfg
	c.ChannelMult = append([]int(nil), c.ChannelMult...)
	c.AttnResolutions = append([]int{}, c.AttnResolutions...)
	return c
}

// NumParams is the number of trainable values (NumParameters(cfg)).
func (t *TrainVQGAN) NumParams() int {
	n := 0
	for _, p := range t.params {
		n += len(p.Value)
	}
	return n
}

// ParamMap returns the parameters by checkpoint name, in PyTorch layout, as
// New takes them. The slices alias the model.
func (t *TrainVQGAN) ParamMap() map[string][]float32 {
	m := make(map[string][]float32, len(t.params))
	for _, p := range t.params {
		m[p.Name] = p.Value
	}
	return m
}

// Tokenizer returns an inference Tokenizer holding a copy of the current
// parameters.
func (t *TrainVQGAN) Tokenizer() (*Tokenizer, error) { return New(t.cfg, t.ParamMap()) }

// Forward runs the model over b images given as pix, b consecutive CHW
// images [C, R, R] (C = num_channels, R = resolution) with values in [0, 1],
// and returns the losses and codebook figures. Its activations are kept for
// Backward; the codes it chose count as used for the dead-code restarts. An input
// of the wrong size or with a non-finite value is an error.
func (t *TrainVQGAN) Forward(pix []float32, b int) (TrainStats, error) {
	t.ready = false
	C, R := t.cfg.NumChannels, t.cfg.Resolution
	if b <= 0 || len(pix) != b*C*R*R {
		return TrainStats{}, fmt.Errorf("tokenizer: Forward: %d pixel values for %d images of %d×%d×%d", len(pix), b, C, R, R)
	}
	for i, v := range pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			img, r := i/(C*R*R), i%(C*R*R)
			return TrainStats{}, fmt.Errorf("tokenizer: Forward: image %d, channel %d, row %d, col %d is %v", img, r/(R*R), r%(R*R)/R, r%R, v)
		}
	}
	t.b = b
	t.x = trGrow(&t.x, len(pix))
	P := R * R
	trFor(b*P, C, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			n, p := q/P, q%P
			for c := 0; c < C; c++ {
				t.x[q*C+c] = pix[(n*C+c)*P+p]
			}
		}
	})
	h, s := t.x, trShape{b, R, R, C}
	for _, m := range t.enc {
		h, s = m.forward(t, h, s)
	}
	z, zs := t.quantConv.forward(t, h, s)
	t.z = z
	n, K, E := zs.pixels(), t.cfg.NumEmbeddings, t.cfg.QuantizedEmbedDim
	t.zq = trGrow(&t.zq, n*E)
	if cap(t.codes) < n {
		t.codes, t.margins = make([]int, n), make([]float64, n)
	}
	t.codes, t.margins = t.codes[:n], t.margins[:n]
	var codebook, commitment float64
	dIn := t.zq
	if f := t.frozen; f != nil {
		copy(t.codes, f.codes)
		for i, c := range t.codes {
			copy(t.zq[i*E:(i+1)*E], t.codebook.w[c*E:(c+1)*E])
		}
		t.dIn = trGrow(&t.dIn, n*E)
		for i := range t.dIn {
			t.dIn[i] = z[i] + (f.e0[i] - f.z0[i])
		}
		dIn = t.dIn
		codebook = trMSE(f.z0, t.zq)
		commitment = t.cfg.CommitmentCost * trMSE(z, f.e0)
	} else {
		trQuantizeForward(t.zq, t.codes, t.margins, z, t.codebook.w, n, K, E, &t.sc)
		codebook = trMSE(z, t.zq)
		commitment = t.cfg.CommitmentCost * codebook
	}
	h, s = t.postQuantConv.forward(t, dIn, zs)
	for _, m := range t.dec {
		h, s = m.forward(t, h, s)
	}
	t.out = h
	st := TrainStats{Recon: trMSE(t.out, t.x), Codebook: codebook, Commitment: commitment}
	st.Loss = st.Recon + st.Codebook + st.Commitment
	st.CodesUsed, st.Perplexity = trCodeStats(t.codes, K, t.counts)
	for _, c := range t.codes {
		t.usedNow[c] = true
	}
	t.ready = true
	return st, nil
}

// Backward adds the gradient of the last Forward's loss to every
// parameter's gradient (accumulating; Trainer zeroes them before each
// step). Each Forward allows one Backward.
func (t *TrainVQGAN) Backward() error {
	if !t.ready {
		return fmt.Errorf("tokenizer: Backward without a Forward")
	}
	t.ready = false
	d := t.pool.get(len(t.out))
	trMSEBackward(d, t.out, t.x, 1)
	for i := len(t.dec) - 1; i >= 0; i-- {
		next := t.dec[i].backward(t, d)
		t.pool.put(d)
		d = next
	}
	dzq := t.postQuantConv.backward(t, d)
	t.pool.put(d)
	if t.FreezeEncoder {
		t.pool.put(dzq)
		return nil
	}
	dz := t.pool.get(len(t.z))
	trQuantizeBackward(dz, t.codebook.g, dzq, t.z, t.zq, t.codes, t.cfg.QuantizedEmbedDim, t.cfg.CommitmentCost)
	t.pool.put(dzq)
	d = t.quantConv.backward(t, dz)
	t.pool.put(dz)
	for i := len(t.enc) - 1; i >= 0; i-- {
		next := t.enc[i].backward(t, d)
		t.pool.put(d)
		d = next
	}
	t.pool.put(d) // nil: conv_in computes no input gradient
	return nil
}

// trainable returns the parameters that training updates: all of them, or
// with FreezeEncoder those of post_quant_conv and the decoder (their order
// in ParamNames kept).
func (t *TrainVQGAN) trainable() []optim.Param { return t.trainableIf(t.FreezeEncoder) }

// trainableIf is trainable as if FreezeEncoder were freeze.
func (t *TrainVQGAN) trainableIf(freeze bool) []optim.Param {
	if !freeze {
		return t.params
	}
	var ps []optim.Param
	for _, p := range t.params {
		if isDecoderSide(p.Name) {
			ps = append(ps, p)
		}
	}
	return ps
}

// isDecoderSide reports whether the checkpoint tensor name belongs to the
// part of the VQGAN after the quantiser.
func isDecoderSide(name string) bool {
	return strings.HasPrefix(name, "decoder.") || strings.HasPrefix(name, "post_quant_conv.")
}

// Codes returns a copy of the codes the last Forward chose, [b, g, g]
// row-major (index within an image = g·row + col, as Encode returns them).
func (t *TrainVQGAN) Codes() []int { return append([]int(nil), t.codes...) }

// Reconstruction returns the last Forward's decoder output as b consecutive
// CHW images [C, R, R] (not clamped), the layout of Forward's input.
func (t *TrainVQGAN) Reconstruction() []float32 {
	C, P := t.cfg.NumChannels, t.cfg.Resolution*t.cfg.Resolution
	out := make([]float32, len(t.out))
	for q := 0; q < t.b*P; q++ {
		n, p := q/P, q%P
		for c := 0; c < C; c++ {
			out[(n*C+c)*P+p] = t.out[q*C+c]
		}
	}
	return out
}

// restartDeadCodes is the dead-code remedy; Trainer calls it once per
// training step, after the optimizer step. Every code that a Forward chose since the
// previous call has its idle count reset, every other code's count grows by
// one, and each code idle for DeadCodeSteps steps is re-initialised to an
// encoder output (a quant_conv row) of the last Forward's batch. The rows
// are drawn without repetition (repeating only when more codes are dead
// than the batch has latent positions) by the model's generator, seeded by
// NewTrainVQGAN's seed and saved with the optimizer state, so training is
// deterministic. When opt is non-nil the restarted rows' AdamW moments are
// zeroed too. It returns the number of codes restarted.
func (t *TrainVQGAN) restartDeadCodes(opt *optim.AdamW) int {
	var dead []int
	for j := range t.sinceUsed {
		if t.usedNow[j] {
			t.sinceUsed[j] = 0
		} else {
			t.sinceUsed[j]++
		}
		t.usedNow[j] = false
		if t.DeadCodeSteps > 0 && t.sinceUsed[j] >= t.DeadCodeSteps {
			dead = append(dead, j)
		}
	}
	n := len(t.codes)
	if len(dead) == 0 || n == 0 {
		return 0
	}
	E := t.cfg.QuantizedEmbedDim
	var moments [2][]float32
	if opt != nil {
		if _, ms := opt.State(t.params); ms != nil {
			moments = ms["quantize.embedding.weight"]
		}
	}
	var pick func(i int) int
	if t.DeadCodeRule == RestartFar {
		pick = t.farRows(E)
	} else {
		var perm []int
		pick = func(i int) int {
			if i%n == 0 {
				perm = t.rng.Perm(n)
			}
			return perm[i%n]
		}
	}
	for i, j := range dead {
		row := pick(i)
		copy(t.codebook.w[j*E:(j+1)*E], t.z[row*E:(row+1)*E])
		for _, m := range moments {
			if m != nil {
				clear(m[j*E : (j+1)*E])
			}
		}
		t.sinceUsed[j] = 0
	}
	return len(dead)
}

// RestartRule is how TrainVQGAN re-initialises dead codes.
type RestartRule int

const (
	// RestartRandom gives dead codes encoder outputs of the last batch
	// drawn uniformly without repetition. Most latent positions of simple
	// images are flat backgrounds, so most restarted codes land beside
	// codes that already cover them and the codebook fills with
	// near-duplicates.
	RestartRandom RestartRule = iota
	// RestartFar draws them as k-means++ seeds: each encoder output with
	// probability proportional to its squared distance to the nearest code
	// (its chosen code, or a code restarted before it in the same call),
	// so new codes go where the codebook quantises worst — edges and rare
	// colours — and not onto a background twice.
	RestartFar
)

// String returns "random" or "far".
func (r RestartRule) String() string {
	switch r {
	case RestartRandom:
		return "random"
	case RestartFar:
		return "far"
	}
	return fmt.Sprintf("RestartRule(%d)", int(r))
}

// ParseRestartRule returns the rule named s ("random" or "far").
func ParseRestartRule(s string) (RestartRule, error) {
	switch s {
	case "random":
		return RestartRandom, nil
	case "far":
		return RestartFar, nil
	}
	return 0, fmt.Errorf("tokenizer: unknown dead-code restart rule %q (want random or far)", s)
}

// farRows returns RestartFar's row chooser for the last Forward: call i
// returns the row for the i-th dead code. The distances start as each
// row's squared distance to its chosen code (as the codebook is now, after
// the update) and shrink as restarted codes are placed; a row already taken
// has distance 0 and is not drawn again unless every distance is 0, when
// the draw falls back to a uniform one.
func (t *TrainVQGAN) farRows(E int) func(i int) int {
	n := len(t.codes)
	d := make([]float64, n)
	for r, c := range t.codes {
		d[r] = sqDist(t.z[r*E:(r+1)*E], t.codebook.w[c*E:(c+1)*E])
	}
	return func(int) int {
		var total float64
		for _, v := range d {
			total += v
		}
		row := -1
		if total > 0 {
			u := t.rng.Float64() * total
			for r, v := range d {
				if v > 0 {
					row = r // the last positive weight, should rounding run past it
					if u -= v; u < 0 {
						break
					}
				}
			}
		} else {
			row = t.rng.IntN(n)
		}
		z := t.z[row*E : (row+1)*E]
		for r := range d {
			if d[r] > 0 {
				d[r] = math.Min(d[r], sqDist(t.z[r*E:(r+1)*E], z))
			}
		}
		d[row] = 0
		return row
	}
}

// sqDist is the squared Euclidean distance of two vectors, in float64.
func sqDist(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		e := float64(v) - float64(b[i])
		s += e * e
	}
	return s
}

// ---------------------------------------------------------------------------
// Modules

// trModule is one stage of the encoder or decoder: forward keeps what its
// backward needs (the input by reference, its own outputs in buffers it
// owns and reuses) and returns its output and its shape; backward takes the
// gradient of that output and returns the gradient of the input in a new
// buffer from the model's pool (the caller puts both back).
type trModule interface {
	forward(t *TrainVQGAN, x []float32, s trShape) ([]float32, trShape)
	backward(t *TrainVQGAN, dout []float32) []float32
}

// trConv is a convolution's parameters and geometry.
type trConv struct {
	w, b         *trParam
	cout, cin, k int
	g            trConvGeom
}

// trConvLayer is a convolution as a module. noInputGrad skips the input
// gradient (for conv_in, whose input is the image); backward then returns
// nil.
type trConvLayer struct {
	c           trConv
	noInputGrad bool
	x, out      []float32
	s           trShape
}

func (l *trConvLayer) forward(t *TrainVQGAN, x []float32, s trShape) ([]float32, trShape) {
	l.x, l.s = x, s
	o := trConvOut(s, l.c.cout, l.c.g)
	l.out = trGrow(&l.out, o.size())
	trConvForward(l.out, x, l.c.w.w, l.c.b.w, s, l.c.cout, l.c.k, l.c.g, &t.sc)
	return l.out, o
}

func (l *trConvLayer) backward(t *TrainVQGAN, dout []float32) []float32 {
	var dx []float32
	if !l.noInputGrad {
		dx = t.pool.get(l.s.size())
	}
	trConvBackward(dx, l.c.w.g, l.c.b.g, dout, l.x, l.c.w.w, l.s, l.c.cout, l.c.k, l.c.g, &t.sc)
	return dx
}

// trNormAct is GroupNorm, optionally followed by SiLU (whose σ it keeps
// for the backward pass).
type trNormAct struct {
	gamma, beta        *trParam
	silu               bool
	x                  []float32
	s                  trShape
	mean, rstd, y, sig []float32
}

func (a *trNormAct) forward(t *TrainVQGAN, x []float32, s trShape) ([]float32, trShape) {
	a.x, a.s = x, s
	a.mean = trGrow(&a.mean, s.b*trGroups)
	a.rstd = trGrow(&a.rstd, s.b*trGroups)
	a.y = trGrow(&a.y, s.size())
	trGroupNormForward(a.y, a.mean, a.rstd, x, a.gamma.w, a.beta.w, s, &t.sc)
	if a.silu {
		a.sig = trGrow(&a.sig, s.size())
		trSiLUForwardKeep(a.y, a.sig, a.y)
	}
	return a.y, s
}

func (a *trNormAct) backward(t *TrainVQGAN, dout []float32) []float32 {
	dx := t.pool.get(a.s.size())
	a.addBackward(t, dx, dout)
	return dx
}

// addBackward adds the input gradient to dx.
func (a *trNormAct) addBackward(t *TrainVQGAN, dx, dout []float32) {
	dy := dout
	if a.silu {
		dy = t.pool.get(a.s.size())
		trSiLUBackwardFromOutput(dy, dout, a.y, a.sig)
	}
	trGroupNormBackward(dx, a.gamma.g, a.beta.g, dy, a.x, a.mean, a.rstd, a.gamma.w, a.s, &t.sc)
	if a.silu {
		t.pool.put(dy)
	}
}

// trResBlock is a ResnetBlock: x + conv2(silu(norm2(conv1(silu(norm1 x))))),
// with x through the 1×1 nin_shortcut when the widths differ.
type trResBlock struct {
	norm1, norm2 trNormAct
	conv1, conv2 trConv
	nin          *trConv
	x, h, out    []float32
	s            trShape
}

func (r *trResBlock) forward(t *TrainVQGAN, x []float32, s trShape) ([]float32, trShape) {
	r.x, r.s = x, s
	o := s.withC(r.conv1.cout)
	a1, _ := r.norm1.forward(t, x, s)
	r.h = trGrow(&r.h, o.size())
	trConvForward(r.h, a1, r.conv1.w.w, r.conv1.b.w, s, o.c, 3, trSame, &t.sc)
	a2, _ := r.norm2.forward(t, r.h, o)
	r.out = trGrow(&r.out, o.size())
	trConvForward(r.out, a2, r.conv2.w.w, r.conv2.b.w, o, o.c, 3, trSame, &t.sc)
	if r.nin != nil {
		tmp := t.pool.get(o.size())
		trConvForward(tmp, x, r.nin.w.w, r.nin.b.w, s, o.c, 1, trSame, &t.sc)
		trAddTo(r.out, tmp)
		t.pool.put(tmp)
	} else {
		trAddTo(r.out, x)
	}
	return r.out, o
}

func (r *trResBlock) backward(t *TrainVQGAN, dout []float32) []float32 {
	s, o := r.s, r.s.withC(r.conv1.cout)
	dx := t.pool.get(s.size())
	if r.nin != nil {
		trConvBackward(dx, r.nin.w.g, r.nin.b.g, dout, r.x, r.nin.w.w, s, o.c, 1, trSame, &t.sc)
	} else {
		trAddTo(dx, dout)
	}
	da2 := t.pool.get(o.size())
	trConvBackward(da2, r.conv2.w.g, r.conv2.b.g, dout, r.norm2.y, r.conv2.w.w, o, o.c, 3, trSame, &t.sc)
	dh := t.pool.get(o.size())
	r.norm2.addBackward(t, dh, da2)
	t.pool.put(da2)
	da1 := t.pool.get(s.size())
	trConvBackward(da1, r.conv1.w.g, r.conv1.b.g, dh, r.norm1.y, r.conv1.w.w, s, o.c, 3, trSame, &t.sc)
	t.pool.put(dh)
	r.norm1.addBackward(t, dx, da1)
	t.pool.put(da1)
	return dx
}

// trAttnBlock is the single-head AttnBlock: x + proj_out(attention(q, k, v))
// with q, k, v the 1×1 projections of norm(x).
type trAttnBlock struct {
	norm                     trNormAct
	q, k, v, proj            trConv
	x, qa, ka, va, p, o, out []float32
	s                        trShape
}

func (a *trAttnBlock) forward(t *TrainVQGAN, x []float32, s trShape) ([]float32, trShape) {
	a.x, a.s = x, s
	hn, _ := a.norm.forward(t, x, s)
	for _, pr := range []struct {
		c   *trConv
		out *[]float32
	}{{&a.q, &a.qa}, {&a.k, &a.ka}, {&a.v, &a.va}} {
		*pr.out = trGrow(pr.out, s.size())
		trConvForward(*pr.out, hn, pr.c.w.w, pr.c.b.w, s, s.c, 1, trSame, &t.sc)
	}
	P := s.h * s.w
	a.p = trGrow(&a.p, s.b*P*P)
	a.o = trGrow(&a.o, s.size())
	trAttentionForward(a.o, a.p, a.qa, a.ka, a.va, s, &t.sc)
	a.out = trGrow(&a.out, s.size())
	trConvForward(a.out, a.o, a.proj.w.w, a.proj.b.w, s, s.c, 1, trSame, &t.sc)
	trAddTo(a.out, x)
	return a.out, s
}

func (a *trAttnBlock) backward(t *TrainVQGAN, dout []float32) []float32 {
	s := a.s
	dx := t.pool.get(s.size())
	trAddTo(dx, dout)
	do := t.pool.get(s.size())
	trConvBackward(do, a.proj.w.g, a.proj.b.g, dout, a.o, a.proj.w.w, s, s.c, 1, trSame, &t.sc)
	dq, dk, dv := t.pool.get(s.size()), t.pool.get(s.size()), t.pool.get(s.size())
	trAttentionBackward(dq, dk, dv, do, a.p, a.qa, a.ka, a.va, s, &t.sc)
	dhn := t.pool.get(s.size())
	for _, pr := range []struct {
		c *trConv
		d []float32
	}{{&a.q, dq}, {&a.k, dk}, {&a.v, dv}} {
		trConvBackward(dhn, pr.c.w.g, pr.c.b.g, pr.d, a.norm.y, pr.c.w.w, s, s.c, 1, trSame, &t.sc)
	}
	a.norm.addBackward(t, dx, dhn)
	for _, b := range [][]float32{do, dq, dk, dv, dhn} {
		t.pool.put(b)
	}
	return dx
}

// trResample is a level's Downsample (3×3 stride-2 convolution after the
// asymmetric pad, or 2×2 average pooling without resample_with_conv) or
// Upsample (nearest ×2, then a 3×3 convolution when resample_with_conv).
type trResample struct {
	conv      *trConv
	up        bool
	x, u, out []float32
	s         trShape
}

func (r *trResample) forward(t *TrainVQGAN, x []float32, s trShape) ([]float32, trShape) {
	r.x, r.s = x, s
	switch {
	case r.up:
		us := trShape{s.b, 2 * s.h, 2 * s.w, s.c}
		if r.conv == nil {
			r.out = trGrow(&r.out, us.size())
			trUpsampleForward(r.out, x, s)
			return r.out, us
		}
		r.u = trGrow(&r.u, us.size())
		trUpsampleForward(r.u, x, s)
		r.out = trGrow(&r.out, us.size())
		trConvForward(r.out, r.u, r.conv.w.w, r.conv.b.w, us, s.c, 3, trSame, &t.sc)
		return r.out, us
	case r.conv == nil:
		o := trShape{s.b, s.h / 2, s.w / 2, s.c}
		r.out = trGrow(&r.out, o.size())
		trAvgPoolForward(r.out, x, s)
		return r.out, o
	default:
		o := trConvOut(s, s.c, trDown)
		r.out = trGrow(&r.out, o.size())
		trConvForward(r.out, x, r.conv.w.w, r.conv.b.w, s, s.c, 3, trDown, &t.sc)
		return r.out, o
	}
}

func (r *trResample) backward(t *TrainVQGAN, dout []float32) []float32 {
	s := r.s
	dx := t.pool.get(s.size())
	switch {
	case r.up && r.conv == nil:
		trUpsampleBackward(dx, dout, s)
	case r.up:
		us := trShape{s.b, 2 * s.h, 2 * s.w, s.c}
		du := t.pool.get(us.size())
		trConvBackward(du, r.conv.w.g, r.conv.b.g, dout, r.u, r.conv.w.w, us, s.c, 3, trSame, &t.sc)
		trUpsampleBackward(dx, du, s)
		t.pool.put(du)
	case r.conv == nil:
		trAvgPoolBackward(dx, dout, s)
	default:
		trConvBackward(dx, r.conv.w.g, r.conv.b.g, dout, r.x, r.conv.w.w, s, s.c, 3, trDown, &t.sc)
	}
	return dx
}

// trPool hands out zeroed gradient buffers and takes them back, so that a
// backward pass allocates only on its first run.
type trPool struct{ free [][]float32 }

// get returns a zeroed slice of length n, reusing the smallest free buffer
// that is large enough.
func (p *trPool) get(n int) []float32 {
	best := -1
	for i, b := range p.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float32, n)
	}
	b := p.free[best][:n]
	p.free[best] = p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	clear(b)
	return b
}

// put gives b back; it must not be used afterwards. nil is ignored.
func (p *trPool) put(b []float32) {
	if cap(b) > 0 {
		p.free = append(p.free, b[:0])
	}
}

// ---------------------------------------------------------------------------
// Construction

// trBuilder assembles the modules in the order of the network (the
// inference builder's order), taking parameters by checkpoint name.
type trBuilder struct {
	t       *TrainVQGAN
	claimed map[string]bool
	err     error
}

func (b *trBuilder) param(name string) *trParam {
	p, ok := b.t.byName[name]
	if !ok && b.err == nil {
		b.err = fmt.Errorf("tokenizer: internal error: the training model needs parameter %s, which ParamNames does not list", name)
		p = &trParam{}
	}
	b.claimed[name] = true
	return p
}

func (b *trBuilder) conv(name string, cout, cin, k int, g trConvGeom) trConv {
	return trConv{w: b.param(name + ".weight"), b: b.param(name + ".bias"), cout: cout, cin: cin, k: k, g: g}
}

func (b *trBuilder) norm(name string, silu bool) trNormAct {
	return trNormAct{gamma: b.param(name + ".weight"), beta: b.param(name + ".bias"), silu: silu}
}

func (b *trBuilder) resBlock(name string, in, out int) *trResBlock {
	r := &trResBlock{
		norm1: b.norm(name+".norm1", true),
		conv1: b.conv(name+".conv1", out, in, 3, trSame),
		norm2: b.norm(name+".norm2", true),
		conv2: b.conv(name+".conv2", out, out, 3, trSame),
	}
	if in != out {
		c := b.conv(name+".nin_shortcut", out, in, 1, trSame)
		r.nin = &c
	}
	return r
}

func (b *trBuilder) attn(name string, c int) *trAttnBlock {
	return &trAttnBlock{
		norm: b.norm(name+".norm", false),
		q:    b.conv(name+".q", c, c, 1, trSame),
		k:    b.conv(name+".k", c, c, 1, trSame),
		v:    b.conv(name+".v", c, c, 1, trSame),
		proj: b.conv(name+".proj_out", c, c, 1, trSame),
	}
}

func (b *trBuilder) mid(name string, c int, withAttn bool) []trModule {
	ms := []trModule{b.resBlock(name+".block_1", c, c)}
	if withAttn {
		ms = append(ms, b.attn(name+".attn_1", c))
	}
	return append(ms, b.resBlock(name+".block_2", c, c))
}

// level returns the modules of one encoder or decoder level: its
// ResnetBlocks, each followed by its attention block when the level has
// attention blocks and more than one of them (open-muse runs them only
// then; a lone one keeps its parameters, unused), then the resampling.
func (b *trBuilder) level(prefix string, in, out, nBlocks int, attn bool, resample *trResample) []trModule {
	var ms []trModule
	for j := 0; j < nBlocks; j++ {
		ms = append(ms, b.resBlock(prefix+".block."+strconv.Itoa(j), in, out))
		in = out
		if attn {
			a := b.attn(prefix+".attn."+strconv.Itoa(j), out)
			if nBlocks > 1 {
				ms = append(ms, a)
			}
		}
	}
	if resample != nil {
		ms = append(ms, resample)
	}
	return ms
}

func (b *trBuilder) build() {
	t, cfg := b.t, b.t.cfg
	L, hid := cfg.Levels(), cfg.HiddenChannels
	ch := func(i int) int { return hid * cfg.ChannelMult[i] }
	hasAttn := func(res int) bool {
		for _, r := range cfg.AttnResolutions {
			if r == res {
				return true
			}
		}
		return false
	}
	top := ch(L - 1)

	// Encoder.
	t.enc = []trModule{&trConvLayer{c: b.conv("encoder.conv_in", hid, cfg.NumChannels, 3, trSame), noInputGrad: true}}
	res := cfg.Resolution
	for i := 0; i < L; i++ {
		p := "encoder.down." + strconv.Itoa(i)
		in := hid
		if i > 0 {
			in = ch(i - 1)
		}
		var rs *trResample
		withAttn := hasAttn(res)
		if i != L-1 {
			rs = &trResample{}
			if cfg.ResampleWithConv {
				c := b.conv(p+".downsample.conv", ch(i), ch(i), 3, trDown)
				rs.conv = &c
			}
			res /= 2
		}
		// The downsample convolution's parameters come after the level's
		// blocks in the checkpoint; claiming order does not matter here.
		t.enc = append(t.enc, b.level(p, in, ch(i), cfg.NumResBlocks, withAttn, rs)...)
	}
	t.enc = append(t.enc, b.mid("encoder.mid", top, !cfg.NoAttnMidBlock)...)
	no := b.norm("encoder.norm_out", true)
	t.enc = append(t.enc, &no, &trConvLayer{c: b.conv("encoder.conv_out", cfg.ZChannels, top, 3, trSame)})

	// Decoder: levels stored up.0 … up.(L−1), run from the last.
	t.dec = []trModule{&trConvLayer{c: b.conv("decoder.conv_in", top, cfg.ZChannels, 3, trSame)}}
	t.dec = append(t.dec, b.mid("decoder.mid", top, !cfg.NoAttnMidBlock)...)
	for i := L - 1; i >= 0; i-- {
		p := "decoder.up." + strconv.Itoa(i)
		in := top
		if i < L-1 {
			in = ch(i + 1)
		}
		var rs *trResample
		if i != 0 {
			rs = &trResample{up: true}
			if cfg.ResampleWithConv {
				c := b.conv(p+".upsample.conv", ch(i), ch(i), 3, trSame)
				rs.conv = &c
			}
		}
		t.dec = append(t.dec, b.level(p, in, ch(i), cfg.NumResBlocks+1, hasAttn(cfg.Resolution>>i), rs)...)
	}
	dn := b.norm("decoder.norm_out", true)
	t.dec = append(t.dec, &dn, &trConvLayer{c: b.conv("decoder.conv_out", cfg.NumChannels, ch(0), 3, trSame)})

	// Quantiser and the 1×1 convolutions around it.
	E := cfg.QuantizedEmbedDim
	t.codebook = b.param("quantize.embedding.weight")
	t.quantConv = &trConvLayer{c: b.conv("quant_conv", E, cfg.ZChannels, 1, trSame)}
	t.postQuantConv = &trConvLayer{c: b.conv("post_quant_conv", cfg.ZChannels, E, 1, trSame)}
}
