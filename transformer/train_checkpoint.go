package transformer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lvm-go/lvm/internal/optim"
	"github.com/lvm-go/lvm/internal/weights"
)

// MarshalJSON writes c as a Hugging Face LlamaConfig config.json, the
// format ReadConfig reads (with the LVM's unused bos/eos ids left out).
func (c Config) MarshalJSON() ([]byte, error) {
	c = c.withDefaults()
	return json.MarshalIndent(map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_act":              "silu",
		"vocab_size":              c.VocabSize,
		"hidden_size":             c.HiddenSize,
		"intermediate_size":       c.IntermediateSize,
		"num_hidden_layers":       c.NumLayers,
		"num_attention_heads":     c.NumHeads,
		"num_key_value_heads":     c.NumKVHeads,
		"head_dim":                c.HeadDim,
		"max_position_embeddings": c.MaxPositions,
		"rms_norm_eps":            c.RMSNormEps,
		"rope_theta":              c.RopeTheta,
		"tie_word_embeddings":     c.TieWordEmbeddings,
		"attention_bias":          false,
		"torch_dtype":             "float32",
	}, "", "  ")
}

// Save writes the model as a Hugging Face checkpoint that Load reads:
// dir/config.json and dir/model.safetensors (float32).
func (tm *TrainModel) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg, err := json.Marshal(tm.cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		return err
	}
	shapes := ParamShapes(tm.cfg)
	ts := make([]*weights.Tensor, 0, len(tm.params))
	for _, p := range tm.params {
		ts = append(ts, f32Tensor(p.Name, shapes[p.Name], p.Value))
	}
	return weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"})
}

// saveOptimizer writes opt's state (its step and both moments of every
// parameter) to path as safetensors, so training can resume exactly.
func (tm *TrainModel) saveOptimizer(path string, opt *optim.AdamW) error {
	step, moments := opt.State(tm.params)
	ts := make([]*weights.Tensor, 0, 2*len(moments))
	for _, p := range tm.params {
		mv := moments[p.Name]
		n := len(p.Value)
		ts = append(ts, f32Tensor("m."+p.Name, []int{n}, mv[0]), f32Tensor("v."+p.Name, []int{n}, mv[1]))
	}
	return weights.WriteSafetensors(path, ts, map[string]string{"step": strconv.Itoa(step)})
}

// LoadTrainModel reads a checkpoint written by Save (or any float
// checkpoint of a supported configuration) for further training.
func LoadTrainModel(dir string) (*TrainModel, error) {
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	tm, err := NewTrainModel(cfg, 0)
	if err != nil {
		return nil, err
	}
	set, err := weights.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("transformer: %w", err)
	}
	defer set.Close()
	shapes := ParamShapes(cfg)
	for _, p := range tm.params {
		t, err := set.Tensor(p.Name)
		if err != nil {
			return nil, fmt.Errorf("transformer: %w", err)
		}
		if !sameShape(t.Shape, shapes[p.Name]) {
			return nil, fmt.Errorf("transformer: %s: tensor %s has shape %v, want %v", set.Path(), p.Name, t.Shape, shapes[p.Name])
		}
		vals, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("transformer: %s: %w", p.Name, err)
		}
		copy(p.Value, vals)
	}
	return tm, nil
}

// loadOptimizer restores into opt a state written by saveOptimizer.
func (tm *TrainModel) loadOptimizer(path string, opt *optim.AdamW) error {
	set, err := weights.Open(path)
	if err != nil {
		return fmt.Errorf("transformer: %w", err)
	}
	defer set.Close()
	step, err := strconv.Atoi(set.Metadata()["step"])
	if err != nil {
		return fmt.Errorf("transformer: %s: no step in the metadata", path)
	}
	moments := map[string][2][]float32{}
	for _, p := range tm.params {
		var mv [2][]float32
		for i, pre := range []string{"m.", "v."} {
			t, err := set.Tensor(pre + p.Name)
			if err != nil {
				return fmt.Errorf("transformer: %w", err)
			}
			if mv[i], err = t.Float32s(); err != nil {
				return fmt.Errorf("transformer: %s: %w", t.Name, err)
			}
		}
		moments[p.Name] = mv
	}
	return opt.SetState(tm.params, step, moments)
}

// f32Tensor packs vals as a little-endian F32 tensor.
func f32Tensor(name string, shape []int, vals []float32) *weights.Tensor {
	data := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
	}
	return &weights.Tensor{Name: name, DType: weights.F32, Shape: shape, Data: data, File: "memory"}
}

// RemapVocab returns a copy of tm whose vocabulary has len(parent) tokens:
// token c's embedding and output (lm_head) row are those of token
// parent[c] of tm, every other parameter is copied. It moves a model to a
// grown or retrained tokenizer without training it from scratch (with
// tokenizer.ParentCodes giving parent): siblings start with equal logits,
// so the model's loss on the new codes starts at its old loss plus the log
// of the number of siblings, and further training tells them apart.
func (tm *TrainModel) RemapVocab(parent []int) (*TrainModel, error) {
	V := tm.cfg.VocabSize
	for c, p := range parent {
		if p < 0 || p >= V {
			return nil, fmt.Errorf("transformer: RemapVocab: token %d maps to %d, outside the vocabulary [0, %d)", c, p, V)
		}
	}
	cfg := tm.cfg
	cfg.VocabSize = len(parent)
	out, err := NewTrainModel(cfg, 0)
	if err != nil {
		return nil, err
	}
	for i, p := range out.params {
		copy(p.Value, tm.params[i].Value) // the two vocabulary matrices are overwritten below
	}
	D := tm.cfg.HiddenSize
	for _, m := range [][2]param{{out.embed, tm.embed}, {out.lmHead, tm.lmHead}} {
		for c, p := range parent {
			copy(m[0].w[c*D:(c+1)*D], m[1].w[p*D:(p+1)*D])
		}
	}
	return out, nil
}
