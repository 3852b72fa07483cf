package transformer

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Config is the architecture of a LLaMA model, as read from a Hugging Face
// config.json (LlamaConfig). Zero-valued optional fields get the Hugging
// Face defaults in ParseConfig; a Config built by hand should be passed
// through Validate (Load does so).
type Config struct {
	VocabSize         int     // V, vocab_size
	HiddenSize        int     // D, hidden_size
	IntermediateSize  int     // I, intermediate_size
	NumLayers         int     // L, num_hidden_layers
	NumHeads          int     // H, num_attention_heads
	NumKVHeads        int     // KV, num_key_value_heads (= H without grouped-query attention)
	HeadDim           int     // hd, head_dim (= D/H unless given)
	MaxPositions      int     // max_position_embeddings: the longest sequence a state may hold
	RMSNormEps        float64 // rms_norm_eps
	RopeTheta         float64 // rope_theta, the RoPE base θ
	TieWordEmbeddings bool    // tie_word_embeddings: lm_head shares model.embed_tokens.weight
}

// rawConfig mirrors the config.json keys this package reads; pointers tell
// a missing key from a zero.
type rawConfig struct {
	ModelType         string          `json:"model_type"`
	VocabSize         *int            `json:"vocab_size"`
	HiddenSize        *int            `json:"hidden_size"`
	IntermediateSize  *int            `json:"intermediate_size"`
	NumLayers         *int            `json:"num_hidden_layers"`
	NumHeads          *int            `json:"num_attention_heads"`
	NumKVHeads        *int            `json:"num_key_value_heads"`
	HeadDim           *int            `json:"head_dim"`
	MaxPositions      *int            `json:"max_position_embeddings"`
	RMSNormEps        *float64        `json:"rms_norm_eps"`
	RopeTheta         *float64        `json:"rope_theta"`
	TieWordEmbeddings *bool           `json:"tie_word_embeddings"`
	HiddenAct         string          `json:"hidden_act"`
	AttentionBias     bool            `json:"attention_bias"`
	MLPBias           bool            `json:"mlp_bias"`
	RopeScaling       json.RawMessage `json:"rope_scaling"`
}

