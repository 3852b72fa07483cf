package transformer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/lvm-go/lvm/internal/half"
	"github.com/lvm-go/lvm/internal/weights"
)

const goldenDir = "../testdata/llama"

// golden is testdata/llama/expected.json plus logits.f32.
type golden struct {
	Prompt          []int     `json:"prompt"`
	Target          []int     `json:"target"`
	Perplexity      float64   `json:"perplexity"`
	LogitsPositions []int     `json:"logits_positions"`
	LogitsArgmax    []int     `json:"logits_argmax"`
	Greedy          []int     `json:"greedy_256"`
	GreedyMargins   []float64 `json:"greedy_margins"`
	Logits          []float32 // [len(LogitsPositions) × V]
}

func readGolden(t testing.TB) *golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(goldenDir, "logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	g.Logits = make([]float32, len(raw)/4)
	for i := range g.Logits {
		g.Logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return &g
}

func (g *golden) sequence() []int {
	return append(append([]int{}, g.Prompt...), g.Target...)
}

func loadGoldenModel(t testing.TB) *Model {
	t.Helper()
	m, err := Load(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// memSource is an in-memory tensorSource.
type memSource map[string]*weights.Tensor

func (s memSource) Tensor(name string) (*weights.Tensor, error) {
	t, ok := s[name]
	if !ok {
		return nil, fmt.Errorf("tensor %s not found in memory source", name)
	}
	return t, nil
}

func (s memSource) list() []*weights.Tensor {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*weights.Tensor, len(names))
	for i, n := range names {
		out[i] = s[n]
	}
	return out
}

// rng is a small deterministic generator (xorshift64*).
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 2685821657736338717
}

// uniform returns a value in [-a, a).
func (r *rng) uniform(a float64) float32 {
	return float32((float64(r.next()>>11)/(1<<53)*2 - 1) * a)
}

// encode stores vals as a tensor of dtype dt (rounding to it).
func encode(name string, dt weights.DType, shape []int, vals []float32) *weights.Tensor {
	t := &weights.Tensor{Name: name, DType: dt, Shape: shape, File: "memory"}
	t.Data = make([]byte, len(vals)*dt.Size())
	for i, v := range vals {
		switch dt {
		case weights.F32:
			binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(v))
		case weights.F16:
			binary.LittleEndian.PutUint16(t.Data[2*i:], half.F32ToF16(v))
		case weights.BF16:
			binary.LittleEndian.PutUint16(t.Data[2*i:], half.F32ToBF16(v))
		}
	}
	return t
}

// tensorNames lists every tensor name and shape of a LlamaForCausalLM with
// config c.
func tensorNames(c Config) map[string][]int { return ParamShapes(c) }

// randomSource returns random weights of config c in dtype dt: matrices
// uniform in ±scale/√fan_in·√3 (unit-variance outputs), norm weights near 1.
func randomSource(c Config, dt weights.DType, seed uint64) memSource {
	r := rng(seed | 1)
	src := memSource{}
	names := tensorNames(c)
	keys := make([]string, 0, len(names))
	for n := range names {
		keys = append(keys, n)
	}
	sort.Strings(keys)
	for _, n := range keys {
		shape := names[n]
		size := 1
		for _, s := range shape {
			size *= s
		}
		vals := make([]float32, size)
		if len(shape) == 1 {
			for i := range vals {
				vals[i] = 1 + r.uniform(0.2)
			}
		} else {
			a := math.Sqrt(3 / float64(shape[1]))
			if n == "model.embed_tokens.weight" {
				a = 1
			}
			for i := range vals {
				vals[i] = r.uniform(a)
			}
		}
		src[n] = encode(n, dt, shape, vals)
	}
	return src
}

func maxAbsRel(got, want []float32) (maxAbs, maxRel float64) {
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		maxAbs = max(maxAbs, d)
		if w := math.Abs(float64(want[i])); w > 1e-3 {
			maxRel = max(maxRel, d/w)
		}
	}
	return maxAbs, maxRel
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// top2 returns the index of the largest of x[:n] and its lead over the
// second largest.
func top2(x []float32, n int) (int, float32) {
	best, second := 0, float32(math.Inf(-1))
	for i := 1; i < n; i++ {
		if x[i] > x[best] {
			best, second = i, x[best]
		} else if x[i] > second {
			second = x[i]
		}
	}
	return best, x[best] - second
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
