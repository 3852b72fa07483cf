package tokenizer

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lvm-go/lvm/internal/optim"
	"github.com/lvm-go/lvm/internal/weights"
)

// Checkpoints of VQGAN training: the model in the format Load reads
// (config.json in open-muse's VQGANModel format + model.safetensors, F32,
// PyTorch layout), and the optimizer state beside it for resuming.

// trConfigJSON writes cfg as an open-muse VQGANModel config.json.
func trConfigJSON(cfg Config) ([]byte, error) {
	attn := cfg.AttnResolutions
	if attn == nil {
		attn = []int{}
	}
	return json.MarshalIndent(map[string]any{
		"_class_name":         "VQGANModel",
		"resolution":          cfg.Resolution,
		"num_channels":        cfg.NumChannels,
		"hidden_channels":     cfg.HiddenChannels,
		"channel_mult":        cfg.ChannelMult,
		"num_res_blocks":      cfg.NumResBlocks,
		"attn_resolutions":    attn,
		"no_attn_mid_block":   cfg.NoAttnMidBlock,
		"z_channels":          cfg.ZChannels,
		"num_embeddings":      cfg.NumEmbeddings,
		"quantized_embed_dim": cfg.QuantizedEmbedDim,
		"dropout":             cfg.Dropout,
		"resample_with_conv":  cfg.ResampleWithConv,
		"commitment_cost":     cfg.CommitmentCost,
	}, "", "  ")
}

// Save writes the model as a checkpoint that Load reads: dir/config.json
// (open-muse VQGANModel keys, "_class_name": "VQGANModel") and
// dir/model.safetensors (every tensor of ParamNames, F32, PyTorch layout).
// dir is created if needed.
func (t *TrainVQGAN) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	cfg, err := trConfigJSON(t.cfg)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(cfg, '\n'), 0o644); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	_, shapes, err := ParamNames(t.cfg)
	if err != nil {
		return err
	}
	ts := make([]*weights.Tensor, len(t.params))
	for i, p := range t.params {
		ts[i] = trF32Tensor(p.Name, shapes[i], p.Value)
	}
	return weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"})
}

// LoadTrainVQGAN reads a checkpoint for further training: a directory
// written by Save, or any checkpoint Load reads (an official one to
// fine-tune, say; weights of any float type are converted to float32). The
// dead-code generator starts from seed 0; Trainer.LoadOptimizer restores it
// with the rest of an interrupted run's state.
func LoadTrainVQGAN(dir string) (*TrainVQGAN, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	t, err := NewTrainVQGAN(cfg, 0)
	if err != nil {
		return nil, err
	}
	set, err := weights.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer set.Close()
	_, shapes, err := ParamNames(cfg)
	if err != nil {
		return nil, err
	}
	for i, p := range t.params {
		ts, err := set.Tensor(p.Name)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		if fmt.Sprint(ts.Shape) != fmt.Sprint(shapes[i]) {
			return nil, fmt.Errorf("tokenizer: tensor %q in %s has shape %v, want %v", p.Name, ts.File, ts.Shape, shapes[i])
		}
		v, err := ts.Float32s()
		if err != nil {
			return nil, fmt.Errorf("tokenizer: tensor %q: %w", p.Name, err)
		}
		copy(p.Value, v)
	}
	return t, nil
}

