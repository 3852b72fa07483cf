package synth_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"

	"github.com/lvm-go/lvm/sentence"
	"github.com/lvm-go/lvm/synth"
)

// Draw a few sentences and lay them out, one per row, in a PNG strip.
func Example() {
	g, err := synth.NewGenerator(1, 32, synth.Train)
	if err != nil {
		panic(err)
	}
	var rows [][]image.Image
	for _, k := range []synth.TaskKind{synth.TaskMask, synth.TaskFlipH, synth.TaskOutline} {
		s, _ := g.Analogy(k, 2) // x1 f(x1) x2 f(x2) xq f(xq)
		fmt.Println(s.Kind, s.TaskNames(), len(s.Images), "images, answer at", s.Answer)
		rows = append(rows, s.Images)
	}
	s, _ := g.Sequential(synth.MotionMove, 6)
	fmt.Println(s.Kind, s.Motion, len(s.Images), "frames, answer at", s.Answer)
	rows = append(rows, s.Images)
	c, _ := g.Composite(synth.TaskFlipV, synth.TaskGrayscale, 1)
	fmt.Println(c.Kind, c.TaskNames(), len(c.Images), "images, answers at", c.Answer)
	rows = append(rows, c.Images)

	sheet := synth.Sheet(rows, 4, 2) // 4× magnified, 2-pixel gaps
	dir, err := os.MkdirTemp("", "synth-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "sentences.png"))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := png.Encode(f, sheet); err != nil {
		panic(err)
	}
	fmt.Println("sheet", sheet.Bounds().Dx(), "×", sheet.Bounds().Dy())
	// Output:
	// analogy [mask] 6 images, answer at [5]
	// analogy [hflip] 6 images, answer at [5]
	// analogy [outline] 6 images, answer at [5]
	// sequential move 6 frames, answer at [5]
	// composite [vflip grayscale] 6 images, answers at [4 5]
	// sheet 782 × 652
}

// A Scene is rendered with hard edges; a Task maps it to the answer image.
func ExampleTask() {
	s := synth.Scene{
		Side:       16,
		Background: synth.Background{A: synth.BackgroundPalette()[0]}, // black
		Objects:    []synth.Object{{Shape: synth.Disc, Colour: synth.Palette()[0], X: 8, Y: 8, Size: 4}},
	}
	mask, _ := synth.Task{Kind: synth.TaskMask}.ApplyScene(s)
	for y := 3; y < 13; y++ {
		for x := 3; x < 13; x++ {
			if mask.NRGBAAt(x, y).R == 255 {
				fmt.Print("#")
			} else {
				fmt.Print(".")
			}
		}
		fmt.Println()
	}
	// Output:
	// ..........
	// ...####...
	// ..######..
	// .########.
	// .########.
	// .########.
	// .########.
	// ..######..
	// ...####...
	// ..........
}

// Score a guess against the answer, next to the two baselines that use no
// context.
func ExampleMeanBaseline() {
	g, _ := synth.NewGenerator(3, 32, synth.HeldOut)
	s, _ := g.Analogy(synth.TaskMask, 3)
	answer := s.Answers()[0]
	copyQ, _ := synth.CopyBaseline(s)
	mean, _ := synth.MeanBaseline(s)
	for _, guess := range []struct {
		name string
		img  image.Image
	}{{"answer", answer}, {"copy", copyQ[0]}, {"mean", mean[0]}} {
		iou, _ := synth.MaskIoU(guess.img, answer, 0.5)
		psnr, _ := synth.PSNR(guess.img, answer)
		fmt.Printf("%-6s IoU %.2f PSNR %.1f dB\n", guess.name, iou, psnr)
	}
	// Output:
	// answer IoU 1.00 PSNR +Inf dB
	// copy   IoU 0.05 PSNR 2.9 dB
	// mean   IoU 0.02 PSNR 13.5 dB
}

// redEncoder stands in for a tokenizer: one code per image, its top-left
// red value.
type redEncoder struct{}

func (redEncoder) Encode(img image.Image) ([]int, error) {
	r, _, _, _ := img.At(img.Bounds().Min.X, img.Bounds().Min.Y).RGBA()
	return []int{int(r >> 8)}, nil
}

// Write sentences in the official trainer's JSON-lines format.
func ExampleWriteJSONL() {
	g, _ := synth.NewGenerator(1, 32, synth.Train)
	s, _ := g.Sample(synth.DefaultMixture())
	var buf bytes.Buffer
	if err := synth.WriteJSONL(context.Background(), &buf, redEncoder{}, s); err != nil {
		panic(err)
	}
	back, _ := sentence.ReadJSONL(&buf)
	fmt.Println(len(back), "line of", len(back[0]), "tokens for", len(s.Images), "images")
	// Output:
	// 1 line of 8 tokens for 8 images
}
