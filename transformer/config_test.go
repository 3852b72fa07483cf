package transformer

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadConfigGolden(t *testing.T) {
	for _, path := range []string{goldenDir, filepath.Join(goldenDir, "config.json")} {
		c, err := ReadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		want := Config{VocabSize: 8292, HiddenSize: 64, IntermediateSize: 172, NumLayers: 2, NumHeads: 4,
			NumKVHeads: 4, HeadDim: 16, MaxPositions: 4096, RMSNormEps: 1e-6, RopeTheta: 10000}
		if c != want {
			t.Errorf("ReadConfig(%s) = %+v, want %+v", path, c, want)
		}
	}
	if _, err := ReadConfig(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("ReadConfig of a missing file: no error")
	}
}

func TestParseConfig(t *testing.T) {
	const sizes = `"vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 8`
	cases := []struct {
		name    string
		json    string
		wantErr string // substring; empty for success
		check   func(Config) bool
	}{
		{"defaults", `{` + sizes + `}`, "", func(c Config) bool {
			return c.NumKVHeads == 8 && c.HeadDim == 8 && c.MaxPositions == 2048 &&
				c.RMSNormEps == 1e-6 && c.RopeTheta == 10000 && !c.TieWordEmbeddings
		}},
		{"gqa and head_dim", `{` + sizes + `, "num_key_value_heads": 2, "head_dim": 16, "rope_theta": 500000, "tie_word_embeddings": true, "rope_scaling": null}`, "", func(c Config) bool {
			return c.NumKVHeads == 2 && c.HeadDim == 16 && c.RopeTheta == 5e5 && c.TieWordEmbeddings
		}},
		{"bad json", `{`, "config", nil},
		{"missing hidden_size", `{"vocab_size": 100, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 8}`, "hidden_size", nil},
		{"zero layers", `{"vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 0, "num_attention_heads": 8}`, "num_hidden_layers", nil},
		{"kv heads not divisor", `{` + sizes + `, "num_key_value_heads": 3}`, "num_key_value_heads", nil},
		{"odd head_dim", `{` + sizes + `, "head_dim": 7}`, "head_dim", nil},
		{"rope_scaling", `{` + sizes + `, "rope_scaling": {"type": "linear", "factor": 2}}`, "rope_scaling", nil},
		{"attention bias", `{` + sizes + `, "attention_bias": true}`, "attention_bias", nil},
		{"gelu", `{` + sizes + `, "hidden_act": "gelu"}`, "hidden_act", nil},
		{"not llama", `{` + sizes + `, "model_type": "gpt2"}`, "model_type", nil},
		{"huge context", `{` + sizes + `, "max_position_embeddings": 100000000}`, "max_position_embeddings", nil},
		{"negative eps", `{` + sizes + `, "rms_norm_eps": -1}`, "rms_norm_eps", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.json))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

// TestPresets checks each preset's shape and parameter count against the
// table of REFERENCE §3 (params given to 0.1M).
func TestPresets(t *testing.T) {
	cases := []struct {
		name           string
		d, i, l, h, hd int
		paramsMillions float64
	}{
		{"100m", 640, 1664, 22, 10, 64, 117.0},
		{"300m", 1024, 2688, 22, 8, 128, 291.0},
		{"600m", 1536, 4096, 22, 16, 96, 648.4},
		{"1b", 2048, 5504, 22, 16, 128, 1147.1},
		{"3b", 3200, 8640, 26, 32, 100, 3274.7},
		{"7B", 4096, 11008, 32, 32, 128, 6544.2},
	}
	for _, tc := range cases {
		c, err := Preset(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if c.HiddenSize != tc.d || c.IntermediateSize != tc.i || c.NumLayers != tc.l || c.NumHeads != tc.h || c.HeadDim != tc.hd ||
			c.VocabSize != 8292 || c.MaxPositions != 4096 || c.TieWordEmbeddings || c.NumKVHeads != c.NumHeads {
			t.Errorf("%s: %+v", tc.name, c)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		got := float64(c.NumParams()) / 1e6
		t.Logf("%-4s %s", tc.name, c)
		if math.Abs(got-tc.paramsMillions) > 0.05 {
			t.Errorf("%s: %.2fM params, table says %.1fM", tc.name, got, tc.paramsMillions)
		}
	}
	if _, err := Preset("13b"); err == nil || !strings.Contains(err.Error(), "13b") {
		t.Errorf("Preset(13b): %v", err)
	}
	if names := PresetNames(); len(names) != 6 || names[0] != "100m" || names[5] != "7b" {
		t.Errorf("PresetNames = %v", names)
	}
}
