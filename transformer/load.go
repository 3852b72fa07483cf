package transformer

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lvm-go/lvm/internal/half"
	"github.com/lvm-go/lvm/internal/kernels"
	"github.com/lvm-go/lvm/internal/weights"
)

// tensorSource is where newModel looks weights up by their Hugging Face
// name; *weights.Set is one. The tensors' Data must stay valid and
// unmodified for the life of the Model.
type tensorSource interface {
	Tensor(name string) (*weights.Tensor, error)
}

// Load opens a Hugging Face LLaMA checkpoint and builds its Model. path is
// a directory holding config.json and the weights (model.safetensors, a
// sharded model.safetensors.index.json, or pytorch_model.bin), or a weight
// file with config.json beside it. Weights stay memory-mapped in their file
// dtype; call Close when done with the model. LoadWith with Layout:
// LayoutTiled copies binary16 weights of up to TileLimit into the tiled
// layout of the decoding kernels instead (then Close is a no-op).
func Load(path string) (*Model, error) { return LoadWith(path, LoadOptions{}) }

// load opens the checkpoint at path and builds its Model over the mapped
// weights (Load without the layout rule).
func load(path string) (*Model, error) {
	dir := path
	if st, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("transformer: %w", err)
	} else if !st.IsDir() {
		dir = filepath.Dir(path)
	}
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	set, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("transformer: %w", err)
	}
	m, err := newModel(cfg, set)
	if err != nil {
		set.Close()
		return nil, err
	}
	m.set = set
	return m, nil
}

// matrix is a read-only [rows, cols] weight kept in its file dtype: exactly
// one of f32 and u16 is set, and both alias the checkpoint's memory; or,
// once quantised (quant.go), q8 alone is set and dtype is the file's; or,
// once tiled (quant.go), f16t alone is set and dtype is F16.
type matrix struct {
	name       string
	rows, cols int
	dtype      weights.DType
	f32        []float32          // [rows×cols] when dtype is F32
	u16        []uint16           // [rows×cols] binary16 or bfloat16 bits otherwise
	q8         *kernels.Q8Matrix  // [rows, cols] 8-bit copy (LoadOptions.Quantize)
	f16t       *kernels.F16Matrix // [rows, cols] tiled binary16 copy (LoadOptions.Layout)
}

// mulT sets y[t×rows] = x[t×cols] · wᵀ, a linear layer without bias.
func (w *matrix) mulT(y, x []float32, t int) {
	y, x = y[:t*w.rows], x[:t*w.cols]
	if w.q8 != nil {
		kernels.MatMulNTQ8(y, x, w.q8, t)
		return
	}
	if w.f16t != nil {
		kernels.MatMulNTF16Matrix(y, x, w.f16t, t)
		return
	}
	switch w.dtype {
	case weights.F16:
		kernels.MatMulNTF16(y, x, w.u16, t, w.rows, w.cols)
	case weights.BF16:
		kernels.MatMulNTBF16(y, x, w.u16, t, w.rows, w.cols)
	default:
		kernels.MatMulNT(y, x, w.f32, t, w.rows, w.cols)
	}
}

// row converts row r into dst[:cols] (an embedding lookup: one row at a
// time, never the whole table).
func (w *matrix) row(dst []float32, r int) {
	if w.q8 != nil {
		w.q8.Row(dst, r)
		return
	}
	if w.f16t != nil {
		w.f16t.RowFloat32(dst, r)
		return
	}
	lo, hi := r*w.cols, (r+1)*w.cols
	switch w.dtype {
	case weights.F16:
		half.F16sToF32s(dst[:w.cols], w.u16[lo:hi])
	case weights.BF16:
		half.BF16sToF32s(dst[:w.cols], w.u16[lo:hi])
	default:
		copy(dst[:w.cols], w.f32[lo:hi])
	}
}

// loader looks tensors up by name and checks their dtype and shape.
type loader struct {
	src tensorSource
	err error // first error; later lookups are skipped
}

