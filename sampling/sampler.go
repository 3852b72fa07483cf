package sampling

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Config selects how a Sampler turns logits into a token id.
//
// The zero Config is not the official default: start from Default().
type Config struct {
	// Greedy takes the arg-max of the unsuppressed logits (lowest id on
	// ties) and ignores the other fields but the suppressed range.
	Greedy bool
	// Temperature divides the logits before filtering; it must be > 0.
	// 1 leaves them unchanged.
	Temperature float64
	// TopK keeps the K highest logits (and any tied with the K-th, as
	// Hugging Face does); 0 disables the filter.
	TopK int
	// TopP keeps the smallest set of most probable ids whose cumulative
	// probability reaches TopP (at least one id); 1 disables the filter.
	TopP float64
	// SuppressFrom and SuppressTo give the half-open range of ids that are
	// never produced (their logits are treated as −∞). An empty range
	// (SuppressTo <= SuppressFrom) suppresses nothing.
	SuppressFrom, SuppressTo int
	// Seed fixes the sequence of draws.
	Seed uint64
}

// CodebookSize is the number of VQ codes of the released LVM tokenizer; ids
// from it up to the vocabulary size are reserved and never sampled.
const CodebookSize = 8192

// Default returns the official LVM sampling settings: temperature 1, top-k
// 50, top-p 1, ids ≥ 8192 suppressed, seed 0.
func Default() Config {
	return Config{Temperature: 1, TopK: 50, TopP: 1, SuppressFrom: CodebookSize, SuppressTo: math.MaxInt}
}

// GreedyConfig returns the arg-max configuration with ids ≥ 8192 suppressed.
func GreedyConfig() Config {
	c := Default()
	c.Greedy = true
	return c
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	if c.Greedy {
		return nil
	}
	switch {
	case !(c.Temperature > 0) || math.IsInf(c.Temperature, 0):
		return fmt.Errorf("sampling: temperature %v must be a positive finite number", c.Temperature)
	case c.TopK < 0:
		return fmt.Errorf("sampling: top-k %d must be >= 0 (0 disables it)", c.TopK)
	case !(c.TopP > 0 && c.TopP <= 1):
		return fmt.Errorf("sampling: top-p %v must be in (0, 1]", c.TopP)
	}
	return nil
}

// ErrNoCandidate is returned when every logit is suppressed, −∞ or NaN.
var ErrNoCandidate = errors.New("sampling: no id can be drawn: all logits are suppressed, -Inf or NaN")

// Sampler draws token ids from logits. It owns scratch buffers and a random
// generator, so it is not safe for concurrent use: give each goroutine (or
// each candidate sequence) its own, made by New with a different seed.
type Sampler struct {
	cfg    Config
	rng    *rand.Rand
	pcg    *rand.PCG
	cand   []int     // candidate ids, reused across calls
	val    []float64 // their scaled logits, then probabilities
	heap   []float64 // min-heap of the k largest values, for top-k
	sorter byValue
}

// New returns a Sampler for cfg.
func New(cfg Config) (*Sampler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pcg := rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)
	return &Sampler{cfg: cfg, pcg: pcg, rng: rand.New(pcg)}, nil
}

// Config returns the sampler's configuration.
func (s *Sampler) Config() Config { return s.cfg }

// Reseed restarts the sampler's random sequence from seed.
func (s *Sampler) Reseed(seed uint64) {
	s.cfg.Seed = seed
	s.pcg.Seed(seed, seed^0x9e3779b97f4a7c15)
}

func (s *Sampler) suppressed(id int) bool {
	return id >= s.cfg.SuppressFrom && id < s.cfg.SuppressTo
}

