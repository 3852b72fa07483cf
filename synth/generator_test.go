package synth

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"slices"
	"testing"
)

// hashSentence hashes a sentence's pixels and metadata.
func hashSentence(s Sentence) [32]byte {
	h := sha256.New()
	binary.Write(h, binary.LittleEndian, []int64{int64(s.Kind), int64(s.Motion), int64(s.Group), int64(len(s.Images))})
	for _, t := range s.Tasks {
		h.Write([]byte(t.String()))
	}
	for _, im := range s.Images {
		h.Write(im.(*image.NRGBA).Pix)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func sampleHashes(t *testing.T, seed uint64, split Split, n int) [][32]byte {
	t.Helper()
	g, err := NewGenerator(seed, 32, split)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][32]byte, n)
	for i := range out {
		s, err := g.Sample(DefaultMixture())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = hashSentence(s)
	}
	return out
}

func TestDeterminism(t *testing.T) {
	a := sampleHashes(t, 42, Train, 30)
	b := sampleHashes(t, 42, Train, 30)
	c := sampleHashes(t, 43, Train, 30)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different sentences")
	}
	for i := range a {
		if a[i] == c[i] {
			t.Errorf("seeds 42 and 43 gave the same sentence %d", i)
		}
	}
	// Every method is a function of the index alone: Seek replays.
	g, _ := NewGenerator(42, 32, Train)
	first := g.Scene()
	g.Sample(DefaultMixture())
	g.Seek(0)
	if again := g.Scene(); !slices.Equal(first.Objects, again.Objects) || first.Background != again.Background {
		t.Error("Seek(0) did not replay the first scene")
	}
	if g.Index() != 1 {
		t.Errorf("Index = %d after one draw from 0", g.Index())
	}
}

// The held-out split shares no sentence with the training split (by
// content hash) among the first 300 of each.
func TestHeldOutDisjoint(t *testing.T) {
	const n = 300
	train := sampleHashes(t, 1, Train, n)
	held := sampleHashes(t, 1, HeldOut, n)
	seen := make(map[[32]byte]int, n)
	for i, h := range train {
		seen[h] = i
	}
	for i, h := range held {
		if j, ok := seen[h]; ok {
			t.Errorf("held-out sentence %d equals training sentence %d", i, j)
		}
	}
}

func TestAnalogyLayout(t *testing.T) {
	g, _ := NewGenerator(5, 32, Train)
	for _, k := range TaskKinds() {
		for _, pairs := range []int{1, 3, 7} {
			s, err := g.Analogy(k, pairs)
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind != KindAnalogy || len(s.Images) != 2*pairs+2 || len(s.Scenes) != len(s.Images) || s.Group != 2 ||
				!slices.Equal(s.Answer, []int{2*pairs + 1}) || s.Examples() != pairs || !slices.Equal(s.TaskNames(), []string{k.String()}) {
				t.Fatalf("%v, %d pairs: kind %v, %d images, %d scenes, group %d, answer %v, tasks %v",
					k, pairs, s.Kind, len(s.Images), len(s.Scenes), s.Group, s.Answer, s.TaskNames())
			}
			// Every pair is (x, f(x)) for the sentence's one task.
			for i := 0; i < len(s.Images); i += 2 {
				want, err := s.Tasks[0].ApplyScene(s.Scenes[i])
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(want.Pix, s.Images[i+1].(*image.NRGBA).Pix) {
					t.Fatalf("%v: image %d is not f(image %d)", k, i+1, i)
				}
			}
		}
	}
	if _, err := g.Analogy(TaskMask, 0); err == nil {
		t.Error("0 pairs accepted")
	}
	if _, err := g.Analogy(TaskMask, 8); err == nil {
		t.Error("8 pairs (18 images) accepted")
	}
	if _, err := g.Analogy(99, 1); err == nil {
		t.Error("unknown task accepted")
	}
}

func TestCompositeLayout(t *testing.T) {
	g, _ := NewGenerator(5, 64, Train)
	s, err := g.Composite(TaskFlipV, TaskRecolour, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Images) != 15 || !slices.Equal(s.Answer, []int{13, 14}) || !slices.Equal(s.TaskNames(), []string{"vflip", "recolour"}) {
		t.Fatalf("%d images, answers %v, tasks %v", len(s.Images), s.Answer, s.TaskNames())
	}
	if b := s.Images[0].Bounds(); b != image.Rect(0, 0, 64, 64) {
		t.Fatalf("image bounds %v at side 64", b)
	}
	for i := 0; i < 15; i += 3 {
		f := mustFrame(t, s.Scenes[i])
		fx := mustApply(t, f, s.Tasks[0])
		gfx := mustApply(t, fx, s.Tasks[1])
		if !slices.Equal(f.Image.Pix, s.Images[i].(*image.NRGBA).Pix) || !slices.Equal(fx.Image.Pix, s.Images[i+1].(*image.NRGBA).Pix) ||
			!slices.Equal(gfx.Image.Pix, s.Images[i+2].(*image.NRGBA).Pix) {
			t.Fatalf("chain %d is not x, f(x), g(f(x))", i/3)
		}
	}
	if _, err := g.Composite(TaskFlipV, TaskRecolour, 5); err == nil {
		t.Error("5 chains (18 images) accepted")
	}
}

