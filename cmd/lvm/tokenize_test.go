package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

func goldenVQGANTokens(t *testing.T) map[string][]int {
	t.Helper()
	data, err := os.ReadFile("../../testdata/vqgan/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Cases []struct {
			Image  string `json:"image"`
			Tokens []int  `json:"tokens"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, c := range exp.Cases {
		out[c.Image] = c.Tokens
	}
	return out
}

func TestTokenizeDetokenize(t *testing.T) {
	want := goldenVQGANTokens(t)
	out, errOut, code := runCLI(t, "tokenize", "--tokenizer", "../../testdata/vqgan",
		"../../testdata/vqgan/exact.png", "../../testdata/vqgan/resize.png")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out)
	}
	for i, name := range []string{"exact.png", "resize.png"} {
		var ids []int
		if err := json.Unmarshal([]byte(lines[i]), &ids); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if len(ids) != len(want[name]) {
			t.Fatalf("%s: %d ids, want %d", name, len(ids), len(want[name]))
		}
		diff := 0
		for p := range ids {
			if ids[p] != want[name][p] {
				diff++
			}
		}
		t.Logf("%s: %d/%d tokens equal to the official ones", name, len(ids)-diff, len(ids))
		if diff != 0 {
			t.Errorf("%s: %d tokens differ: got %v want %v", name, diff, ids, want[name])
		}
	}

	dir := t.TempDir()
	tokFile := filepath.Join(dir, "codes.jsonl")
	if err := os.WriteFile(tokFile, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "png")
	if _, errOut, code := runCLI(t, "detokenize", "--tokenizer", "../../testdata/vqgan", "--tokens", tokFile, "--out", outDir); code != 0 {
		t.Fatalf("detokenize exit %d: %s", code, errOut)
	}
	// The decoded images must be the official decoder's output for these
	// tokens, within one grey level.
	for i, name := range []string{"exact", "resize"} {
		got := readPNG(t, filepath.Join(outDir, []string{"000.png", "001.png"}[i]))
		ref := readPNG(t, "../../testdata/vqgan/"+name+".decoded.png")
		b := ref.Bounds()
		if got.Bounds() != b {
			t.Fatalf("%s: bounds %v, want %v", name, got.Bounds(), b)
		}
		maxDiff := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r1, g1, b1, _ := got.At(x, y).RGBA()
				r2, g2, b2, _ := ref.At(x, y).RGBA()
				for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
					if d < 0 {
						d = -d
					}
					maxDiff = max(maxDiff, d)
				}
			}
		}
		t.Logf("%s: decoded PNG max difference %d grey levels", name, maxDiff)
		if maxDiff > 1 {
			t.Errorf("%s: decoded PNG differs by %d grey levels", name, maxDiff)
		}
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("[1, 2, 3]\n"), 0o644)
	outOfRange := filepath.Join(dir, "range.jsonl")
	os.WriteFile(outOfRange, []byte("[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,512]\n"), 0o644)
	notJSON := filepath.Join(dir, "junk.jsonl")
	os.WriteFile(notJSON, []byte("[0,\n"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nosuch"}, 2, "unknown command"},
		{[]string{"tokenize", "../../testdata/vqgan/exact.png"}, 2, "need --tokenizer"},
		{[]string{"tokenize", "--tokenizer", dir, "../../testdata/vqgan/exact.png"}, 1, dir},
		{[]string{"tokenize", "--tokenizer", "../../testdata/vqgan", filepath.Join(dir, "missing.png")}, 1, "missing.png"},
		{[]string{"tokenize", "--tokenizer", "../../testdata/vqgan", bad}, 1, "bad.jsonl"},
		{[]string{"detokenize", "--tokenizer", "../../testdata/vqgan", "--tokens", bad, "--out", dir}, 1, "line 1"},
		{[]string{"detokenize", "--tokenizer", "../../testdata/vqgan", "--tokens", outOfRange, "--out", dir}, 1, "512"},
		{[]string{"detokenize", "--tokenizer", "../../testdata/vqgan", "--tokens", notJSON, "--out", dir}, 1, "line 1"},
		{[]string{"inspect"}, 2, "exactly one PATH"},
		{[]string{"inspect", filepath.Join(dir, "nope.safetensors")}, 1, "nope.safetensors"},
	}
	for _, c := range cases {
		_, errOut, code := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("lvm %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

func TestInspect(t *testing.T) {
	for _, c := range []struct {
		path string
		want []string
	}{
		{"../../testdata/vqgan", []string{"quantize.embedding.weight", "F32", "[512, 16]", "(vqgan)", "4×4 = 16 tokens per image"}},
		{"../../testdata/vqgan/pytorch_model.bin", []string{"encoder.conv_in.weight", "[32, 3, 3, 3]", "(vqgan)"}},
		{"../../testdata/llama", []string{"model.layers.1.mlp.down_proj.weight", "F16", "[64, 172]", "(llama)", "parameters: 1160512"}},
	} {
		out, errOut, code := runCLI(t, "inspect", c.path)
		if code != 0 {
			t.Fatalf("inspect %s: exit %d: %s", c.path, code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("inspect %s: output lacks %q:\n%s", c.path, w, out)
			}
		}
	}
}
