package tokenizer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/lvm-go/lvm/internal/weights"
)

// Load reads a tokenizer from a checkpoint directory holding config.json and
// the weights, model.safetensors or pytorch_model.bin (as chosen by
// weights.Open: safetensors first). Every tensor the configuration implies
// is checked by name and shape; the first one missing or mis-shaped is named
// in the error. Weights of any float dtype are converted to float32 and
// copied, so nothing stays mapped once Load returns.
func Load(dir string) (*Tokenizer, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("tokenizer: Load: %s is not a directory (use LoadFiles for separate config and weight files)", dir)
	}
	return LoadFiles(filepath.Join(dir, "config.json"), dir)
}

// LoadFiles reads a tokenizer from a config.json and a weights path (a
// .safetensors or torch .bin file, or a directory; see weights.Open), with
// the same checks as Load.
func LoadFiles(configPath, weightsPath string) (*Tokenizer, error) {
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return nil, err
	}
	set, err := weights.Open(weightsPath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer set.Close()
	// Check every name and shape before converting anything.
	for _, s := range paramSpecs(cfg) {
		t, err := set.Tensor(s.name)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: checkpoint %s for this config (%d levels, hidden_channels %d): %w",
				set.Path(), cfg.Levels(), cfg.HiddenChannels, err)
		}
		if !equalShape(t.Shape, s.shape) {
			return nil, shapeError(s.name, t.Shape, s.shape, t.File)
		}
	}
	m, err := build(cfg, &setSource{set: set})
	if err != nil {
		return nil, err
	}
	return newTokenizer(cfg, m), nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// setSource reads parameters from an open checkpoint, converting to float32.
type setSource struct {
	set   *weights.Set
	first error
}

func (s *setSource) fetch(name string, shape []int) []float32 {
	if s.first != nil {
		return nil
	}
	t, err := s.set.Tensor(name)
	if err != nil {
		s.first = fmt.Errorf("tokenizer: %w", err)
		return nil
	}
	if !equalShape(t.Shape, shape) {
		s.first = shapeError(name, t.Shape, shape, t.File)
		return nil
	}
	v, err := t.Float32s()
	if err != nil {
		s.first = fmt.Errorf("tokenizer: tensor %q: %w", name, err)
		return nil
	}
	return v
}

func (s *setSource) err() error { return s.first }

// New builds a tokenizer from in-memory parameters: params maps every name
// of ParamNames(cfg) to its values, flat, in PyTorch layout and shape order
// (conv weights [out, in, kh, kw], the codebook [K, E]). The values are
// copied; the caller keeps ownership of params. Names not used by cfg are
// ignored. The error names the first missing tensor or wrong length.
func New(cfg Config, params map[string][]float32) (*Tokenizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	m, err := build(cfg, &mapSource{params: params})
	if err != nil {
		return nil, err
	}
	return newTokenizer(cfg, m), nil
}

// mapSource reads parameters from a map, copying them.
type mapSource struct {
	params map[string][]float32
	first  error
}

func (s *mapSource) fetch(name string, shape []int) []float32 {
	if s.first != nil {
		return nil
	}
	v, ok := s.params[name]
	if !ok {
		s.first = fmt.Errorf("tokenizer: New: parameter %q (shape %s) is missing", name, shapeString(shape))
		return nil
	}
	if n := numElements(shape); len(v) != n {
		s.first = fmt.Errorf("tokenizer: New: parameter %q has %d values, want %d (shape %s)", name, len(v), n, shapeString(shape))
		return nil
	}
	return append([]float32(nil), v...)
}

func (s *mapSource) err() error { return s.first }

// randSource makes deterministic random parameters: conv weights and the
// codebook uniform in ±1/√fan_in (PyTorch's default conv init scale), biases
// uniform in ±0.1, norm weights 1±0.1 and norm biases ±0.1.
type randSource struct {
	rng *rand.Rand
}

func (s *randSource) fetch(name string, shape []int) []float32 {
	v := make([]float32, numElements(shape))
	var lo, hi float64
	switch {
	case len(shape) > 1: // conv weight or codebook
		fanIn := numElements(shape[1:])
		lo, hi = -1/math.Sqrt(float64(fanIn)), 1/math.Sqrt(float64(fanIn))
	case isNormWeight(name):
		lo, hi = 0.9, 1.1
	default:
		lo, hi = -0.1, 0.1
	}
	for i := range v {
		v[i] = float32(lo + (hi-lo)*s.rng.Float64())
	}
	return v
}

func (s *randSource) err() error { return nil }

// isNormWeight reports whether name is a GroupNorm scale.
func isNormWeight(name string) bool {
	for _, suffix := range []string{"norm1.weight", "norm2.weight", "norm.weight", "norm_out.weight"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// NewRandom builds a tokenizer for cfg with deterministic random weights
// (for tests and benchmarks).
func NewRandom(cfg Config, seed uint64) (*Tokenizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	m, err := build(cfg, &randSource{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))})
	if err != nil {
		return nil, err
	}
	return newTokenizer(cfg, m), nil
}

// randomParams returns the deterministic random parameters of NewRandom in
// PyTorch layout (for tests that need the raw tensors).
func randomParams(cfg Config, seed uint64) map[string][]float32 {
	src := &randSource{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	out := make(map[string][]float32)
	for _, s := range paramSpecs(cfg) {
		out[s.name] = src.fetch(s.name, s.shape)
	}
	return out
}
