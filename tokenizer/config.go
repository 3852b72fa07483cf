package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Config describes a VQGAN tokenizer in the format of open-muse's
// VQGANModel config.json. The JSON keys are the snake_case names given in the
// field tags; unknown keys (such as "_class_name") are ignored.
//
// The derived quantities used throughout the package are:
//
//	levels L      = len(ChannelMult)
//	factor        = 2^(L-1)               (spatial downsampling)
//	grid side     = Resolution / factor    (h = w)
//	tokens/image  = (Resolution / factor)²
//	K (codebook)  = NumEmbeddings
//	E (embed dim) = QuantizedEmbedDim
type Config struct {
	Resolution        int     `json:"resolution"`          // side of the square input image, pixels
	NumChannels       int     `json:"num_channels"`        // image channels (3 for RGB)
	HiddenChannels    int     `json:"hidden_channels"`     // base width; level i has HiddenChannels·ChannelMult[i]
	ChannelMult       []int   `json:"channel_mult"`        // per-level width multipliers
	NumResBlocks      int     `json:"num_res_blocks"`      // ResnetBlocks per encoder level (decoder: +1)
	AttnResolutions   []int   `json:"attn_resolutions"`    // spatial sizes at which levels carry attention blocks (run, as in open-muse, only where a level has more than one)
	NoAttnMidBlock    bool    `json:"no_attn_mid_block"`   // true: no attn_1 between mid.block_1 and mid.block_2
	ZChannels         int     `json:"z_channels"`          // encoder output channels
	NumEmbeddings     int     `json:"num_embeddings"`      // K, codebook size
	QuantizedEmbedDim int     `json:"quantized_embed_dim"` // E, codebook vector length
	Dropout           float64 `json:"dropout"`             // training only; ignored at inference
	ResampleWithConv  bool    `json:"resample_with_conv"`  // false: average-pool down, plain nearest up
	CommitmentCost    float64 `json:"commitment_cost"`     // training only (β of the VQ loss)
}

// ReleasedConfig returns the configuration of the VQGAN shipped with the
// released LVM 7B model (REFERENCE §2): 256×256 RGB in, a 16×16 grid of codes
// from a codebook of 8192 out, 146,244,675 parameters.
func ReleasedConfig() Config {
	return Config{
		Resolution:        256,
		NumChannels:       3,
		HiddenChannels:    128,
		ChannelMult:       []int{1, 2, 2, 4, 6},
		NumResBlocks:      2,
		AttnResolutions:   []int{},
		NoAttnMidBlock:    true,
		ZChannels:         64,
		NumEmbeddings:     8192,
		QuantizedEmbedDim: 64,
		Dropout:           0,
		ResampleWithConv:  true,
		CommitmentCost:    0.25,
	}
}

// openMuseDefaults are the VQGANModel constructor defaults, which apply to
// keys absent from a config.json (as they do in from_pretrained).
func openMuseDefaults() Config {
	return Config{
		Resolution:        256,
		NumChannels:       3,
		HiddenChannels:    128,
		ChannelMult:       []int{1, 1, 2, 2, 4},
		NumResBlocks:      2,
		AttnResolutions:   []int{16},
		NoAttnMidBlock:    false,
		ZChannels:         256,
		NumEmbeddings:     1024,
		QuantizedEmbedDim: 256,
		Dropout:           0,
		ResampleWithConv:  true,
		CommitmentCost:    0.25,
	}
}

// unsupportedKeys are VQGANModel options that change the architecture in
// ways this package does not implement; a config setting one of them to a
// non-null value is rejected rather than silently mis-read.
var unsupportedKeys = []string{
	"decoder_res_blocks", "extra_mid_res_blocks", "decoder_hidden_channels", "decoder_channel_mult",
}

