package main

import (
	"image"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/tokenizer"
)

func TestTrainTokenizerCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeTinyVQGANConfig(t, dir)
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

	// A decoder-only fine-tune of that tokenizer keeps its codes, and a
	// resumed fine-tune stays decoder-only.
	ft := filepath.Join(dir, "ft")
	ftArgs := []string{"train-tokenizer", "--from", out, "--decoder-only", "--out", ft, "--batch", "2", "--seed", "3", "--lr", "3e-3", "--end-lr", "1e-4"}
	if _, stderr, code = runCLI(t, append(ftArgs, "--steps", "3")...); code != 0 || !strings.Contains(stderr, "decoder only") {
		t.Fatalf("--from --decoder-only: exit %d: %s", code, stderr)
	}
	if _, stderr, code = runCLI(t, "train-tokenizer", "--out", ft, "--resume", "--steps", "5", "--batch", "2", "--seed", "3", "--lr", "3e-3", "--end-lr", "1e-4"); code != 0 ||
		!strings.Contains(stderr, "resuming at step 3") || !strings.Contains(stderr, "decoder only") {
		t.Fatalf("resumed fine-tune: exit %d: %s", code, stderr)
	}
	tuned, err := tokenizer.Load(ft)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	a, errA := tok.Encode(img)
	b, errB := tuned.Encode(img)
	if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
		t.Errorf("codes before / after the decoder-only fine-tune: %v (%v) / %v (%v)", a, errA, b, errB)
	}
	for _, bad := range [][]string{
		{"--from", out, "--config", cfgPath},      // two starts
		{"--from", out, "--resume"},               // a resume has its own weights
		{"--resume", "--decoder-only"},            // the mode is the checkpoint's
		{"--from", filepath.Join(dir, "missing")}, // no such tokenizer
	} {
		a := append([]string{"train-tokenizer", "--out", ft, "--steps", "9"}, bad...)
		if _, stderr, code := runCLI(t, a...); code == 0 {
			t.Errorf("%v accepted: %s", bad, stderr)
		}
	}
}

// TestTrainTokenizerUntil checks that a run split with --until and
// --resume writes the same checkpoint as an uninterrupted one.
func TestTrainTokenizerUntil(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeTinyVQGANConfig(t, dir)
	base := []string{"train-tokenizer", "--config", cfgPath, "--steps", "6", "--batch", "2"}
	checkSplitRun(t, dir, base, 3, 6)
	if _, _, code := runCLI(t, append(base, "--out", filepath.Join(dir, "split"), "--until", "7")...); code == 0 {
		t.Error("--until past --steps accepted")
	}
}

// writeTinyVQGANConfig writes the config of a tiny VQGAN (16×16 images, a
// 4×4 grid, 16 codes) to dir/vq.json and returns its path.
func writeTinyVQGANConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := `{"_class_name":"VQGANModel","resolution":16,"num_channels":3,"hidden_channels":32,"channel_mult":[1,1],
		"num_res_blocks":1,"attn_resolutions":[],"no_attn_mid_block":true,"z_channels":4,"num_embeddings":16,
		"quantized_embed_dim":4,"dropout":0.0,"resample_with_conv":true,"commitment_cost":0.25}`
	path := filepath.Join(dir, "vq.json")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
