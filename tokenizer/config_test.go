package tokenizer

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseConfigGolden(t *testing.T) {
	cfg, err := LoadConfig(goldenDir + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Resolution: 64, NumChannels: 3, HiddenChannels: 32, ChannelMult: []int{1, 1, 1, 2, 2},
		NumResBlocks: 2, AttnResolutions: []int{}, NoAttnMidBlock: true, ZChannels: 32, NumEmbeddings: 512,
		QuantizedEmbedDim: 16, Dropout: 0, ResampleWithConv: true, CommitmentCost: 0.25}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	if cfg.GridSize() != 4 || cfg.TokensPerImage() != 16 || cfg.Factor() != 16 {
		t.Errorf("grid %d, tokens %d, factor %d; want 4, 16, 16", cfg.GridSize(), cfg.TokensPerImage(), cfg.Factor())
	}
}

// releasedJSON is the released checkpoint's config.json.
const releasedJSON = `{
  "_class_name": "VQGANModel",
  "_version": "0.0.1",
  "attn_resolutions": [],
  "channel_mult": [1, 2, 2, 4, 6],
  "commitment_cost": 0.25,
  "dropout": 0.0,
  "hidden_channels": 128,
  "no_attn_mid_block": true,
  "num_channels": 3,
  "num_embeddings": 8192,
  "num_res_blocks": 2,
  "quantized_embed_dim": 64,
  "resample_with_conv": true,
  "resolution": 256,
  "z_channels": 64
}`

func TestReleasedConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(releasedJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, ReleasedConfig()) {
		t.Errorf("parsed %+v\nReleasedConfig %+v", cfg, ReleasedConfig())
	}
	if cfg.GridSize() != 16 || cfg.TokensPerImage() != 256 {
		t.Errorf("grid %d, tokens %d; want 16, 256", cfg.GridSize(), cfg.TokensPerImage())
	}
	names, shapes, err := ParamNames(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := NumParameters(cfg)
	t.Logf("released config: %d tensors, %d parameters", len(names), n)
	if len(names) != 277 || n != 146244675 {
		t.Errorf("%d tensors and %d parameters, want 277 and 146,244,675", len(names), n)
	}
	if len(shapes) != len(names) {
		t.Fatalf("%d shapes for %d names", len(shapes), len(names))
	}
	// Spot-check names and shapes from REFERENCE §2.
	want := map[string][]int{
		"encoder.conv_in.weight":                     {128, 3, 3, 3},
		"encoder.down.0.downsample.conv.weight":      {128, 128, 3, 3},
		"encoder.down.1.block.0.nin_shortcut.weight": {256, 128, 1, 1},
		"encoder.down.4.block.0.conv1.weight":        {768, 512, 3, 3},
		"encoder.mid.block_1.norm1.weight":           {768},
		"encoder.norm_out.bias":                      {768},
		"encoder.conv_out.weight":                    {64, 768, 3, 3},
		"quant_conv.weight":                          {64, 64, 1, 1},
		"quantize.embedding.weight":                  {8192, 64},
		"post_quant_conv.bias":                       {64},
		"decoder.conv_in.weight":                     {768, 64, 3, 3},
		"decoder.up.4.block.0.conv1.weight":          {768, 768, 3, 3},
		"decoder.up.4.block.2.conv2.bias":            {768},
		"decoder.up.3.block.0.nin_shortcut.weight":   {512, 768, 1, 1},
		"decoder.up.1.upsample.conv.weight":          {256, 256, 3, 3},
		"decoder.up.0.block.0.conv1.weight":          {128, 256, 3, 3},
		"decoder.up.0.block.0.nin_shortcut.weight":   {128, 256, 1, 1},
		"decoder.conv_out.weight":                    {3, 128, 3, 3},
	}
	got := map[string][]int{}
	for i, nm := range names {
		got[nm] = shapes[i]
	}
	for nm, s := range want {
		if !reflect.DeepEqual(got[nm], s) {
			t.Errorf("%s: shape %v, want %v", nm, got[nm], s)
		}
	}
	if _, ok := got["encoder.down.4.downsample.conv.weight"]; ok {
		t.Error("the last encoder level must not downsample")
	}
	if _, ok := got["decoder.up.0.upsample.conv.weight"]; ok {
		t.Error("decoder level 0 must not upsample")
	}
	if _, ok := got["encoder.mid.attn_1.q.weight"]; ok {
		t.Error("no_attn_mid_block: attn_1 must be absent")
	}
}