// saveOptimizer writes what resuming needs besides the model to path
// (safetensors): the AdamW step and both moments of every parameter
// ("m.<name>", "v.<name>"), the dead-code idle counts ("vq.since_used") and,
// in the metadata, the dead-code generator's state, DeadCodeSteps and
// DeadCodeRule. An
// optimizer that has not stepped yet is saved as zero moments at step 0.
// Trainer.SaveOptimizer is its public form.
func (t *TrainVQGAN) saveOptimizer(path string, opt *optim.AdamW) error {
	params := t.trainable()
	step, moments := opt.State(params)
	ts := make([]*weights.Tensor, 0, 2*len(params)+1)
	for _, p := range params {
		mv := moments[p.Name]
		for i, pre := range []string{"m.", "v."} {
			vals := mv[i]
			if vals == nil {
				vals = make([]float32, len(p.Value))
			}
			ts = append(ts, trF32Tensor(pre+p.Name, []int{len(p.Value)}, vals))
		}
	}
	since := make([]float32, len(t.sinceUsed))
	for j, n := range t.sinceUsed {
		since[j] = float32(n)
	}
	ts = append(ts, trF32Tensor("vq.since_used", []int{len(since)}, since))
	rng, err := t.rngSrc.MarshalBinary()
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return weights.WriteSafetensors(path, ts, map[string]string{
		"step":            strconv.Itoa(step),
		"rng":             hex.EncodeToString(rng),
		"dead_code_steps": strconv.Itoa(t.DeadCodeSteps),
		"dead_code_rule":  t.DeadCodeRule.String(),
		"freeze_encoder":  strconv.FormatBool(t.FreezeEncoder),
	})
}

// loadOptimizer restores a state written by saveOptimizer into opt and the
// model's dead-code bookkeeping, so that training continues exactly as if
// it had not stopped. Trainer.LoadOptimizer is its public form.
func (t *TrainVQGAN) loadOptimizer(path string, opt *optim.AdamW) error {
	set, err := weights.Open(path)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	defer set.Close()
	md := set.Metadata()
	step, err := strconv.Atoi(md["step"])
	if err != nil {
		return fmt.Errorf("tokenizer: %s: no step in the metadata", path)
	}
	dead, err := strconv.Atoi(md["dead_code_steps"])
	if err != nil {
		return fmt.Errorf("tokenizer: %s: no dead_code_steps in the metadata", path)
	}
	rule := RestartRandom // checkpoints from before the rule was saved
	if name, ok := md["dead_code_rule"]; ok {
		if rule, err = ParseRestartRule(name); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	freeze := false // checkpoints from before decoder-only training
	if v, ok := md["freeze_encoder"]; ok {
		if freeze, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("tokenizer: %s: bad freeze_encoder %q in the metadata", path, v)
		}
	}
	params := t.trainableIf(freeze)
	rng, err := hex.DecodeString(md["rng"])
	if err != nil {
		return fmt.Errorf("tokenizer: %s: bad rng state: %v", path, err)
	}
	src := &rand.PCG{}
	if err := src.UnmarshalBinary(rng); err != nil {
		return fmt.Errorf("tokenizer: %s: bad rng state: %v", path, err)
	}
	read := func(name string, n int) ([]float32, error) {
		ts, err := set.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		v, err := ts.Float32s()
		if err != nil {
			return nil, fmt.Errorf("tokenizer: tensor %q: %w", name, err)
		}
		if len(v) != n {
			return nil, fmt.Errorf("tokenizer: %s: tensor %q has %d values, want %d", path, name, len(v), n)
		}
		return v, nil
	}
	moments := make(map[string][2][]float32, len(params))
	for _, p := range params {
		var mv [2][]float32
		for i, pre := range []string{"m.", "v."} {
			if mv[i], err = read(pre+p.Name, len(p.Value)); err != nil {
				return err
			}
		}
		moments[p.Name] = mv
	}
	since, err := read("vq.since_used", len(t.sinceUsed))
	if err != nil {
		return err
	}
	if err := opt.SetState(params, step, moments); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	for j, v := range since {
		t.sinceUsed[j] = int(v)
	}
	clear(t.usedNow)
	t.DeadCodeSteps = dead
	t.DeadCodeRule = rule
	t.FreezeEncoder = freeze
	t.rngSrc = src
	t.rng = rand.New(src)
	return nil
}

// trF32Tensor packs vals as a little-endian F32 tensor.
func trF32Tensor(name string, shape []int, vals []float32) *weights.Tensor {
	data := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
	}
	return &weights.Tensor{Name: name, DType: weights.F32, Shape: shape, Data: data, File: "memory"}
}