func (ld *loader) tensor(name string, shape ...int) *weights.Tensor {
	if ld.err != nil {
		return nil
	}
	t, err := ld.src.Tensor(name)
	if err != nil {
		ld.err = fmt.Errorf("transformer: %w", err)
		return nil
	}
	if t == nil {
		ld.err = fmt.Errorf("transformer: tensor %s: missing", name)
		return nil
	}
	switch t.DType {
	case weights.F32, weights.F16, weights.BF16:
	default:
		ld.err = fmt.Errorf("transformer: tensor %s (%s): dtype %s not supported", name, t.File, t.DType)
		return nil
	}
	if !sameShape(t.Shape, shape) {
		ld.err = fmt.Errorf("transformer: tensor %s (%s): shape %v, want %v", name, t.File, t.Shape, shape)
		return nil
	}
	if len(t.Data) != t.NumElements()*t.DType.Size() {
		ld.err = fmt.Errorf("transformer: tensor %s (%s): %d data bytes for shape %v %s", name, t.File, len(t.Data), t.Shape, t.DType)
		return nil
	}
	return t
}

// matrix returns the [rows, cols] weight name as a zero-copy view.
func (ld *loader) matrix(name string, rows, cols int) matrix {
	t := ld.tensor(name, rows, cols)
	if t == nil {
		return matrix{}
	}
	m := matrix{name: name, rows: rows, cols: cols, dtype: t.DType}
	var err error
	if t.DType == weights.F32 {
		m.f32, err = t.F32View()
	} else {
		m.u16, err = t.Uint16s()
	}
	if err != nil {
		ld.err = fmt.Errorf("transformer: tensor %s: %w", name, err)
	}
	return m
}

// vector returns the [n] weight name converted to float32 (norm weights are
// small, so they are copied).
func (ld *loader) vector(name string, n int) []float32 {
	t := ld.tensor(name, n)
	if t == nil {
		return nil
	}
	v, err := t.Float32s()
	if err != nil {
		ld.err = fmt.Errorf("transformer: tensor %s: %w", name, err)
		return nil
	}
	if len(v) != n {
		ld.err = fmt.Errorf("transformer: tensor %s: %d values, want %d", name, len(v), n)
		return nil
	}
	return v
}

func sameShape(a, b []int) bool {
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

// loadWeights looks up every tensor of a LlamaForCausalLM with config c,
// checking names and shapes; the first problem is returned.
func loadWeights(c Config, src tensorSource) (modelWeights, error) {
	ld := &loader{src: src}
	d, i, v := c.HiddenSize, c.IntermediateSize, c.VocabSize
	q, kv := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	var w modelWeights
	w.embed = ld.matrix("model.embed_tokens.weight", v, d)
	w.layers = make([]layerWeights, c.NumLayers)
	for l := range w.layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		w.layers[l] = layerWeights{
			attnNorm: ld.vector(p+"input_layernorm.weight", d),
			wq:       ld.matrix(p+"self_attn.q_proj.weight", q, d),
			wk:       ld.matrix(p+"self_attn.k_proj.weight", kv, d),
			wv:       ld.matrix(p+"self_attn.v_proj.weight", kv, d),
			wo:       ld.matrix(p+"self_attn.o_proj.weight", d, q),
			mlpNorm:  ld.vector(p+"post_attention_layernorm.weight", d),
			wGate:    ld.matrix(p+"mlp.gate_proj.weight", i, d),
			wUp:      ld.matrix(p+"mlp.up_proj.weight", i, d),
			wDown:    ld.matrix(p+"mlp.down_proj.weight", d, i),
		}
	}
	w.norm = ld.vector("model.norm.weight", d)
	if c.TieWordEmbeddings {
		w.lmHead = w.embed
	} else {
		w.lmHead = ld.matrix("lm_head.weight", v, d)
	}
	return w, ld.err
}
