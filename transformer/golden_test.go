package transformer

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvm-go/lvm/internal/half"
	"github.com/lvm-go/lvm/internal/weights"
)

// TestGoldenLogits checks the logits of one prefill over prompt+target
// (768 tokens, three prefill chunks) against the reference: within 2e-3
// absolute at the listed positions, and the argmax equal at every position.
func TestGoldenLogits(t *testing.T) {
	g := readGolden(t)
	m := loadGoldenModel(t)
	v := m.Config().VocabSize
	seq := g.sequence()
	all, err := m.PrefillAll(context.Background(), m.NewState(), seq)
	if err != nil {
		t.Fatal(err)
	}
	if s := all.Shape(); len(s) != 2 || s[0] != len(seq) || s[1] != v {
		t.Fatalf("PrefillAll shape %v, want [%d %d]", s, len(seq), v)
	}
	logits := all.Data().([]float32)
	var worstAbs, worstRel float64
	for i, p := range g.LogitsPositions {
		got := logits[p*v : (p+1)*v]
		want := g.Logits[i*v : (i+1)*v]
		a, r := maxAbsRel(got, want)
		t.Logf("position %3d: max abs err %.3g, max rel err %.3g", p, a, r)
		worstAbs, worstRel = max(worstAbs, a), max(worstRel, r)
	}
	t.Logf("logits at %d positions: max abs err %.3g, max rel err %.3g (tolerance 2e-3 abs)", len(g.LogitsPositions), worstAbs, worstRel)
	if worstAbs > 2e-3 {
		t.Errorf("max abs logit error %g > 2e-3", worstAbs)
	}
	bad := 0
	for p, want := range g.LogitsArgmax {
		if got := argmax(logits[p*v : (p+1)*v]); got != want {
			if bad < 5 {
				t.Errorf("position %d: argmax %d, want %d", p, got, want)
			}
			bad++
		}
	}
	t.Logf("argmax equal at %d of %d positions", len(g.LogitsArgmax)-bad, len(g.LogitsArgmax))
}

// TestGoldenPerplexity checks Perplexity against the reference within 1e-4
// relative.
func TestGoldenPerplexity(t *testing.T) {
	g := readGolden(t)
	m := loadGoldenModel(t)
	ppl, err := m.Perplexity(context.Background(), g.Prompt, g.Target)
	if err != nil {
		t.Fatal(err)
	}
	rel := math.Abs(ppl-g.Perplexity) / g.Perplexity
	t.Logf("perplexity %.6f, reference %.6f, rel err %.3g (tolerance 1e-4)", ppl, g.Perplexity, rel)
	if rel > 1e-4 {
		t.Errorf("perplexity %v, want %v (rel err %g)", ppl, g.Perplexity, rel)
	}
	mean, err := m.MeanPerplexity(context.Background(), []Example{{g.Prompt, g.Target}, {g.Prompt, g.Target}})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(mean-ppl) > 1e-9*ppl {
		t.Errorf("MeanPerplexity of two copies %v, want %v", mean, ppl)
	}
}

// greedy prefills prompt into st then decodes n tokens by argmax over the
// first codebook ids (REFERENCE §4: ids ≥ 8192 suppressed). It returns the
// tokens and the smallest top-1/top-2 gap seen.
func greedy(t testing.TB, m *Model, st *State, prompt []int, n, codebook int) ([]int, float32) {
	t.Helper()
	ctx := context.Background()
	if err := m.Prefill(ctx, st, prompt); err != nil {
		t.Fatal(err)
	}
	out := make([]int, 0, n)
	minGap := float32(math.Inf(1))
	for i := 0; i < n; i++ {
		id, gap := top2(st.LastLogits(), codebook)
		minGap = min(minGap, gap)
		out = append(out, id)
		if i == n-1 {
			break
		}
		if err := m.Decode(ctx, st, id); err != nil {
			t.Fatal(err)
		}
	}
	return out, minGap
}

