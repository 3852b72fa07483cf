package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/transformer"
)

// runBenchJSON runs "lvm bench args..." and returns the JSON object of the
// last output line, checking that it is the only JSON line.
func runBenchJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if rc := run(append([]string{"bench"}, args...), &stdout, &stderr); rc != 0 {
		t.Fatalf("lvm bench %v: exit %d: %s", args, rc, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("want human lines and a JSON line, got %q", stdout.String())
	}
	for _, l := range lines[:len(lines)-1] {
		if strings.HasPrefix(l, "{") {
			t.Errorf("JSON-looking line before the last: %q", l)
		}
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &obj); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	return obj
}

// checkFields checks that obj has every key, numbers being > 0 unless
// listed in zero (then = 0).
func checkFields(t *testing.T, obj map[string]any, keys []string, zero ...string) {
	t.Helper()
	for _, k := range keys {
		v, ok := obj[k]
		if !ok {
			t.Errorf("missing %q in %v", k, obj)
			continue
		}
		if x, isNum := v.(float64); isNum {
			want0 := false
			for _, z := range zero {
				want0 = want0 || z == k
			}
			if (x == 0) != want0 {
				t.Errorf("%s = %v", k, x)
			}
		}
	}
}

var transformerKeys = []string{"config", "dtype", "threads", "prompt", "decode", "candidates", "repeat",
	"prefill_tok_s", "decode_tok_s", "weight_bytes", "params", "prefill_s", "decode_s"}

// near reports whether the JSON number v is within 0.1 % of want (weight
// sizes may count the small norm vectors as float32).
func near(v any, want int64) bool {
	x, ok := v.(float64)
	return ok && x >= 0.999*float64(want) && x <= 1.001*float64(want)
}

// TestBenchTransformer runs the transformer benchmark on the golden
// fixture's configuration with random weights: one state, then candidates.
func TestBenchTransformer(t *testing.T) {
	cfg := filepath.Join(llamaDir, "config.json")
	obj := runBenchJSON(t, "--config", cfg, "--threads", "2", "--prompt", "16", "--decode", "4", "--repeat", "3", "--warmup", "1")
	checkFields(t, obj, append(transformerKeys, "build_s"))
	c, err := transformer.ReadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if obj["config"] != cfg || obj["dtype"] != "f16" || obj["threads"] != 2.0 || obj["prompt"] != 16.0 ||
		obj["decode"] != 4.0 || obj["candidates"] != 1.0 || obj["repeat"] != 3.0 ||
		obj["params"] != float64(c.NumParams()) || !near(obj["weight_bytes"], 2*c.NumParams()) {
		t.Errorf("fields: %v", obj)
	}
	if runtime.GOOS == "linux" {
		checkFields(t, obj, []string{"max_rss_bytes", "prefill_cpu_s", "decode_cpu_s", "prefill_tok_s_cpu", "decode_tok_s_cpu"})
	}
	if _, ok := obj["open_s"]; ok {
		t.Error("open_s without --model")
	}

	obj = runBenchJSON(t, "--config", cfg, "--dtype", "bf16", "--prompt", "8", "--decode", "3", "--candidates", "3")
	checkFields(t, obj, transformerKeys)
	if obj["candidates"] != 3.0 || obj["dtype"] != "bf16" {
		t.Errorf("fields: %v", obj)
	}
	// decode_tok_s counts K tokens per step.
	if got, want := obj["decode_tok_s"].(float64), 9/obj["decode_s"].(float64); got < 0.99*want || got > 1.01*want {
		t.Errorf("decode_tok_s %v, want 9 tokens / decode_s = %v", got, want)
	}

	obj = runBenchJSON(t, "--config", cfg, "--dtype", "f32", "--prompt", "8", "--decode", "0")
	checkFields(t, obj, transformerKeys, "decode", "decode_tok_s", "decode_s")
	if !near(obj["weight_bytes"], 4*c.NumParams()) {
		t.Errorf("f32 weight_bytes %v", obj["weight_bytes"])
	}
}

// TestBenchQ8 runs the 8-bit weights when the transformer package has them
// (transformer.Q8); it is skipped where NewRandom does not know "q8".
func TestBenchQ8(t *testing.T) {
	args := []string{"bench", "--config", filepath.Join(llamaDir, "config.json"), "--dtype", "q8", "--prompt", "8", "--decode", "2"}
	var stdout, stderr bytes.Buffer
	if rc := run(args, &stdout, &stderr); rc != 0 {
		if strings.Contains(stderr.String(), "unknown dtype") {
			t.Skip("no q8 in this build:", stderr.String())
		}
		t.Fatalf("exit %d: %s", rc, stderr.String())
	}
	obj := runBenchJSON(t, args[1:]...)
	checkFields(t, obj, transformerKeys)
	if obj["dtype"] != "q8" || obj["weight_bytes"].(float64) >= 2*obj["params"].(float64) {
		t.Errorf("fields: %v", obj)
	}
}

