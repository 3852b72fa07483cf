package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/tokenizer"
)

func TestTrainTokenizerCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"_class_name":"VQGANModel","resolution":16,"num_channels":3,"hidden_channels":32,"channel_mult":[1,1],
		"num_res_blocks":1,"attn_resolutions":[],"no_attn_mid_block":true,"z_channels":4,"num_embeddings":16,
		"quantized_embed_dim":4,"dropout":0.0,"resample_with_conv":true,"commitment_cost":0.25}`
	cfgPath := filepath.Join(dir, "vq.json")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	out := filepath.Join(dir, "tok")
	args := []string{"train-tokenizer", "--config", cfgPath, "--out", out, "--steps", "4", "--batch", "2", "--checkpoint-every", "2"}
	stdout, stderr, code := runCLI(t, append(args, "--restart", "far")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "step 4/4") || !strings.Contains(stderr, "img/s") || !strings.Contains(stdout, "PSNR") ||
		!strings.Contains(stderr, "dead-code restarts: far") {
		t.Errorf("output:\n%s\n%s", stderr, stdout)
	}
	args[6] = "6"
	_, stderr, code = runCLI(t, append(args, "--resume")...)
	if code != 0 || !strings.Contains(stderr, "resuming at step 4") || !strings.Contains(stderr, "dead-code restarts: far") {
		t.Fatalf("resume (the checkpoint's rule, far, kept): exit %d: %s", code, stderr)
	}
	if _, stderr, code = runCLI(t, append(args, "--resume", "--restart", "nearest")...); code == 0 || !strings.Contains(stderr, `"nearest"`) {
		t.Errorf("--restart nearest: exit %d: %s", code, stderr)
	}
	tok, err := tokenizer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokensPerImage() != 64 {
		t.Errorf("tokens per image %d", tok.TokensPerImage())
	}
}

// TestTrainTokenizerUntil checks that a run split with --until and
// --resume writes the same checkpoint as an uninterrupted one.
func TestTrainTokenizerUntil(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"_class_name":"VQGANModel","resolution":16,"num_channels":3,"hidden_channels":32,"channel_mult":[1,1],
		"num_res_blocks":1,"attn_resolutions":[],"no_attn_mid_block":true,"z_channels":4,"num_embeddings":16,
		"quantized_embed_dim":4,"dropout":0.0,"resample_with_conv":true,"commitment_cost":0.25}`
	cfgPath := filepath.Join(dir, "vq.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"train-tokenizer", "--config", cfgPath, "--steps", "6", "--batch", "2"}
	checkSplitRun(t, dir, base, 3, 6)
	if _, _, code := runCLI(t, append(base, "--out", filepath.Join(dir, "split"), "--until", "7")...); code == 0 {
		t.Error("--until past --steps accepted")
	}
}
