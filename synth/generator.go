package synth

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
)

// DefaultSide is the image side a Generator uses when given 0.
const DefaultSide = 32

// MaxImages is the most images in one generated sentence (the LVM's
// training sentences hold 16).
const MaxImages = 16

// Split selects a Generator's seed stream.
type Split uint8

// The splits.
const (
	Train   Split = iota // the training stream
	HeldOut              // the evaluation stream, disjoint from Train
	numSplits
)

func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case HeldOut:
		return "held-out"
	}
	return fmt.Sprintf("Split(%d)", uint8(s))
}

// Generator draws scenes and visual sentences of the synthetic world.
//
// Every draw (a Scene, an Image, a sentence, a Sample) takes the next index
// n = 0, 1, 2, … and is a function of (seed, split, n, its arguments) alone:
// its random numbers come from a math/rand/v2 PCG seeded with
// (seed, mix(split, n)), where mix is SplitMix64 applied to the split's own
// key plus n. Train and HeldOut use different keys, so every held-out
// draw starts from a generator state no training draw uses: that is what
// makes the held-out split disjoint from the training one (the tests check
// the first 300 sentences of each by content hash).
//
// The same seed, split and calls give the same bytes, run after run and
// machine after machine: no maps, no goroutines, and this package's own
// float arithmetic is rounded explicitly so that no multiply-add is fused.
// One caveat across CPU architectures (or GOAMD64 levels): math.Sin and
// math.Cos may differ there in the last bit, which would flip a pixel whose
// centre lies within about 1e-15 pixel of a turned shape's edge, an event
// of negligible probability for drawn scenes.
//
// A Generator is not safe for concurrent use; make one per goroutine (with
// the same seed and different splits, or different seeds).
type Generator struct {
	seed  uint64
	side  int
	split Split
	n     uint64
}

// NewGenerator returns a generator of side×side images (16..1024; 0 means
// DefaultSide) drawing from the given split of seed's world.
func NewGenerator(seed uint64, side int, split Split) (*Generator, error) {
	if side == 0 {
		side = DefaultSide
	}
	if side < 16 || side > 1024 {
		return nil, fmt.Errorf("synth: image side %d, want 16..1024", side)
	}
	if split >= numSplits {
		return nil, fmt.Errorf("synth: unknown split %d", split)
	}
	return &Generator{seed: seed, side: side, split: split}, nil
}

// Side returns the generator's image side in pixels.
func (g *Generator) Side() int { return g.side }

// Index returns the index the next draw will take.
func (g *Generator) Index() uint64 { return g.n }

// Seek makes the next draw take index n: draws can be replayed or skipped.
func (g *Generator) Seek(n uint64) { g.n = n }

var splitKeys = [numSplits]uint64{0x7472_6169_6e00_0001, 0x6865_6c64_6f75_7402}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// next returns the random source of the next draw.
func (g *Generator) next() *rand.Rand {
	r := rand.New(rand.NewPCG(g.seed, splitmix64(splitKeys[g.split]+g.n)))
	g.n++
	return r
}

// sizeFractions are the object sizes (Object.Size) as fractions of the side:
// 3.2, 4.3, 5.6 and 7 pixels at 32×32.
var sizeFractions = [...]float64{0.1, 0.135, 0.175, 0.22}

// Growing objects stay between these sizes, as fractions of the side.
const minGrow, maxGrow = 0.08, 0.24

// sceneSpec constrains randomScene.
type sceneSpec struct {
	shapes []Shape              // shapes to draw from; all when nil
	room   func(Object) float64 // clearance the object needs about its centre; Radius when nil
}

// randomScene draws a background and 1–3 objects of distinct palette
// colours, placed wholly inside the image and kept apart enough that none
// hides most of another (a placement that fails 20 tries is dropped, so a
// scene may hold fewer objects, never none).
func randomScene(r *rand.Rand, side int, spec sceneSpec) Scene {
	s := Scene{Side: side, Background: randomBackground(r)}
	shapes := spec.shapes
	if shapes == nil {
		shapes = Shapes()
	}
	room := spec.room
	if room == nil {
		room = Object.Radius
	}
	n := 1 + r.IntN(3)
	colours := r.Perm(len(objectColours))
	fs := float64(side)
	for i := 0; i < n; i++ {
		for try := 0; try < 20; try++ {
			o := Object{
				Shape:  shapes[r.IntN(len(shapes))],
				Colour: objectColours[colours[i]].c,
				Size:   sizeFractions[r.IntN(len(sizeFractions))] * fs,
				Angle:  2 * math.Pi * r.Float64(),
			}
			if o.Shape.RotationInvariant() {
				o.Angle = 0
			}
			rr := room(o)
			o.X = rr + float64(r.Float64()*(fs-2*rr))
			o.Y = rr + float64(r.Float64()*(fs-2*rr))
			if apart(o, s.Objects) { // always true for the first object
				s.Objects = append(s.Objects, o)
				break
			}
		}
	}
	return s
}