// TestGoldenGreedy checks greedy_256 token for token, computed with the KV
// cache (one prefill of the prompt, then 255 decode steps).
func TestGoldenGreedy(t *testing.T) {
	g := readGolden(t)
	m := loadGoldenModel(t)
	got, gap := greedy(t, m, m.NewState(), g.Prompt, len(g.Greedy), LVMCodebookSize)
	bad := 0
	for i := range g.Greedy {
		if got[i] != g.Greedy[i] {
			if bad < 5 {
				t.Errorf("greedy step %d: %d, want %d (reference gap %.4g)", i, got[i], g.Greedy[i], g.GreedyMargins[i])
			}
			bad++
		}
	}
	t.Logf("greedy: %d of %d tokens equal; smallest top-1/top-2 gap %.4g", len(g.Greedy)-bad, len(g.Greedy), gap)
}

// TestCacheConsistency checks that logits from one prefill equal those of
// token-by-token decoding and of uneven prefill blocks within 1e-4, and
// that a cloned state continues exactly like the original.
func TestCacheConsistency(t *testing.T) {
	g := readGolden(t)
	m := loadGoldenModel(t)
	ctx := context.Background()
	v := m.Config().VocabSize
	seq := g.Prompt[:300] // crosses a prefill chunk boundary (256)
	allT, err := m.PrefillAll(ctx, m.NewState(), seq)
	if err != nil {
		t.Fatal(err)
	}
	all := allT.Data().([]float32)

	cases := []struct {
		name   string
		blocks []int // block sizes; 1 means Decode
	}{
		{"decode each", nil},
		{"blocks 1,7,64,100,128", []int{1, 7, 64, 100, 128}},
		{"block 299 then 1", []int{299, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := m.NewStateCap(len(seq))
			var worst float64
			pos := 0
			for pos < len(seq) {
				n := 1
				if len(tc.blocks) > 0 {
					n, tc.blocks = tc.blocks[0], tc.blocks[1:]
				}
				if n == 1 {
					err = m.Decode(ctx, st, seq[pos])
				} else {
					err = m.Prefill(ctx, st, seq[pos:pos+n])
				}
				if err != nil {
					t.Fatal(err)
				}
				pos += n
				if st.Len() != pos {
					t.Fatalf("Len %d, want %d", st.Len(), pos)
				}
				a, _ := maxAbsRel(st.LastLogits(), all[(pos-1)*v:pos*v])
				worst = max(worst, a)
			}
			t.Logf("%s: max abs diff to one prefill %.3g (tolerance 1e-4)", tc.name, worst)
			if worst > 1e-4 {
				t.Errorf("max abs diff %g > 1e-4", worst)
			}
		})
	}

	t.Run("clone", func(t *testing.T) {
		orig := m.NewState()
		if err := m.Prefill(ctx, orig, seq[:200]); err != nil {
			t.Fatal(err)
		}
		cl := orig.Clone()
		if cl.Len() != orig.Len() || !equal(cl.LastLogits(), orig.LastLogits()) {
			t.Fatal("clone differs from original before any step")
		}
		// Diverge the clone, then rewind it by cloning again.
		if err := m.Decode(ctx, cl, 5); err != nil {
			t.Fatal(err)
		}
		cl2 := orig.Clone()
		for i, tok := range seq[200:240] {
			if err := m.Decode(ctx, orig, tok); err != nil {
				t.Fatal(err)
			}
			if err := m.Decode(ctx, cl2, tok); err != nil {
				t.Fatal(err)
			}
			if !equal(orig.LastLogits(), cl2.LastLogits()) {
				t.Fatalf("step %d: clone logits differ from the original's", i)
			}
		}
		a, _ := maxAbsRel(orig.LastLogits(), all[239*v:240*v])
		t.Logf("clone: 40 steps bit-identical to the original; diff to one prefill %.3g", a)
		orig.Reset()
		if orig.Len() != 0 || orig.LastLogits() != nil {
			t.Fatal("Reset left tokens or logits")
		}
		if err := m.Prefill(ctx, orig, seq[:240]); err != nil {
			t.Fatal(err)
		}
		a, _ = maxAbsRel(orig.LastLogits(), all[239*v:240*v])
		if a > 1e-4 {
			t.Errorf("after Reset: max abs diff %g", a)
		}
	})
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// convertGolden writes the golden weights to dir/model.safetensors in dtype
// dt (values rounded through round first when non-nil) with its config.
func convertGolden(t *testing.T, dt weights.DType, round func(float32) float32) string {
	t.Helper()
	set, err := weights.Open(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var out []*weights.Tensor
	for _, name := range set.Names() {
		tn, err := set.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := tn.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if round != nil {
			for i := range vals {
				vals[i] = round(vals[i])
			}
		}
		out = append(out, encode(name, dt, tn.Shape, vals))
	}
	dir := t.TempDir()
	if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), out, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(goldenDir, "config.json"), filepath.Join(dir, "config.json"))
	return dir
}

