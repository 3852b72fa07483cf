package sampling

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func randomLogits(r *rand.Rand, v int, scale float64) []float32 {
	l := make([]float32, v)
	for i := range l {
		l[i] = float32(r.NormFloat64() * scale)
	}
	return l
}

func TestGreedyEquivalents(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	greedy, _ := New(GreedyConfig())
	for trial := 0; trial < 200; trial++ {
		logits := randomLogits(r, 8292, 3)
		// Make a reserved id the global maximum: it must never win.
		logits[8192+trial%100] = 100
		want, err := greedy.Sample(logits)
		if err != nil {
			t.Fatal(err)
		}
		if want >= 8192 {
			t.Fatalf("greedy produced reserved id %d", want)
		}
		if a := Argmax(logits, 8192, math.MaxInt); a != want {
			t.Fatalf("Argmax = %d, greedy sampler = %d", a, want)
		}
		for _, cfg := range []Config{
			{Temperature: 1, TopK: 1, TopP: 1, SuppressFrom: 8192, SuppressTo: math.MaxInt, Seed: uint64(trial)},
			{Temperature: 0.7, TopK: 0, TopP: 1e-9, SuppressFrom: 8192, SuppressTo: math.MaxInt, Seed: uint64(trial)},
			{Temperature: 1.3, TopK: 50, TopP: 1e-6, SuppressFrom: 8192, SuppressTo: math.MaxInt, Seed: uint64(trial)},
		} {
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Sample(logits)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("trial %d %+v: got %d, greedy %d", trial, cfg, got, want)
			}
		}
	}
}

func TestSuppressedNeverDrawn(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s, _ := New(Config{Temperature: 5, TopK: 0, TopP: 1, SuppressFrom: 10, SuppressTo: 20, Seed: 9})
	logits := randomLogits(r, 30, 0.1)
	for i := 10; i < 20; i++ {
		logits[i] = 50 // overwhelmingly likely if not suppressed
	}
	for i := 0; i < 20000; i++ {
		id, err := s.Sample(logits)
		if err != nil {
			t.Fatal(err)
		}
		if id >= 10 && id < 20 {
			t.Fatalf("draw %d: suppressed id %d", i, id)
		}
	}
}

// referenceDistribution computes the filtered softmax the way Hugging Face's
// warpers do (temperature, top-k by threshold, top-p on ascending cumulative
// sums), independently of Sampler.
func referenceDistribution(logits []float32, cfg Config) []float64 {
	v := make([]float64, len(logits))
	for i, l := range logits {
		if i >= cfg.SuppressFrom && i < cfg.SuppressTo {
			v[i] = math.Inf(-1)
			continue
		}
		v[i] = float64(l / float32(cfg.Temperature))
	}
	if cfg.TopK > 0 && cfg.TopK < len(v) {
		s := append([]float64(nil), v...)
		sort.Sort(sort.Reverse(sort.Float64Slice(s)))
		kth := s[cfg.TopK-1]
		for i := range v {
			if v[i] < kth {
				v[i] = math.Inf(-1)
			}
		}
	}
	softmax := func(v []float64) []float64 {
		m := math.Inf(-1)
		for _, x := range v {
			m = math.Max(m, x)
		}
		p := make([]float64, len(v))
		var sum float64
		for i, x := range v {
			p[i] = math.Exp(x - m)
			sum += p[i]
		}
		for i := range p {
			p[i] /= sum
		}
		return p
	}
	if cfg.TopP < 1 {
		p := softmax(v)
		idx := make([]int, len(p))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
		var cum float64
		for n, i := range idx {
			cum += p[i]
			if cum <= 1-cfg.TopP && n < len(idx)-1 {
				v[i] = math.Inf(-1)
			}
		}
	}
	return softmax(v)
}