// apart reports whether o keeps its distance from every object of others.
func apart(o Object, others []Object) bool {
	for _, p := range others {
		dx, dy, lim := o.X-p.X, o.Y-p.Y, 0.75*(o.Radius()+p.Radius())
		if float64(dx*dx)+float64(dy*dy) < float64(lim*lim) {
			return false
		}
	}
	return true
}

func randomBackground(r *rand.Rand) Background {
	nb := len(backgroundColours)
	a := r.IntN(nb)
	b := (a + 1 + r.IntN(nb-1)) % nb
	layout := Layout(r.IntN(2 * int(numLayouts-1))) // half the backgrounds plain
	if layout >= numLayouts {
		layout = Plain
	}
	at := 0.3 + float64(0.4*r.Float64())
	bg := Background{A: backgroundColours[a].c, Layout: layout}
	if layout != Plain {
		bg.B, bg.At = backgroundColours[b].c, at
	}
	return bg
}

// randomTask draws the parameters of a task of the given kind: a palette
// colour to recolour to, or a shift (dx, dy) with each component in −m..m,
// m = max(2, side/8), and |dx| + |dy| ≥ 2.
func randomTask(r *rand.Rand, k TaskKind, side int) Task {
	t := Task{Kind: k}
	switch k {
	case TaskRecolour:
		t.Colour = objectColours[r.IntN(len(objectColours))].c
	case TaskShift:
		m := max(2, side/8)
		for abs(t.DX)+abs(t.DY) < 2 {
			t.DX, t.DY = r.IntN(2*m+1)-m, r.IntN(2*m+1)-m
		}
	}
	return t
}

// Scene draws a random scene: a plain or two-tone background and 1–3
// objects of distinct colours and random shapes, sizes and angles, each
// wholly inside the image.
func (g *Generator) Scene() Scene { return randomScene(g.next(), g.side, sceneSpec{}) }

// Image draws a random scene and renders it (the images a tokenizer
// trains on).
func (g *Generator) Image() *image.NRGBA {
	img, _ := Render(g.Scene()) // a drawn scene is always valid
	return img
}

// Kind is the kind of a visual sentence.
type Kind uint8

// The sentence kinds.
const (
	KindSequential Kind = iota // frames of a motion; the answer is the last frame
	KindAnalogy                // pairs x, f(x) then a query x_q; the answer is f(x_q)
	KindComposite              // triples x, f(x), g(f(x)) then x_q; the answers are f(x_q), g(f(x_q))
)

