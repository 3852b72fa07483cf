package tokenizer_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/lvm-go/lvm/internal/optim"
	"github.com/lvm-go/lvm/tokenizer"
)

// Training a small VQGAN: Forward, Backward, an AdamW step, then the
// dead-code restart, and a checkpoint that Load reads.
func ExampleTrainVQGAN() {
	cfg := tokenizer.Config{Resolution: 16, NumChannels: 3, HiddenChannels: 32, ChannelMult: []int{1, 2},
		NumResBlocks: 1, NoAttnMidBlock: true, ZChannels: 8, NumEmbeddings: 64, QuantizedEmbedDim: 8,
		ResampleWithConv: true, CommitmentCost: 0.25}
	tm, err := tokenizer.NewTrainVQGAN(cfg, 1)
	if err != nil {
		log.Fatal(err)
	}
	opt := optim.NewAdamW(0)
	sched := optim.Schedule{Peak: 1e-3, End: 1e-4, Warmup: 2, Total: 5}

	// A batch of 4 images, CHW each, values in [0, 1]: here a gradient.
	const b = 4
	pix := make([]float32, b*3*16*16)
	for i := range pix {
		pix[i] = float32(i%16) / 15
	}
	for step := 0; step < 5; step++ {
		st, err := tm.Forward(pix, b)
		if err != nil {
			log.Fatal(err)
		}
		optim.ZeroGrads(tm.Params())
		if err := tm.Backward(); err != nil {
			log.Fatal(err)
		}
		optim.ClipGlobalNorm(tm.Params(), 1)
		if err := opt.Step(tm.Params(), sched.LR(step)); err != nil {
			log.Fatal(err)
		}
		tm.RestartDeadCodes(opt)
		_ = st // st.Loss, st.Recon, st.CodesUsed, st.Perplexity: progress figures
	}

	dir, err := os.MkdirTemp("", "vqgan")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := tm.Save(dir); err != nil {
		log.Fatal(err)
	}
	if err := tm.SaveOptimizer(filepath.Join(dir, "optimizer.safetensors"), opt); err != nil {
		log.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	ids, err := tok.EncodePixels(pix[:3*16*16], 16, 16)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tm.NumParams() == tokenizer.NumParameters(cfg), len(ids))
	// Output: true 64
}