// TestFrequenciesMatchFilteredSoftmax draws many ids with a fixed seed and
// checks Pearson's chi-square statistic against the independently computed
// distribution. The seed is fixed, so the test cannot flake; the bound is
// the 0.999 quantile of the chi-square distribution, so a correct sampler
// passes for almost every seed and a wrong filter fails by orders of
// magnitude.
func TestFrequenciesMatchFilteredSoftmax(t *testing.T) {
	logits := []float32{2.0, 1.5, 1.4, 0.3, -0.2, 1.1, 0.9, -1, 3, 0.5, 0.0, 1.45}
	// 0.999 quantiles of chi-square by degrees of freedom.
	crit := map[int]float64{1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32, 8: 26.12, 9: 27.88, 10: 29.59}
	cases := []Config{
		{Temperature: 1, TopK: 0, TopP: 1, SuppressFrom: 8, SuppressTo: 9},
		{Temperature: 0.7, TopK: 6, TopP: 1, SuppressFrom: 8, SuppressTo: 9},
		{Temperature: 1.5, TopK: 0, TopP: 0.8, SuppressFrom: 8, SuppressTo: 9},
		{Temperature: 1, TopK: 5, TopP: 0.9, SuppressFrom: 0, SuppressTo: 0},
	}
	const draws = 200000
	for ci, cfg := range cases {
		cfg.Seed = uint64(100 + ci)
		want := referenceDistribution(logits, cfg)
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		count := make([]int, len(logits))
		for i := 0; i < draws; i++ {
			id, err := s.Sample(logits)
			if err != nil {
				t.Fatal(err)
			}
			count[id]++
		}
		var chi2 float64
		df := -1
		for id, p := range want {
			if p == 0 {
				if count[id] != 0 {
					t.Fatalf("case %d: id %d has probability 0 but was drawn %d times", ci, id, count[id])
				}
				continue
			}
			df++
			e := p * draws
			chi2 += (float64(count[id]) - e) * (float64(count[id]) - e) / e
		}
		t.Logf("case %d %+v: %d ids kept, chi-square %.2f (df %d, 0.999 bound %.2f)", ci, cfg, df+1, chi2, df, crit[df])
		if bound, ok := crit[df]; !ok || chi2 > bound {
			t.Errorf("case %d: chi-square %.2f exceeds %.2f (df %d)", ci, chi2, bound, df)
		}
	}
}

func TestDeterministicForSeed(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	logits := randomLogits(r, 8292, 2)
	run := func(seed uint64) []int {
		cfg := Default()
		cfg.Seed = seed
		s, _ := New(cfg)
		out := make([]int, 64)
		for i := range out {
			out[i], _ = s.Sample(logits)
		}
		return out
	}
	a, b, c := run(42), run(42), run(43)
	same := func(x, y []int) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Fatal("same seed gave different draws")
	}
	if same(a, c) {
		t.Fatal("different seeds gave identical draws")
	}
	s, _ := New(Default())
	s.Reseed(42)
	for i := range a {
		if id, _ := s.Sample(logits); id != a[i] {
			t.Fatalf("after Reseed(42), draw %d = %d, want %d", i, id, a[i])
		}
	}
}

func TestErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Temperature: 0, TopP: 1}, {Temperature: -1, TopP: 1}, {Temperature: math.NaN(), TopP: 1},
		{Temperature: 1, TopK: -1, TopP: 1}, {Temperature: 1, TopP: 0}, {Temperature: 1, TopP: 1.5},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted an invalid config", cfg)
		}
	}
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	for _, cfg := range []Config{Default(), GreedyConfig()} {
		s, _ := New(cfg)
		if _, err := s.Sample([]float32{nan, inf, nan}); err != ErrNoCandidate {
			t.Errorf("all NaN/-Inf: err = %v", err)
		}
		if _, err := s.Sample(nil); err != ErrNoCandidate {
			t.Errorf("empty logits: err = %v", err)
		}
		l := make([]float32, 8200)
		l[8195] = 1
		for i := 0; i < 8192; i++ {
			l[i] = inf
		}
		if _, err := s.Sample(l); err != ErrNoCandidate {
			t.Errorf("only reserved ids finite: err = %v", err)
		}
		// A NaN next to valid logits is skipped, not drawn.
		l = []float32{nan, 1, 2}
		if id, err := s.Sample(l); err != nil || id == 0 {
			t.Errorf("NaN logit: id %d err %v", id, err)
		}
	}
}

func TestSampleDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	logits := randomLogits(r, 8292, 2)
	cfg := Default()
	cfg.TopP = 0.9
	s, _ := New(cfg)
	s.Sample(logits) // warm-up sizes the scratch buffers
	if n := testing.AllocsPerRun(100, func() { s.Sample(logits) }); n != 0 {
		t.Errorf("Sample allocates %.1f times per call", n)
	}
}

func TestExp(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var worst float64
	for i := 0; i < 200000; i++ {
		x := -r.Float64() * 740
		if i%2 == 0 {
			x = -r.Float64() * 20
		}
		got, want := Exp(x), math.Exp(x)
		if want < 2.3e-308 { // subnormal results: compare absolutely
			if math.Abs(got-want) > 1e-321 {
				t.Fatalf("Exp(%v) = %v, want %v", x, got, want)
			}
			continue
		}
		rel := math.Abs(got-want) / want
		worst = math.Max(worst, rel)
	}
	t.Logf("Exp: worst relative error vs math.Exp %.3g over 200000 points in [-740, 0]", worst)
	if worst > 4.5e-16 {
		t.Errorf("Exp relative error %.3g > 2 ulp", worst)
	}
	for _, c := range []struct{ x, want float64 }{{0, 1}, {math.Inf(-1), 0}, {-800, 0}} {
		if got := Exp(c.x); got != c.want {
			t.Errorf("Exp(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

func BenchmarkSampleDefault(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	logits := randomLogits(r, 8292, 2)
	s, _ := New(Default())
	for b.Loop() {
		s.Sample(logits)
	}
}
