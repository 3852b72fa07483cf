package main

import (
	"strings"
	"testing"
)

func TestEvalCommand(t *testing.T) {
	out, errOut, code := runCLI(t, "eval", "--model", llamaDir, "--tokenizer", vqganDir, "--per-task", "1", "--pairs", "1", "--images", "2", "--ppl-sentences", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"PSNR", "| mask | 1 |", "answer perplexity", "1 pairs: the model beats"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if _, _, code := runCLI(t, "eval", "--model", llamaDir); code != 2 {
		t.Errorf("missing --tokenizer: exit %d", code)
	}
}