func TestShorten(t *testing.T) {
	g, _ := NewGenerator(5, 32, Train)
	s, _ := g.Analogy(TaskShift, 5)
	for n := 0; n <= 5; n++ {
		c, err := s.Shorten(n)
		if err != nil {
			t.Fatal(err)
		}
		if c.Examples() != n || len(c.Images) != 2*n+2 || c.Answer[0] != 2*n+1 || c.Images[c.Answer[0]] != s.Images[s.Answer[0]] || c.Images[0] != s.Images[2*(5-n)] {
			t.Fatalf("Shorten(%d): %d examples, %d images, answer %v", n, c.Examples(), len(c.Images), c.Answer)
		}
	}
	if _, err := s.Shorten(6); err == nil {
		t.Error("Shorten beyond the examples accepted")
	}
	if s.Answer[0] != 11 || len(s.Images) != 12 {
		t.Error("Shorten changed its receiver")
	}
}

func TestSequentialMotions(t *testing.T) {
	g, _ := NewGenerator(11, 32, Train)
	reversals := 0
	for trial := 0; trial < 40; trial++ {
		for _, m := range Motions() {
			s, err := g.Sequential(m, 16)
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind != KindSequential || s.Motion != m || len(s.Images) != 16 || !slices.Equal(s.Answer, []int{15}) || s.Examples() != 15 {
				t.Fatalf("%v: kind %v, %d images, answer %v", m, s.Kind, len(s.Images), s.Answer)
			}
			for fi, sc := range s.Scenes {
				if img, _ := Render(sc); !slices.Equal(img.Pix, s.Images[fi].(*image.NRGBA).Pix) {
					t.Fatalf("%v: frame %d is not its scene", m, fi)
				}
				for oi, o := range sc.Objects {
					r := o.Radius()
					if o.X < r-1e-9 || o.X > 32-r+1e-9 || o.Y < r-1e-9 || o.Y > 32-r+1e-9 {
						t.Fatalf("%v: frame %d object %d at (%.2f, %.2f) radius %.2f leaves the frame", m, fi, oi, o.X, o.Y, r)
					}
					o0 := s.Scenes[0].Objects[oi]
					switch m {
					case MotionMove:
						if fi >= 2 {
							p1, p2 := s.Scenes[fi-1].Objects[oi], s.Scenes[fi-2].Objects[oi]
							if (o.X-p1.X)*(p1.X-p2.X) < 0 || (o.Y-p1.Y)*(p1.Y-p2.Y) < 0 {
								reversals++
							}
						}
					case MotionGrow:
						if o.Size < minGrow*32-1e-9 || o.Size > maxGrow*32+1e-9 {
							t.Fatalf("grow: size %.2f out of bounds", o.Size)
						}
					case MotionRotate:
						if o.Shape.RotationInvariant() {
							t.Fatalf("rotate: a %v", o.Shape)
						}
					case MotionColour:
						if fi == 15 && (o.Colour == o0.Colour || !slices.Contains(Palette(), o.Colour)) {
							t.Fatalf("colour: last colour %v from %v", o.Colour, o0.Colour)
						}
					}
					if m != MotionMove && (o.X != o0.X || o.Y != o0.Y) {
						t.Fatalf("%v moved an object", m)
					}
				}
			}
		}
	}
	if reversals == 0 {
		t.Error("no object bounced off a border in 40 sentences of 16 frames")
	}
	for _, bad := range []int{1, 17} {
		if _, err := g.Sequential(MotionMove, bad); err == nil {
			t.Errorf("%d frames accepted", bad)
		}
	}
}