func (k Kind) String() string {
	switch k {
	case KindSequential:
		return "sequential"
	case KindAnalogy:
		return "analogy"
	case KindComposite:
		return "composite"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Sentence is a visual sentence with what an evaluation needs to know.
//
// Images are groups of Group images each: frames (1), pairs x, f(x) (2) or
// triples x, f(x), g(f(x)) (3). Every group but the last is an example; the
// last group is the query and its answer: Answer holds the indices of the
// images to predict, which are the last images of Images (the last frame;
// f(x_q); f(x_q) and g(f(x_q))). The prompt is everything before
// Answer[0].
type Sentence struct {
	Kind   Kind
	Motion Motion        // KindSequential: the motion of every object
	Tasks  []Task        // KindAnalogy: [f]; KindComposite: [f, g]
	Images []image.Image // each an opaque *image.NRGBA, side×side
	Scenes []Scene       // Scenes[i]: the scene Images[i] shows, or for a task's output the scene of its input
	Group  int           // images per group: 1, 2 or 3
	Answer []int         // indices into Images of the images to predict
}

// TaskNames returns the names of the sentence's tasks (none for a
// sequential sentence).
func (s Sentence) TaskNames() []string {
	out := make([]string, len(s.Tasks))
	for i, t := range s.Tasks {
		out[i] = t.Name()
	}
	return out
}

// Prompt returns the images before the first answer.
func (s Sentence) Prompt() []image.Image {
	if len(s.Answer) == 0 {
		return s.Images
	}
	return s.Images[:s.Answer[0]]
}

// Answers returns the images to predict, in order.
func (s Sentence) Answers() []image.Image {
	out := make([]image.Image, len(s.Answer))
	for i, a := range s.Answer {
		out[i] = s.Images[a]
	}
	return out
}

// Examples returns the number of example groups: frames before the last,
// pairs before the query, or chains before the query chain.
func (s Sentence) Examples() int {
	if s.Group <= 0 {
		return 0
	}
	return len(s.Images)/s.Group - 1
}

// check reports whether s has the layout Sentence documents.
func (s Sentence) check() error {
	if s.Group < 1 || len(s.Images) < s.Group || len(s.Images)%s.Group != 0 {
		return fmt.Errorf("synth: sentence of %d images in groups of %d", len(s.Images), s.Group)
	}
	if len(s.Scenes) != 0 && len(s.Scenes) != len(s.Images) {
		return fmt.Errorf("synth: sentence has %d scenes for %d images", len(s.Scenes), len(s.Images))
	}
	if len(s.Answer) < 1 || len(s.Answer) > max(1, s.Group-1) {
		return fmt.Errorf("synth: sentence has %d answers in groups of %d", len(s.Answer), s.Group)
	}
	for i, a := range s.Answer {
		if a != len(s.Images)-len(s.Answer)+i {
			return errors.New("synth: a sentence's answers must be its last images, in order")
		}
	}
	for i, im := range s.Images {
		if im == nil {
			return fmt.Errorf("synth: sentence image %d is nil", i)
		}
	}
	return nil
}

// Shorten returns the sentence with only its last n example groups before
// the query group (the same query and answers with less context), for
// measuring a score against the number of examples. 0 ≤ n ≤ Examples().
func (s Sentence) Shorten(n int) (Sentence, error) {
	if err := s.check(); err != nil {
		return Sentence{}, err
	}
	if n < 0 || n > s.Examples() {
		return Sentence{}, fmt.Errorf("synth: Shorten(%d) of a sentence with %d examples", n, s.Examples())
	}
	drop := (s.Examples() - n) * s.Group
	out := s
	out.Images = append([]image.Image(nil), s.Images[drop:]...)
	if len(s.Scenes) != 0 {
		out.Scenes = append([]Scene(nil), s.Scenes[drop:]...)
	}
	out.Answer = make([]int, len(s.Answer))
	for i, a := range s.Answer {
		out.Answer[i] = a - drop
	}
	out.Tasks = append([]Task(nil), s.Tasks...)
	return out, nil
}

// Sequential draws a sentence of the given number of frames (2..MaxImages)
// of one random scene whose objects all follow motion m. Rates, per
// object: MotionMove an integer 0–3 pixels per frame along each axis, not
// both 0 (at 32×32, scaled with the side); MotionGrow ±0.5–1 pixel of size per frame between
// 0.08·side and 0.24·side; MotionRotate ±15°, 22.5° or 30° per frame, with
// only shapes a turn changes; MotionColour from the object's colour to
// another palette colour over the sentence.
func (g *Generator) Sequential(m Motion, frames int) (Sentence, error) {
	if m >= numMotions {
		return Sentence{}, fmt.Errorf("synth: unknown motion %d", m)
	}
	if frames < 2 || frames > MaxImages {
		return Sentence{}, fmt.Errorf("synth: %d frames, want 2..%d", frames, MaxImages)
	}
	return sequential(g.next(), g.side, m, frames), nil
}

func sequential(r *rand.Rand, side int, m Motion, frames int) Sentence {
	k := float64(side) / DefaultSide
	spec := sceneSpec{}
	switch m {
	case MotionGrow:
		spec.room = func(o Object) float64 { return maxGrow * float64(side) * shapeExtent[o.Shape] }
	case MotionRotate:
		spec.shapes = []Shape{Square, Triangle, Cross, Diamond}
	}
	start := randomScene(r, side, spec)
	tracks := make([]track, len(start.Objects))
	for i, o := range start.Objects {
		tr := &tracks[i]
		switch m {
		case MotionMove:
			for tr.vx == 0 && tr.vy == 0 {
				tr.vx = float64(r.IntN(7)-3) * k
				tr.vy = float64(r.IntN(7)-3) * k
			}
		case MotionGrow:
			tr.minS, tr.maxS = minGrow*float64(side), maxGrow*float64(side)
			tr.ds = (0.5 + float64(0.5*r.Float64())) * k * float64(1-2*r.IntN(2))
			start.Objects[i].Size = tr.minS + float64(r.Float64()*(tr.maxS-tr.minS))
		case MotionRotate:
			tr.omega = [...]float64{15, 22.5, 30}[r.IntN(3)] * math.Pi / 180 * float64(1-2*r.IntN(2))
		case MotionColour:
			tr.to = o.Colour
			for tr.to == o.Colour {
				tr.to = objectColours[r.IntN(len(objectColours))].c
			}
		}
	}
	scenes := animate(start, m, tracks, frames)
	s := Sentence{Kind: KindSequential, Motion: m, Scenes: scenes, Group: 1, Answer: []int{frames - 1}}
	for _, sc := range scenes {
		img, _ := Render(sc) // drawn scenes are valid
		s.Images = append(s.Images, img)
	}
	return s
}

// Analogy draws an analogy sentence: pairs (1..7) examples x_i, f(x_i) and
// a query x_q with its answer f(x_q), for a task f of kind k whose
// parameters (recolour's colour, shift's vector) are drawn once for the
// sentence. 2·pairs + 2 images.
func (g *Generator) Analogy(k TaskKind, pairs int) (Sentence, error) {
	if k >= numTaskKinds {
		return Sentence{}, fmt.Errorf("synth: unknown task kind %d", k)
	}
	r := g.next()
	return analogy(r, g.side, randomTask(r, k, g.side), pairs)
}

// AnalogyOf is Analogy for a given task instance f.
func (g *Generator) AnalogyOf(f Task, pairs int) (Sentence, error) {
	if f.Kind >= numTaskKinds {
		return Sentence{}, fmt.Errorf("synth: unknown task kind %d", f.Kind)
	}
	return analogy(g.next(), g.side, f, pairs)
}

func analogy(r *rand.Rand, side int, f Task, pairs int) (Sentence, error) {
	if pairs < 1 || 2*pairs+2 > MaxImages {
		return Sentence{}, fmt.Errorf("synth: %d pairs, want 1..%d", pairs, (MaxImages-2)/2)
	}
	s := Sentence{Kind: KindAnalogy, Tasks: []Task{f}, Group: 2, Answer: []int{2*pairs + 1}}
	for i := 0; i <= pairs; i++ {
		imgs, sc, err := chain(randomScene(r, side, sceneSpec{}), f)
		if err != nil {
			return Sentence{}, err
		}
		s.Images = append(s.Images, imgs...)
		s.Scenes = append(s.Scenes, sc, sc)
	}
	return s, nil
}

// Composite draws a composite sentence: chains (1..4) example triples x,
// f(x), g(f(x)) and a query chain x_q, f(x_q), g(f(x_q)) whose last two
// images are the answers, for tasks of kinds fk then gk with parameters
// drawn once for the sentence. 3·chains + 3 images.
func (g *Generator) Composite(fk, gk TaskKind, chains int) (Sentence, error) {
	if fk >= numTaskKinds || gk >= numTaskKinds {
		return Sentence{}, fmt.Errorf("synth: unknown task kinds %d, %d", fk, gk)
	}
	r := g.next()
	f := randomTask(r, fk, g.side)
	return composite(r, g.side, f, randomTask(r, gk, g.side), chains)
}

func composite(r *rand.Rand, side int, f, g Task, chains int) (Sentence, error) {
	if chains < 1 || 3*chains+3 > MaxImages {
		return Sentence{}, fmt.Errorf("synth: %d chains, want 1..%d", chains, MaxImages/3-1)
	}
	s := Sentence{Kind: KindComposite, Tasks: []Task{f, g}, Group: 3, Answer: []int{3*chains + 1, 3*chains + 2}}
	for i := 0; i <= chains; i++ {
		imgs, sc, err := chain(randomScene(r, side, sceneSpec{}), f, g)
		if err != nil {
			return Sentence{}, err
		}
		s.Images = append(s.Images, imgs...)
		s.Scenes = append(s.Scenes, sc, sc, sc)
	}
	return s, nil
}

// chain renders sc and applies the tasks in turn: the images x, f(x),
// g(f(x)), ….
func chain(sc Scene, tasks ...Task) ([]image.Image, Scene, error) {
	f, err := NewFrame(sc)
	if err != nil {
		return nil, sc, err
	}
	out := []image.Image{f.Image}
	for _, t := range tasks {
		if f, err = t.Apply(f); err != nil {
			return nil, sc, err
		}
		out = append(out, f.Image)
	}
	return out, sc, nil
}

// Mixture gives the proportions of sentence kinds that Sample draws.
type Mixture struct {
	Sequential, Analogy, Composite float64 // relative weights, ≥ 0, not all 0
	MaxImages                      int     // most images in a sentence, up to MaxImages; 0 means MaxImages
	// Exact makes every sentence exactly MaxImages images long (a multiple
	// of 6): frames, (MaxImages−2)/2 pairs or MaxImages/3−1 chains. Then
	// packed rows of MaxImages·tokens-per-image tokens each hold one
	// sentence from its start, as the official data's 16-image sentences
	// fill its 4096-token rows.
	Exact bool
}

// DefaultMixture is 30% sequential, 50% analogy and 20% composite
// sentences of up to 16 images.
func DefaultMixture() Mixture {
	return Mixture{Sequential: 0.3, Analogy: 0.5, Composite: 0.2}
}

func (m Mixture) check() (maxImages int, err error) {
	maxImages = m.MaxImages
	if maxImages == 0 {
		maxImages = MaxImages
	}
	w := []float64{m.Sequential, m.Analogy, m.Composite}
	sum := 0.0
	for _, x := range w {
		if !(x >= 0) || math.IsInf(x, 1) {
			return 0, fmt.Errorf("synth: mixture weights %v must be finite and ≥ 0", w)
		}
		sum += x
	}
	switch {
	case sum == 0:
		return 0, errors.New("synth: mixture weights are all 0")
	case maxImages < 2 || maxImages > MaxImages:
		return 0, fmt.Errorf("synth: mixture MaxImages %d, want 2..%d", maxImages, MaxImages)
	case m.Analogy > 0 && maxImages < 4:
		return 0, fmt.Errorf("synth: analogy sentences need MaxImages ≥ 4, have %d", maxImages)
	case m.Composite > 0 && maxImages < 6:
		return 0, fmt.Errorf("synth: composite sentences need MaxImages ≥ 6, have %d", maxImages)
	}
	return maxImages, nil
}

// Sample draws a training sentence: its kind with the mixture's weights,
// then uniformly its motion or task kinds (a composite's two tasks differ,
// and mask is never followed by grayscale, which would change nothing)
// and its length: 3..MaxImages frames (2 if MaxImages is 2), 1..(MaxImages−2)/2
// pairs, or 1..MaxImages/3−1 chains.
func (g *Generator) Sample(m Mixture) (Sentence, error) {
	maxImages, err := m.check()
	if err != nil {
		return Sentence{}, err
	}
	if m.Exact && maxImages%6 != 0 {
		return Sentence{}, fmt.Errorf("synth: exact sentences of %d images: want a multiple of 6", maxImages)
	}
	r := g.next()
	x := r.Float64() * (m.Sequential + m.Analogy + m.Composite)
	switch {
	case x < m.Sequential || m.Analogy+m.Composite == 0:
		frames := maxImages
		if maxImages > 3 && !m.Exact {
			frames = 3 + r.IntN(maxImages-2)
		}
		return sequential(r, g.side, Motion(r.IntN(int(numMotions))), frames), nil
	case x < m.Sequential+m.Analogy || m.Composite == 0:
		f := randomTask(r, TaskKind(r.IntN(int(numTaskKinds))), g.side)
		if m.Exact {
			return analogy(r, g.side, f, (maxImages-2)/2)
		}
		return analogy(r, g.side, f, 1+r.IntN((maxImages-2)/2))
	default:
		var fk, gk TaskKind
		for fk == gk || fk == TaskMask && gk == TaskGrayscale {
			fk, gk = TaskKind(r.IntN(int(numTaskKinds))), TaskKind(r.IntN(int(numTaskKinds)))
		}
		f := randomTask(r, fk, g.side)
		if m.Exact {
			return composite(r, g.side, f, randomTask(r, gk, g.side), maxImages/3-1)
		}
		return composite(r, g.side, f, randomTask(r, gk, g.side), 1+r.IntN(maxImages/3-1))
	}
}