// TestDTypes loads F32 and BF16 copies of the golden weights. The F32 copy
// holds the same values (fp16 widens exactly): argmax and perplexity equal
// the reference's. The BF16 copy rounds every weight (relative 2⁻⁹): its
// logits must equal, within float32 noise, those of an F32 file holding the
// same bf16-rounded values, and stay close to the reference.
func TestDTypes(t *testing.T) {
	g := readGolden(t)
	ctx := context.Background()
	seq := g.sequence()
	bfRound := func(x float32) float32 { return half.BF16ToF32(half.F32ToBF16(x)) }
	logitsOf := func(dir string) (*Model, []float32) {
		m, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		all, err := m.PrefillAll(ctx, m.NewState(), seq)
		if err != nil {
			t.Fatal(err)
		}
		return m, all.Data().([]float32)
	}
	argmaxAgree := func(logits []float32, v int) int {
		n := 0
		for p, want := range g.LogitsArgmax {
			if argmax(logits[p*v:(p+1)*v]) == want {
				n++
			}
		}
		return n
	}

	m32, l32 := logitsOf(convertGolden(t, weights.F32, nil))
	v := m32.Config().VocabSize
	ppl32, err := m32.Perplexity(ctx, g.Prompt, g.Target)
	if err != nil {
		t.Fatal(err)
	}
	rel := math.Abs(ppl32-g.Perplexity) / g.Perplexity
	agree := argmaxAgree(l32, v)
	t.Logf("F32 copy: argmax %d/%d, perplexity %.6f rel err %.3g", agree, len(g.LogitsArgmax), ppl32, rel)
	if agree != len(g.LogitsArgmax) || rel > 1e-4 {
		t.Errorf("F32 copy: argmax %d/%d, perplexity rel err %g", agree, len(g.LogitsArgmax), rel)
	}

	mbf, lbf := logitsOf(convertGolden(t, weights.BF16, nil))
	_, lbf32 := logitsOf(convertGolden(t, weights.F32, bfRound))
	a, _ := maxAbsRel(lbf, lbf32)
	agree = 0
	for p := range seq {
		if argmax(lbf[p*v:(p+1)*v]) == argmax(lbf32[p*v:(p+1)*v]) {
			agree++
		}
	}
	t.Logf("BF16 file vs F32 file of the same bf16-rounded values: max abs diff %.3g, argmax %d/%d", a, agree, len(seq))
	if a > 1e-4 || agree != len(seq) {
		t.Errorf("BF16 vs F32 of same values: max abs %g, argmax %d/%d", a, agree, len(seq))
	}
	pplbf, err := mbf.Perplexity(ctx, g.Prompt, g.Target)
	if err != nil {
		t.Fatal(err)
	}
	rel = math.Abs(pplbf-g.Perplexity) / g.Perplexity
	var worst float64
	for i, p := range g.LogitsPositions {
		a, _ := maxAbsRel(lbf[p*v:(p+1)*v], g.Logits[i*v:(i+1)*v])
		worst = max(worst, a)
	}
	// Over all positions, against the F32 copy (equal to the reference
	// within 2e-5): the RMS of the change relative to the RMS logit, and the
	// argmax wherever the F32 top-1/top-2 gap exceeds twice the largest change.
	var d2, l2, maxd float64
	for i := range l32 {
		d := float64(lbf[i]) - float64(l32[i])
		d2 += d * d
		l2 += float64(l32[i]) * float64(l32[i])
		maxd = max(maxd, math.Abs(d))
	}
	relRMS := math.Sqrt(d2 / l2)
	clear, flips, agree := 0, 0, argmaxAgree(lbf, v)
	for p := range seq {
		want, gap := top2(l32[p*v:(p+1)*v], v)
		if float64(gap) > 2*maxd {
			clear++
			if argmax(lbf[p*v:(p+1)*v]) != want {
				flips++
			}
		}
	}
	t.Logf("BF16 copy vs reference: logits max abs err %.3g at the listed positions, relative RMS change %.3g (bf16 unit roundoff 2⁻⁸ = %.3g), argmax %d/%d, perplexity %.6f rel err %.3g",
		worst, relRMS, 1.0/256, agree, len(g.LogitsArgmax), pplbf, rel)
	t.Logf("BF16 copy: %d argmax flips among the %d positions whose gap exceeds 2×%.3g", flips, clear, maxd)
	// Rounding errors of ~u/√3 in every weight compound through the two
	// random layers (sharp softmaxes amplify them): allow a few percent.
	if relRMS > 0.05 || rel > 5e-3 || flips > 0 {
		t.Errorf("BF16 copy too far from the reference: relative RMS %g, perplexity rel %g, %d clear-gap argmax flips", relRMS, rel, flips)
	}
}