// ReadConfig reads and validates a Hugging Face config.json. path may be
// the file itself or the checkpoint directory holding it.
func ReadConfig(path string) (Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = strings.TrimRight(path, "/") + "/config.json"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("transformer: read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses the JSON of a Hugging Face LlamaConfig. The sizes
// (vocab_size, hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads) are required; num_key_value_heads, head_dim,
// max_position_embeddings, rms_norm_eps, rope_theta and tie_word_embeddings
// default as in Hugging Face (H, D/H, 2048, 1e-6, 10000, false). Features
// this package does not implement (biases, rope_scaling, an activation other
// than SiLU, a model_type other than llama) are errors naming the key.
func ParseConfig(data []byte) (Config, error) {
	var r rawConfig
	if err := json.Unmarshal(data, &r); err != nil {
		return Config{}, fmt.Errorf("transformer: config: %w", err)
	}
	if r.ModelType != "" && r.ModelType != "llama" {
		return Config{}, fmt.Errorf("transformer: config: model_type %q is not llama", r.ModelType)
	}
	if r.HiddenAct != "" && r.HiddenAct != "silu" {
		return Config{}, fmt.Errorf("transformer: config: hidden_act %q not supported (only silu)", r.HiddenAct)
	}
	if r.AttentionBias {
		return Config{}, fmt.Errorf("transformer: config: attention_bias true not supported")
	}
	if r.MLPBias {
		return Config{}, fmt.Errorf("transformer: config: mlp_bias true not supported")
	}
	if s := strings.TrimSpace(string(r.RopeScaling)); s != "" && s != "null" {
		return Config{}, fmt.Errorf("transformer: config: rope_scaling %s not supported", s)
	}
	required := []struct {
		key string
		v   *int
	}{
		{"vocab_size", r.VocabSize},
		{"hidden_size", r.HiddenSize},
		{"intermediate_size", r.IntermediateSize},
		{"num_hidden_layers", r.NumLayers},
		{"num_attention_heads", r.NumHeads},
	}
	for _, f := range required {
		if f.v == nil {
			return Config{}, fmt.Errorf("transformer: config: missing %s", f.key)
		}
	}
	c := Config{
		VocabSize:        *r.VocabSize,
		HiddenSize:       *r.HiddenSize,
		IntermediateSize: *r.IntermediateSize,
		NumLayers:        *r.NumLayers,
		NumHeads:         *r.NumHeads,
		MaxPositions:     2048,
		RMSNormEps:       1e-6,
		RopeTheta:        10000,
	}
	if r.NumKVHeads != nil {
		c.NumKVHeads = *r.NumKVHeads
	}
	if r.HeadDim != nil {
		c.HeadDim = *r.HeadDim
	}
	if r.MaxPositions != nil {
		c.MaxPositions = *r.MaxPositions
	}
	if r.RMSNormEps != nil {
		c.RMSNormEps = *r.RMSNormEps
	}
	if r.RopeTheta != nil {
		c.RopeTheta = *r.RopeTheta
	}
	if r.TieWordEmbeddings != nil {
		c.TieWordEmbeddings = *r.TieWordEmbeddings
	}
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// withDefaults fills NumKVHeads and HeadDim when they are zero.
func (c Config) withDefaults() Config {
	if c.NumKVHeads == 0 {
		c.NumKVHeads = c.NumHeads
	}
	if c.HeadDim == 0 && c.NumHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	return c
}

// maxPositionsLimit bounds max_position_embeddings (the RoPE tables and a
// full-length cache are sized by it).
const maxPositionsLimit = 1 << 20

// Validate reports the first inconsistency of c: a non-positive size, more
// than 2²⁰ positions, heads
// not divisible by key/value heads, an odd head dimension (RoPE rotates
// pairs), hidden_size not divisible by heads when head_dim is implicit, a
// non-positive eps or θ.
func (c Config) Validate() error {
	pos := []struct {
		key string
		v   int
	}{
		{"vocab_size", c.VocabSize},
		{"hidden_size", c.HiddenSize},
		{"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumLayers},
		{"num_attention_heads", c.NumHeads},
		{"num_key_value_heads", c.NumKVHeads},
		{"head_dim", c.HeadDim},
		{"max_position_embeddings", c.MaxPositions},
	}
	for _, f := range pos {
		if f.v <= 0 {
			return fmt.Errorf("transformer: config: %s = %d, want > 0", f.key, f.v)
		}
	}
	if c.MaxPositions > maxPositionsLimit {
		return fmt.Errorf("transformer: config: max_position_embeddings = %d, more than the %d this package supports", c.MaxPositions, maxPositionsLimit)
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return fmt.Errorf("transformer: config: num_attention_heads %d not a multiple of num_key_value_heads %d", c.NumHeads, c.NumKVHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("transformer: config: head_dim %d is odd (RoPE needs pairs)", c.HeadDim)
	}
	if !(c.RMSNormEps > 0) {
		return fmt.Errorf("transformer: config: rms_norm_eps = %g, want > 0", c.RMSNormEps)
	}
	if !(c.RopeTheta > 0) {
		return fmt.Errorf("transformer: config: rope_theta = %g, want > 0", c.RopeTheta)
	}
	return nil
}

// NumParams is the number of parameters of a checkpoint with this
// configuration: embeddings, per layer the two norms, q,k,v,o and the three
// MLP matrices, the final norm, and lm_head unless tied.
func (c Config) NumParams() int64 {
	c = c.withDefaults()
	d, i, v := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize)
	q := int64(c.NumHeads * c.HeadDim)
	kv := int64(c.NumKVHeads * c.HeadDim)
	perLayer := 2*d + // input_layernorm, post_attention_layernorm
		d*q + 2*d*kv + q*d + // q,k,v,o projections
		3*d*i // gate, up, down
	n := v*d + int64(c.NumLayers)*perLayer + d
	if !c.TieWordEmbeddings {
		n += v * d
	}
	return n
}

// String is a one-line summary of the configuration and its parameter count.
func (c Config) String() string {
	head := "untied head"
	if c.TieWordEmbeddings {
		head = "tied head"
	}
	return fmt.Sprintf("llama D=%d I=%d L=%d H=%d KV=%d hd=%d V=%d max_pos=%d eps=%g θ=%g %s, %.1fM params",
		c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKVHeads, c.HeadDim,
		c.VocabSize, c.MaxPositions, c.RMSNormEps, c.RopeTheta, head, float64(c.NumParams())/1e6)
}

// LVM vocabulary and context shared by every preset (REFERENCE §3).
const (
	// LVMVocabSize is the vocabulary of every LVM model: 8192 VQ codes and
	// 100 reserved ids.
	LVMVocabSize = 8292
	// LVMCodebookSize is the number of VQ codes; ids at or above it are
	// never generated.
	LVMCodebookSize = 8192
	// LVMMaxPositions is the context length of every LVM model.
	LVMMaxPositions = 4096
)

func lvmPreset(d, i, l, h int) Config {
	return Config{
		VocabSize: LVMVocabSize, HiddenSize: d, IntermediateSize: i, NumLayers: l,
		NumHeads: h, NumKVHeads: h, HeadDim: d / h, MaxPositions: LVMMaxPositions,
		RMSNormEps: 1e-6, RopeTheta: 10000,
	}
}

var presets = map[string]Config{
	"100m": lvmPreset(640, 1664, 22, 10),
	"300m": lvmPreset(1024, 2688, 22, 8),
	"600m": lvmPreset(1536, 4096, 22, 16),
	"1b":   lvmPreset(2048, 5504, 22, 16),
	"3b":   lvmPreset(3200, 8640, 26, 32),
	"7b":   lvmPreset(4096, 11008, 32, 32),
}

// Preset returns the configuration of one of the LVM model sizes of
// REFERENCE §3: "100m", "300m", "600m", "1b", "3b" or "7b" (the released
// checkpoint), case-insensitive.
func Preset(name string) (Config, error) {
	c, ok := presets[strings.ToLower(name)]
	if !ok {
		return Config{}, fmt.Errorf("transformer: unknown preset %q (have %s)", name, strings.Join(PresetNames(), ", "))
	}
	return c, nil
}

// PresetNames lists the preset names, smallest model first.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Slice(names, func(a, b int) bool {
		return presets[names[a]].NumParams() < presets[names[b]].NumParams()
	})
	return names
}
