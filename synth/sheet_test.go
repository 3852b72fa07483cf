package synth

import (
	"flag"
	"image"
	"image/png"
	"os"
	"testing"
)

var (
	sheetPath = flag.String("sheet", "", "write a contact sheet of every task and motion to this PNG file")
	sheetSide = flag.Int("sheetside", 32, "image side of the contact sheet's sentences")
)

// TestSheet draws one analogy sentence per task, one sequential sentence
// per motion and three composites into a contact sheet, written where
// -sheet says (for looking at the world), or to a temporary directory:
//
//	go test ./synth -run TestSheet -sheet=/tmp/synth_sheet.png [-sheetside=64]
func TestSheet(t *testing.T) {
	g, err := NewGenerator(7, *sheetSide, Train)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]image.Image
	for _, k := range TaskKinds() {
		s, err := g.Analogy(k, 3)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, s.Images)
	}
	for _, m := range Motions() {
		s, err := g.Sequential(m, 8)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, s.Images)
	}
	for _, fg := range [][2]TaskKind{{TaskFlipH, TaskRecolour}, {TaskOutline, TaskMask}, {TaskShift, TaskInvert}} {
		s, err := g.Composite(fg[0], fg[1], 2)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, s.Images)
	}
	path := *sheetPath
	if path == "" {
		path = t.TempDir() + "/sheet.png"
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, Sheet(rows, 96 / *sheetSide, 4)); err != nil {
		t.Fatal(err)
	}
}
