package pretrained_test

import (
	"context"
	"math"
	"testing"

	"github.com/lvm-go/lvm/pretrained"
	"github.com/lvm-go/lvm/sampling"
	"github.com/lvm-go/lvm/synth"
)

func TestEmbedded(t *testing.T) {
	tok, err := pretrained.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	model, err := pretrained.Model()
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := pretrained.Pipeline()
	if err != nil {
		t.Fatal(err)
	}
	if pipe.Tokenizer() != tok || pipe.Model() != model {
		t.Error("Pipeline does not share the Tokenizer and Model values")
	}
	if again, _ := pretrained.Pipeline(); again != pipe {
		t.Error("second Pipeline call loaded again")
	}
	if got := tok.Resolution(); got != pretrained.Resolution {
		t.Errorf("tokenizer resolution %d, want %d", got, pretrained.Resolution)
	}
	if got := tok.TokensPerImage(); got != pretrained.TokensPerImage {
		t.Errorf("tokens per image %d, want %d", got, pretrained.TokensPerImage)
	}
	cfg := model.Config()
	if tok.CodebookSize() > cfg.VocabSize {
		t.Errorf("codebook %d > vocabulary %d", tok.CodebookSize(), cfg.VocabSize)
	}

	// Encode and decode an image of the held-out world.
	g, err := synth.NewGenerator(1, pretrained.Resolution, synth.HeldOut)
	if err != nil {
		t.Fatal(err)
	}
	img := g.Image()
	ids, err := tok.Encode(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != pretrained.TokensPerImage {
		t.Fatalf("%d codes, want %d", len(ids), pretrained.TokensPerImage)
	}
	back, err := tok.Decode(ids)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Bounds().Size(); got.X != pretrained.Resolution || got.Y != pretrained.Resolution {
		t.Fatalf("decoded image %v", got)
	}
	psnr, err := synth.PSNR(img, back)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reconstruction PSNR %.2f dB", psnr)
	if psnr < minPSNR {
		t.Errorf("reconstruction PSNR %.2f dB, want ≥ %v: the embedded tokenizer does not reconstruct its world", psnr, minPSNR)
	}

	// Prefill the codes as a one-image prompt and decode a few steps.
	ctx := context.Background()
	st := model.NewState()
	if err := model.Prefill(ctx, st, ids); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		logits := st.LastLogits()
		if len(logits) != cfg.VocabSize {
			t.Fatalf("%d logits, want %d", len(logits), cfg.VocabSize)
		}
		for _, v := range logits {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("step %d: logit %v", i, v)
			}
		}
		next := sampling.Argmax(logits, tok.CodebookSize(), cfg.VocabSize)
		if next < 0 || next >= tok.CodebookSize() {
			t.Fatalf("step %d: next id %d outside the codebook", i, next)
		}
		if err := model.Decode(ctx, st, next); err != nil {
			t.Fatal(err)
		}
	}
	if st.Len() != len(ids)+4 {
		t.Errorf("state holds %d tokens, want %d", st.Len(), len(ids)+4)
	}
	if err := model.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := model.Prefill(ctx, model.NewState(), ids[:1]); err != nil {
		t.Errorf("the model no longer works after Close: %v", err)
	}
}

// minPSNR is a floor far below a trained tokenizer's reconstruction of its
// own world: it only catches a broken or mismatched checkpoint.
const minPSNR = 12
