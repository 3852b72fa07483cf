package transformer

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"unsafe"

	"github.com/lvm-go/lvm/internal/half"
	"github.com/lvm-go/lvm/internal/weights"
)

// DType names the storage type of a model's weight matrices.
type DType string

// The storage types of checkpoints. The arithmetic is float32 for all.
const (
	F32  DType = "f32"
	F16  DType = "f16"
	BF16 DType = "bf16"
)

// ParamShapes returns the name and shape of every tensor of a
// LlamaForCausalLM checkpoint with configuration c.
func ParamShapes(c Config) map[string][]int {
	c = c.withDefaults()
	d, i, v := c.HiddenSize, c.IntermediateSize, c.VocabSize
	q, kv := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	s := map[string][]int{
		"model.embed_tokens.weight": {v, d},
		"model.norm.weight":         {d},
	}
	if !c.TieWordEmbeddings {
		s["lm_head.weight"] = []int{v, d}
	}
	for l := 0; l < c.NumLayers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		s[p+"input_layernorm.weight"] = []int{d}
		s[p+"post_attention_layernorm.weight"] = []int{d}
		s[p+"self_attn.q_proj.weight"] = []int{q, d}
		s[p+"self_attn.k_proj.weight"] = []int{kv, d}
		s[p+"self_attn.v_proj.weight"] = []int{kv, d}
		s[p+"self_attn.o_proj.weight"] = []int{d, q}
		s[p+"mlp.gate_proj.weight"] = []int{i, d}
		s[p+"mlp.up_proj.weight"] = []int{i, d}
		s[p+"mlp.down_proj.weight"] = []int{d, i}
	}
	return s
}

// RandomTensor returns the deterministic random tensor that NewRandom uses
// for name: a matrix [rows, cols] uniform in ±√(3/cols) (unit-variance
// outputs; the embedding ±1), a norm weight uniform in 1±0.1. Values are
// drawn from a pool of 4096 so that multi-gigabyte models build fast.
func RandomTensor(name string, shape []int, dt DType, seed uint64) ([]byte, error) {
	size, esize, err := tensorSize(shape, dt)
	if err != nil {
		return nil, err
	}
	data := make([]byte, size*esize)
	randomTensorInto(data, name, shape, dt, seed)
	return data, nil
}

// tensorSize returns the number of elements of shape and the bytes per
// element of dt.
func tensorSize(shape []int, dt DType) (size, esize int, err error) {
	size = 1
	for _, s := range shape {
		size *= s
	}
	switch dt {
	case F32:
		esize = 4
	case F16, BF16:
		esize = 2
	default:
		return 0, 0, fmt.Errorf("transformer: unknown dtype %q", dt)
	}
	return size, esize, nil
}

// randomTensorInto writes RandomTensor's values into data (exactly its
// size).
func randomTensorInto(data []byte, name string, shape []int, dt DType, seed uint64) {
	size := len(data) / 2
	if dt == F32 {
		size = len(data) / 4
	}
	scale, offset := 0.1, 1.0
	if len(shape) == 2 {
		scale, offset = math.Sqrt(3/float64(shape[1])), 0
		if name == "model.embed_tokens.weight" {
			scale = 1
		}
	}
	r := seed*0x9e3779b97f4a7c15 | 1
	for _, c := range name {
		r = (r ^ uint64(c)) * 0x100000001b3
	}
	next := func() uint64 {
		r ^= r >> 12
		r ^= r << 25
		r ^= r >> 27
		return r * 2685821657736338717
	}
	var pool [4096]float32
	for i := range pool {
		pool[i] = float32(offset + (float64(next()>>11)/(1<<53)*2-1)*scale)
	}
	for i := 0; i < size; i += 4 {
		x := next()
		for j := 0; j < 4 && i+j < size; j++ {
			v := pool[(x>>(16*j))&4095]
			switch dt {
			case F32:
				binary.LittleEndian.PutUint32(data[4*(i+j):], math.Float32bits(v))
			case F16:
				binary.LittleEndian.PutUint16(data[2*(i+j):], half.F32ToF16(v))
			case BF16:
				binary.LittleEndian.PutUint16(data[2*(i+j):], half.F32ToBF16(v))
			}
		}
	}
}

// NewRandom builds a model of configuration c whose weights are
// deterministic random values stored as dt, held in memory: for benchmarks
// and tests of models whose checkpoints are not at hand. Q8 quantises the
// f16 weights of the same seed. F16 linear weights are kept as stored
// (LayoutAuto, as Load).
func NewRandom(c Config, dt DType, seed uint64) (*Model, error) {
	return newRandom(c, dt, seed, LayoutAuto)
}

// newRandom is NewRandom with the layout of fp16 linear weights.
func newRandom(c Config, dt DType, seed uint64, layout Layout) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if dt == Q8 {
		return newRandomQ8(c, seed)
	}
	wdt := map[DType]weights.DType{F32: weights.F32, F16: weights.F16, BF16: weights.BF16}[dt]
	if wdt == 0 {
		return nil, fmt.Errorf("transformer: unknown dtype %q (want f32, f16, bf16 or q8)", dt)
	}
	shapes := ParamShapes(c)
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	// All the tensors live in one allocation, advised as huge pages before
	// it is written (see adviseHugePages): a decode step streams it once.
	total := 0
	for _, n := range names {
		size, esize, err := tensorSize(shapes[n], dt)
		if err != nil {
			return nil, err
		}
		total += (size*esize + 63) &^ 63
	}
	slab := make([]byte, total+hugePageAlign)
	adviseHugePages(slab)
	off := int(-uintptr(unsafe.Pointer(&slab[0])) & (hugePageAlign - 1))
	src := memorySource{}
	for _, n := range names {
		size, esize, _ := tensorSize(shapes[n], dt)
		data := slab[off : off+size*esize : off+size*esize]
		off += (size*esize + 63) &^ 63
		randomTensorInto(data, n, shapes[n], dt, seed)
		src[n] = &weights.Tensor{Name: n, DType: wdt, Shape: shapes[n], Data: data, File: "memory"}
	}
	m, err := newModel(c, src)
	if err != nil {
		return nil, err
	}
	// fp16 weights are reordered into tiles where they are (no second copy).
	m.tileF16(layout, true)
	return m, nil
}

// hugePageAlign is the alignment of NewRandom's weights (a huge page).
const hugePageAlign = 2 << 20

// memorySource is an in-memory tensorSource.
type memorySource map[string]*weights.Tensor

func (s memorySource) Tensor(name string) (*weights.Tensor, error) {
	t, ok := s[name]
	if !ok {
		return nil, fmt.Errorf("tensor %s not found in memory source", name)
	}
	return t, nil
}