// Sample returns the next id for logits (length V, left unchanged). It
// allocates only on the first call or when V grows.
func (s *Sampler) Sample(logits []float32) (int, error) {
	if s.cfg.Greedy {
		return s.argmax(logits)
	}
	// Gather the candidates: unsuppressed ids with a usable logit.
	s.cand = s.cand[:0]
	s.val = s.val[:0]
	temp := float32(s.cfg.Temperature)
	for id, l := range logits {
		if s.suppressed(id) || l != l || math.IsInf(float64(l), -1) {
			continue
		}
		if s.cfg.Temperature != 1 {
			l /= temp // Hugging Face divides in the logits' float32
		}
		v := float64(l)
		s.cand = append(s.cand, id)
		s.val = append(s.val, v)
	}
	if len(s.cand) == 0 {
		return 0, ErrNoCandidate
	}
	if k := s.cfg.TopK; k > 0 && k < len(s.cand) {
		// Keep every candidate at least as large as the k-th largest
		// (Hugging Face keeps ties with it too).
		kth := s.kthLargest(k)
		j := 0
		for i, v := range s.val {
			if v >= kth {
				s.cand[j], s.val[j] = s.cand[i], v
				j++
			}
		}
		s.cand, s.val = s.cand[:j], s.val[:j]
	}
	// Sort by descending logit, lowest id first among equals, so that the
	// order (and hence every draw) is a pure function of the logits.
	s.sorter = byValue{s.cand, s.val}
	sort.Sort(&s.sorter)
	n := len(s.cand)
	// Softmax over the survivors (max is val[0]).
	var sum float64
	m := s.val[0]
	for i := 0; i < n; i++ {
		e := Exp(s.val[i] - m)
		s.val[i] = e
		sum = float64(sum + e)
	}
	if s.cfg.TopP < 1 {
		var cum float64
		keep := n
		for i := 0; i < n; i++ {
			cum = float64(cum + s.val[i]/sum)
			if cum >= s.cfg.TopP {
				keep = i + 1
				break
			}
		}
		if keep < n {
			n = keep
			sum = 0
			for i := 0; i < n; i++ {
				sum = float64(sum + s.val[i])
			}
		}
	}
	u := s.rng.Float64() * sum
	var cum float64
	for i := 0; i < n; i++ {
		cum = float64(cum + s.val[i])
		if u < cum {
			return s.cand[i], nil
		}
	}
	return s.cand[n-1], nil // u landed on the rounding slack at the top
}

func (s *Sampler) argmax(logits []float32) (int, error) {
	best, bestID := float32(math.Inf(-1)), -1
	for id, l := range logits {
		if s.suppressed(id) || l != l {
			continue
		}
		if bestID < 0 || l > best {
			best, bestID = l, id
		}
	}
	if bestID < 0 || math.IsInf(float64(best), -1) {
		return 0, ErrNoCandidate
	}
	return bestID, nil
}

// Argmax returns the id of the largest logit outside the half-open range
// [suppressFrom, suppressTo), lowest id on ties, or -1 if there is none.
func Argmax(logits []float32, suppressFrom, suppressTo int) int {
	best, bestID := float32(0), -1
	for id, l := range logits {
		if (id >= suppressFrom && id < suppressTo) || l != l {
			continue
		}
		if bestID < 0 || l > best {
			best, bestID = l, id
		}
	}
	return bestID
}

// kthLargest returns the k-th largest of s.val (1 <= k < len(s.val)) with a
// min-heap of size k: O(V log k), no sort of the whole vocabulary.
func (s *Sampler) kthLargest(k int) float64 {
	h := append(s.heap[:0], s.val[:k]...)
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for _, v := range s.val[k:] {
		if v > h[0] {
			h[0] = v
			siftDown(h, 0)
		}
	}
	s.heap = h
	return h[0]
}

func siftDown(h []float64, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		if r := l + 1; r < len(h) && h[r] < h[l] {
			l = r
		}
		if h[i] <= h[l] {
			return
		}
		h[i], h[l] = h[l], h[i]
		i = l
	}
}

type byValue struct {
	id  []int
	val []float64
}

func (b byValue) Len() int { return len(b.id) }
func (b byValue) Less(i, j int) bool {
	if b.val[i] != b.val[j] {
		return b.val[i] > b.val[j]
	}
	return b.id[i] < b.id[j]
}
func (b byValue) Swap(i, j int) {
	b.id[i], b.id[j] = b.id[j], b.id[i]
	b.val[i], b.val[j] = b.val[j], b.val[i]
}