// TestDecodeBatch checks that decoding K states together gives each the
// logits a separate Decode gives it (states of different lengths, several
// steps), and that its errors name the state.
func TestDecodeBatch(t *testing.T) {
	g := readGolden(t)
	m := loadGoldenModel(t)
	ctx := context.Background()
	base := m.NewState()
	if err := m.Prefill(ctx, base, g.Prompt[:100]); err != nil {
		t.Fatal(err)
	}
	short := m.NewStateCap(64)
	if err := m.Prefill(ctx, short, g.Prompt[200:230]); err != nil {
		t.Fatal(err)
	}
	batch := []*State{base.Clone(), base.Clone(), short.Clone(), base.Clone()}
	single := []*State{base.Clone(), base.Clone(), short.Clone(), base.Clone()}
	var worst float64
	bitwise := true
	for step := 0; step < 12; step++ {
		toks := []int{g.Target[step], g.Target[step+20], g.Target[step+40], 8200 + step}
		if err := m.DecodeBatch(ctx, batch, toks); err != nil {
			t.Fatal(err)
		}
		for i, st := range single {
			if err := m.Decode(ctx, st, toks[i]); err != nil {
				t.Fatal(err)
			}
			if batch[i].Len() != st.Len() {
				t.Fatalf("state %d: Len %d, want %d", i, batch[i].Len(), st.Len())
			}
			a, _ := maxAbsRel(batch[i].LastLogits(), st.LastLogits())
			worst = max(worst, a)
			bitwise = bitwise && equal(batch[i].LastLogits(), st.LastLogits())
		}
	}
	t.Logf("DecodeBatch of 4 states × 12 steps vs Decode: max abs diff %.3g, bit-identical %v", worst, bitwise)
	if worst > 1e-5 {
		t.Errorf("max abs diff %g > 1e-5", worst)
	}

	cases := []struct {
		name   string
		states []*State
		toks   []int
		msg    string
	}{
		{"length mismatch", batch[:2], []int{1}, "2 states but 1 tokens"},
		{"empty", nil, nil, "no states"},
		{"same state twice", []*State{batch[0], batch[1], batch[0]}, []int{1, 2, 3}, "states 0 and 2"},
		{"bad token", batch[:2], []int{1, 9000}, "state 1: transformer: token id out of range: token 9000"},
		{"nil state", []*State{batch[0], nil}, []int{1, 2}, "state 1"},
	}
	for _, tc := range cases {
		lens := []int{batch[0].Len(), batch[1].Len()}
		err := m.DecodeBatch(ctx, tc.states, tc.toks)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.msg)
		}
		if batch[0].Len() != lens[0] || batch[1].Len() != lens[1] {
			t.Errorf("%s: a rejected batch changed the states", tc.name)
		}
	}
}
