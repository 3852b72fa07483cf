package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/weights"
	"github.com/lvm-go/lvm/transformer"
)

// TestConvert rewrites the sharded f16 golden model as f32 and back: f16 →
// f32 → f16 is exact, so the round trip gives the original bytes.
func TestConvert(t *testing.T) {
	dir := t.TempDir()
	f32Dir, f16Dir, bf16Dir := filepath.Join(dir, "f32"), filepath.Join(dir, "f16"), filepath.Join(dir, "bf16")
	for _, c := range []struct{ in, out, dtype string }{
		{llamaDir, f32Dir, "f32"}, {f32Dir, f16Dir, "f16"}, {llamaDir, bf16Dir, "BF16"},
	} {
		out, errOut, code := runCLI(t, "convert", "--model", c.in, "--out", c.out, "--dtype", c.dtype)
		if code != 0 {
			t.Fatalf("convert %s → %s: exit %d: %s", c.in, c.dtype, code, errOut)
		}
		if !strings.Contains(out, "wrote ") || !strings.Contains(out, "model.safetensors") {
			t.Errorf("stdout %q", out)
		}
	}

	orig, err := weights.Open(llamaDir)
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	for _, c := range []struct {
		dir   string
		dtype weights.DType
		torch string
	}{{f32Dir, weights.F32, "float32"}, {f16Dir, weights.F16, "float16"}, {bf16Dir, weights.BF16, "bfloat16"}} {
		set, err := weights.Open(filepath.Join(c.dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(set.Names()), len(orig.Names()); got != want {
			t.Errorf("%s: %d tensors, want %d", c.dir, got, want)
		}
		for _, name := range orig.Names() {
			a, _ := orig.Tensor(name)
			b, err := set.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			if b.DType != c.dtype || !slices.Equal(a.Shape, b.Shape) {
				t.Fatalf("%s %s: %v %v, want %v %v", c.dir, name, b.DType, b.Shape, c.dtype, a.Shape)
			}
			if c.dtype != weights.BF16 {
				fa, _ := a.Float32s()
				fb, _ := b.Float32s()
				for i := range fa {
					if fa[i] != fb[i] {
						t.Fatalf("%s %s[%d] = %v, want %v", c.dir, name, i, fb[i], fa[i])
					}
				}
			}
			if c.dtype == weights.F16 && !bytes.Equal(a.Data, b.Data) {
				t.Fatalf("%s: f16 → f32 → f16 changed the bytes", name)
			}
		}
		set.Close()

		raw, err := os.ReadFile(filepath.Join(c.dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		if err := json.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg["torch_dtype"] != c.torch || cfg["bos_token_id"] != 1.0 || cfg["vocab_size"] != 8292.0 {
			t.Errorf("%s config: torch_dtype %v, bos_token_id %v, vocab_size %v", c.dir, cfg["torch_dtype"], cfg["bos_token_id"], cfg["vocab_size"])
		}
		m, err := transformer.Load(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		rc   int
		msg  string
	}{
		{"no flags", nil, 2, "need --model and --out"},
		{"bad dtype", []string{"--model", llamaDir, "--out", dir, "--dtype", "q8"}, 2, "want f16, bf16 or f32"},
		{"same dir", []string{"--model", llamaDir, "--out", llamaDir + "/."}, 2, "another directory"},
		{"arguments", []string{"--model", llamaDir, "--out", dir, "x"}, 2, "unexpected arguments"},
		{"missing model", []string{"--model", filepath.Join(dir, "nope"), "--out", dir}, 1, "nope"},
		{"not a transformer", []string{"--model", vqganDir, "--out", dir}, 1, "config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, rc := runCLI(t, append([]string{"convert"}, tc.args...)...)
			if rc != tc.rc || !strings.Contains(errOut, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", rc, errOut, tc.rc, tc.msg)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed conversions left %d files in --out", len(entries))
	}
}
