package lvm

import (
	"context"
	"fmt"
	"testing"

	"github.com/lvm-go/lvm/sampling"
)

// BenchmarkGenerateCandidates generates one image for K candidates of an
// 8-image prompt on the golden models. prefills/op stays 1 for every K: the
// candidates share the prompt's prefill and then decode together, so the
// cost grows far slower than K.
//
//	go test -run '^$' -bench GenerateCandidates .
func BenchmarkGenerateCandidates(b *testing.B) {
	p := goldenPipeline(b)
	prompt := promptOf(b, p, 8)
	for _, k := range []int{1, 4} {
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			prefills := 0
			q := *p
			q.prefills = func() { prefills++ }
			opts := Options{Candidates: k, Sampling: sampling.Default()}
			for b.Loop() {
				if _, err := q.GenerateTokens(context.Background(), prompt, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(prefills)/float64(b.N), "prefills/op")
			b.ReportMetric(float64(k*p.tok.TokensPerImage()*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