// TestBenchWriteRandomModel writes a random checkpoint with --write-random
// and benchmarks it with --model.
func TestBenchWriteRandomModel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	cfg := filepath.Join(llamaDir, "config.json")
	w := runBenchJSON(t, "--write-random", dir, "--config", cfg, "--dtype", "bf16", "--seed", "3")
	checkFields(t, w, []string{"write_random", "config", "dtype", "tensors", "files", "weight_bytes", "file_bytes", "write_s"})
	if files, _ := w["files"].([]any); len(files) != 5 {
		t.Errorf("files %v", w["files"])
	}
	obj := runBenchJSON(t, "--model", dir, "--prompt", "8", "--decode", "2", "--threads", "1")
	checkFields(t, obj, append(transformerKeys, "open_s", "model"))
	if obj["dtype"] != "bf16" || obj["model"] != dir || obj["config"] != "custom" || !near(obj["weight_bytes"], int64(w["weight_bytes"].(float64))) || obj["threads"] != 1.0 {
		t.Errorf("fields: %v", obj)
	}
	if runtime.GOOS == "linux" {
		checkFields(t, obj, []string{"max_rss_bytes"})
	}
	if _, ok := obj["build_s"]; ok {
		t.Error("build_s with --model")
	}
	// A second write into the same directory is refused.
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"bench", "--write-random", dir, "--config", cfg}, &stdout, &stderr); rc == 0 {
		t.Error("second --write-random into the same directory succeeded")
	}
}

// TestBenchVQGAN runs the tokenizer benchmark on the golden fixture's
// (64×64) configuration.
func TestBenchVQGAN(t *testing.T) {
	obj := runBenchJSON(t, "--config", filepath.Join(vqganDir, "config.json"), "--threads", "2", "--repeat", "2")
	checkFields(t, obj, []string{"config", "threads", "repeat", "resolution", "encode_s", "decode_s", "encode_decode_s", "params", "build_s"})
	if obj["resolution"] != 64.0 || obj["repeat"] != 2.0 {
		t.Errorf("fields: %v", obj)
	}
}

// TestBenchErrors checks that bad invocations fail with a message (usage
// problems with exit status 2) before building anything large.
func TestBenchErrors(t *testing.T) {
	cfg := filepath.Join(llamaDir, "config.json")
	for _, tc := range []struct {
		args []string
		rc   int
		msg  string
	}{
		{nil, 2, "exactly one of --config and --model"},
		{[]string{"--config", cfg, "--model", llamaDir}, 2, "exactly one"},
		{[]string{"--config", "nosuch"}, 2, "neither a preset"},
		{[]string{"--config", "7b", "--prompt", "4000", "--decode", "97"}, 2, "exceeds"},
		{[]string{"--config", cfg, "--prompt", "0"}, 2, "must be ≥ 1"},
		{[]string{"--config", cfg, "--candidates", "0"}, 2, "must be ≥ 1"},
		{[]string{"--config", cfg, "--decode", "-1"}, 2, "≥ 0"},
		{[]string{"--config", cfg, "extra"}, 2, "unexpected arguments"},
		{[]string{"--model", llamaDir, "--dtype", "f32"}, 2, "may only be q8"},
		{[]string{"--config", "vqgan", "--dtype", "f32"}, 2, "does not apply"},
		{[]string{"--config", cfg, "--dtype", "f8", "--prompt", "4", "--decode", "1"}, 1, "dtype"},
		{[]string{"--write-random", t.TempDir(), "--config", "vqgan"}, 2, "VQGAN"},
		{[]string{"--write-random", t.TempDir(), "--config", cfg, "--dtype", "q8"}, 1, "cannot be written"},
		{[]string{"--model", t.TempDir()}, 1, "config"},
	} {
		var stdout, stderr bytes.Buffer
		rc := run(append([]string{"bench"}, tc.args...), &stdout, &stderr)
		if rc != tc.rc || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%v: exit %d, want %d, stderr %q, want %q", tc.args, rc, tc.rc, stderr.String(), tc.msg)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if xs := []float64{2, 1}; median(xs) != 1.5 || xs[0] != 2 {
		t.Error("median changed its input")
	}
}

func TestRandomWeightBytes(t *testing.T) {
	c, _ := transformer.Preset("7b")
	if got := randomWeightBytes(c, transformer.F16); got != 2*c.NumParams() {
		t.Errorf("f16: %d, want %d", got, 2*c.NumParams())
	}
	// q8: 34/32 bytes per linear weight, the embedding in fp16.
	q8 := randomWeightBytes(c, "q8")
	emb := int64(c.VocabSize * c.HiddenSize)
	if r := float64(q8-2*emb) / float64(c.NumParams()-emb); r < 1.062 || r > 1.063 {
		t.Errorf("q8: %.4f bytes per parameter, want about 34/32", r)
	}
}