// TestParamNamesMatchGolden checks that the names and shapes the config
// implies are exactly those of the golden checkpoint.
func TestParamNamesMatchGolden(t *testing.T) {
	cfg, err := LoadConfig(goldenDir + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	names, shapes, err := ParamNames(cfg)
	if err != nil {
		t.Fatal(err)
	}
	set := openGoldenSet(t)
	defer set.Close()
	if got := set.Names(); len(got) != len(names) {
		t.Errorf("golden checkpoint has %d tensors, config implies %d", len(got), len(names))
	}
	for i, nm := range names {
		tt, err := set.Tensor(nm)
		if err != nil {
			t.Errorf("%s: %v", nm, err)
			continue
		}
		if !equalShape(tt.Shape, shapes[i]) {
			t.Errorf("%s: golden shape %v, config implies %v", nm, tt.Shape, shapes[i])
		}
	}
	t.Logf("%d tensors, %d parameters", len(names), NumParameters(cfg))
}

func TestParseConfigDefaultsAndAttention(t *testing.T) {
	// Absent keys take open-muse's VQGANModel defaults.
	cfg, err := ParseConfig([]byte(`{"_class_name": "VQGANModel", "some_future_key": [1, 2]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, openMuseDefaults()) {
		t.Errorf("got %+v, want the open-muse defaults %+v", cfg, openMuseDefaults())
	}
	names, _, err := ParamNames(cfg)
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	for _, n := range []string{
		"encoder.mid.attn_1.norm.weight", "encoder.mid.attn_1.q.weight", "encoder.mid.attn_1.k.bias",
		"encoder.mid.attn_1.v.weight", "encoder.mid.attn_1.proj_out.weight", "decoder.mid.attn_1.proj_out.bias",
		"encoder.down.4.attn.1.q.weight", "decoder.up.4.attn.2.proj_out.weight",
	} {
		if !has[n] {
			t.Errorf("default config lacks %s", n)
		}
	}
	if has["encoder.down.3.attn.0.q.weight"] {
		t.Error("attention at 32×32 although attn_resolutions = [16]")
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	base := releasedJSON[:len(releasedJSON)-1] // without the closing brace
	cases := []struct {
		name, extra, key string
	}{
		{"resolution zero", `"resolution": 0`, "resolution"},
		{"resolution not a multiple", `"resolution": 100`, "resolution"},
		{"hidden not /32", `"hidden_channels": 48`, "hidden_channels"},
		{"empty mult", `"channel_mult": []`, "channel_mult"},
		{"zero mult", `"channel_mult": [1, 0, 2]`, "channel_mult[1]"},
		{"no res blocks", `"num_res_blocks": 0`, "num_res_blocks"},
		{"codebook", `"num_embeddings": 0`, "num_embeddings"},
		{"embed dim", `"quantized_embed_dim": -1`, "quantized_embed_dim"},
		{"z", `"z_channels": 0`, "z_channels"},
		{"channels", `"num_channels": 0`, "num_channels"},
		{"dropout", `"dropout": 1.5`, "dropout"},
		{"attn res", `"attn_resolutions": [16, -2]`, "attn_resolutions[1]"},
		{"wrong type", `"num_res_blocks": "two"`, "num_res_blocks"},
		{"unsupported", `"decoder_channel_mult": [1, 2]`, "decoder_channel_mult"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A later duplicate key overrides the earlier one in encoding/json.
			_, err := ParseConfig([]byte(base + ", " + c.extra + "}"))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.key) {
				t.Errorf("error %q does not name %q", err, c.key)
			}
			t.Logf("%v", err)
		})
	}
	if _, err := ParseConfig([]byte(base + `, "decoder_channel_mult": null}`)); err != nil {
		t.Errorf("null decoder_channel_mult: %v", err)
	}
	if _, err := ParseConfig([]byte(`{"resolution": 256`)); err == nil {
		t.Error("truncated JSON: no error")
	}
	if _, err := LoadConfig("does/not/exist/config.json"); err == nil {
		t.Error("missing file: no error")
	}
}