// ParseConfig decodes an open-muse VQGANModel config.json. Keys that are
// absent take the VQGANModel defaults; unknown keys are ignored. The result
// is validated.
func ParseConfig(data []byte) (Config, error) {
	cfg := openMuseDefaults()
	if err := json.Unmarshal(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("tokenizer: config: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("tokenizer: config: %w", err)
	}
	for _, k := range unsupportedKeys {
		if v, ok := raw[k]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return Config{}, fmt.Errorf("tokenizer: config: key %q = %s is not supported (only null)", k, v)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LoadConfig reads and validates a config.json file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("tokenizer: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%w (file %s)", err, path)
	}
	return cfg, nil
}

// Limits that keep every size computed from a config well inside int range
// and allocation sizes sane.
const (
	maxResolution = 1 << 14
	maxChannels   = 1 << 14
	maxCodebook   = 1 << 24
	maxLevels     = 12
	maxResBlocks  = 64
)

// normGroups is the number of GroupNorm groups of every norm layer.
const normGroups = 32

// Validate checks that c describes a network this package can build. The
// error names the offending key.
func (c Config) Validate() error {
	bad := func(key string, format string, args ...any) error {
		return fmt.Errorf("tokenizer: config: %s %s", key, fmt.Sprintf(format, args...))
	}
	if c.NumChannels < 1 || c.NumChannels > maxChannels {
		return bad("num_channels", "= %d, want 1..%d", c.NumChannels, maxChannels)
	}
	if len(c.ChannelMult) == 0 || len(c.ChannelMult) > maxLevels {
		return bad("channel_mult", "has %d levels, want 1..%d", len(c.ChannelMult), maxLevels)
	}
	if c.HiddenChannels < 1 || c.HiddenChannels > maxChannels {
		return bad("hidden_channels", "= %d, want 1..%d", c.HiddenChannels, maxChannels)
	}
	if c.HiddenChannels%normGroups != 0 {
		return bad("hidden_channels", "= %d is not a multiple of the %d GroupNorm groups", c.HiddenChannels, normGroups)
	}
	for i, m := range c.ChannelMult {
		if m < 1 || c.HiddenChannels*m > maxChannels {
			return bad(fmt.Sprintf("channel_mult[%d]", i), "= %d, want ≥ 1 with hidden_channels·mult ≤ %d", m, maxChannels)
		}
	}
	if c.Resolution < 1 || c.Resolution > maxResolution {
		return bad("resolution", "= %d, want 1..%d", c.Resolution, maxResolution)
	}
	if f := c.Factor(); c.Resolution%f != 0 {
		return bad("resolution", "= %d is not a multiple of the downsampling factor %d (2^(len(channel_mult)-1))", c.Resolution, f)
	}
	if c.NumResBlocks < 1 || c.NumResBlocks > maxResBlocks {
		return bad("num_res_blocks", "= %d, want 1..%d", c.NumResBlocks, maxResBlocks)
	}
	for i, r := range c.AttnResolutions {
		if r < 1 {
			return bad(fmt.Sprintf("attn_resolutions[%d]", i), "= %d, want ≥ 1", r)
		}
	}
	if c.ZChannels < 1 || c.ZChannels > maxChannels {
		return bad("z_channels", "= %d, want 1..%d", c.ZChannels, maxChannels)
	}
	if c.NumEmbeddings < 1 || c.NumEmbeddings > maxCodebook {
		return bad("num_embeddings", "= %d, want 1..%d", c.NumEmbeddings, maxCodebook)
	}
	if c.QuantizedEmbedDim < 1 || c.QuantizedEmbedDim > maxChannels {
		return bad("quantized_embed_dim", "= %d, want 1..%d", c.QuantizedEmbedDim, maxChannels)
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		return bad("dropout", "= %v, want [0, 1)", c.Dropout)
	}
	if !(c.CommitmentCost >= 0) {
		return bad("commitment_cost", "= %v, want ≥ 0", c.CommitmentCost)
	}
	return nil
}

// Levels is the number of resolution levels, len(ChannelMult).
func (c Config) Levels() int { return len(c.ChannelMult) }

// Factor is the spatial downsampling factor 2^(Levels-1).
func (c Config) Factor() int { return 1 << (len(c.ChannelMult) - 1) }

// GridSize is the side of the square latent grid, Resolution/Factor.
func (c Config) GridSize() int { return c.Resolution / c.Factor() }

// TokensPerImage is the number of codes one image becomes, GridSize².
func (c Config) TokensPerImage() int { g := c.GridSize(); return g * g }

// levelChannels is the width of level i, HiddenChannels·ChannelMult[i].
func (c Config) levelChannels(i int) int { return c.HiddenChannels * c.ChannelMult[i] }

// hasAttn reports whether level attention blocks exist at spatial size res.
func (c Config) hasAttn(res int) bool {
	for _, r := range c.AttnResolutions {
		if r == res {
			return true
		}
	}
	return false
}

// clone returns a deep copy of c (its slices are not shared).
func (c Config) clone() Config {
	c.ChannelMult = append([]int(nil), c.ChannelMult...)
	c.AttnResolutions = append([]int{}, c.AttnResolutions...)
	return c
}