func TestBounce(t *testing.T) {
	cases := []struct{ x, want float64 }{
		{5, 5}, {2, 2}, {10, 10}, {11, 9}, {18, 2}, {19, 3}, {-1, 5}, {1, 3}, {26, 10}, {-14, 2}, {-22, 10},
	}
	for _, c := range cases {
		if got := bounce(c.x, 2, 10); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("bounce(%v, 2, 10) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := bounce(7, 4, 4); got != 4 {
		t.Errorf("bounce in an empty interval = %v", got)
	}
	// A hand-made track: right at 3 px per frame from x = 20 with radius 4
	// reaches the wall at 28 and comes back.
	o := Object{Shape: Disc, Colour: red, X: 20, Y: 16, Size: 4}
	var xs []float64
	for f := 0; f < 6; f++ {
		xs = append(xs, track{vx: 3}.at(MotionMove, o, f, 6, 32).X)
	}
	if want := []float64{20, 23, 26, 27, 24, 21}; !slices.Equal(xs, want) {
		t.Errorf("bouncing track %v, want %v", xs, want)
	}
}

func TestSample(t *testing.T) {
	g, _ := NewGenerator(9, 32, Train)
	mix := Mixture{Sequential: 1, Analogy: 2, Composite: 1, MaxImages: 12}
	counts := map[Kind]int{}
	const n = 400
	for i := 0; i < n; i++ {
		s, err := g.Sample(mix)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.check(); err != nil {
			t.Fatal(err)
		}
		if len(s.Images) > 12 {
			t.Fatalf("sentence of %d images over MaxImages 12", len(s.Images))
		}
		if s.Kind == KindComposite && (s.Tasks[0].Kind == s.Tasks[1].Kind || s.Tasks[0].Kind == TaskMask && s.Tasks[1].Kind == TaskGrayscale) {
			t.Fatalf("composite of %v", s.TaskNames())
		}
		counts[s.Kind]++
	}
	for k, want := range map[Kind]float64{KindSequential: 0.25, KindAnalogy: 0.5, KindComposite: 0.25} {
		if got := float64(counts[k]) / n; math.Abs(got-want) > 0.07 {
			t.Errorf("%v: %.2f of the sentences, want %.2f", k, got, want)
		}
	}
	only, _ := g.Sample(Mixture{Composite: 1})
	if only.Kind != KindComposite {
		t.Errorf("composite-only mixture gave %v", only.Kind)
	}
	for _, bad := range []Mixture{{}, {Analogy: -1, Sequential: 1}, {Analogy: math.NaN()}, {Analogy: 1, MaxImages: 17},
		{Analogy: 1, MaxImages: 3}, {Composite: 1, MaxImages: 5}, {Sequential: 1, MaxImages: 1}} {
		if _, err := g.Sample(bad); err == nil {
			t.Errorf("mixture %+v accepted", bad)
		}
	}
}

func TestNewGeneratorErrors(t *testing.T) {
	for _, side := range []int{-1, 8, 2048} {
		if _, err := NewGenerator(1, side, Train); err == nil {
			t.Errorf("side %d accepted", side)
		}
	}
	if _, err := NewGenerator(1, 32, 7); err == nil {
		t.Error("unknown split accepted")
	}
	g, err := NewGenerator(1, 0, HeldOut)
	if err != nil || g.Side() != DefaultSide {
		t.Fatalf("side 0: %v, %v", g, err)
	}
	if img := g.Image(); img.Bounds() != image.Rect(0, 0, 32, 32) {
		t.Errorf("Image bounds %v", img.Bounds())
	}
}

// The world is pinned: a change to what a seed draws changes the training
// data and the held-out set, so it must be deliberate (update the hashes).
func TestPinnedWorld(t *testing.T) {
	want := [numSplits]string{Train: "58d0f58a63caeeb6", HeldOut: "fda92945ee6abdd4"}
	for split := Train; split < numSplits; split++ {
		h := sha256.New()
		for _, s := range sampleHashes(t, 2024, split, 20) {
			h.Write(s[:])
		}
		if got := fmt.Sprintf("%x", h.Sum(nil))[:16]; got != want[split] {
			t.Errorf("%v: world hash %s, want %s", split, got, want[split])
		}
	}
}

// BenchmarkSample draws default-mixture training sentences at 32×32 and
// reports images per second: the generator must not hold up a trainer.
func BenchmarkSample(b *testing.B) {
	g, _ := NewGenerator(1, 32, Train)
	images := 0
	for b.Loop() {
		s, err := g.Sample(DefaultMixture())
		if err != nil {
			b.Fatal(err)
		}
		images += len(s.Images)
	}
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}

func TestSampleExact(t *testing.T) {
	g, err := NewGenerator(3, 32, Train)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for i := 0; i < 60; i++ {
		s, err := g.Sample(Mixture{Sequential: 1, Analogy: 1, Composite: 1, MaxImages: 12, Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Images) != 12 {
			t.Fatalf("sentence %d (%s): %d images, want exactly 12", i, s.Kind, len(s.Images))
		}
		kinds[fmt.Sprint(s.Kind)]++
	}
	if len(kinds) != 3 {
		t.Errorf("kinds drawn: %v, want all three", kinds)
	}
	if _, err := g.Sample(Mixture{Analogy: 1, Exact: true}); err == nil {
		t.Error("exact sentences of 16 images (not a multiple of 6) accepted")
	}
}
