package transformer

import (
	"math"
	"testing"
)

// TestExpf checks expf against math.Exp rounded to float32 over the whole
// normal range: at most 1 ulp apart.
func TestExpf(t *testing.T) {
	worst := 0.0
	for x := float32(-87.3); x < 88.7; x += 0.00731 {
		got := expf(x)
		want := float32(math.Exp(float64(x)))
		ulp := float64(math.Nextafter32(want, float32(math.Inf(1))) - want)
		e := math.Abs(float64(got)-float64(want)) / ulp
		worst = max(worst, e)
	}
	t.Logf("expf: max error %.2f ulp over [-87.3, 88.7]", worst)
	if worst > 1 {
		t.Errorf("expf error %.2f ulp > 1", worst)
	}
	for _, tc := range []struct{ x, want float32 }{
		{0, 1}, {-100, 0}, {100, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0},
	} {
		if got := expf(tc.x); got != tc.want {
			t.Errorf("expf(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	if nan := expf(float32(math.NaN())); nan == nan {
		t.Error("expf(NaN) is not NaN")
	}
}

func TestSoftmaxScaled(t *testing.T) {
	x := []float32{1, 2, 3, 1000}
	softmaxScaled(x[:3], 0.5)
	var want [3]float64
	var sum float64
	for i, v := range []float64{0.5, 1, 1.5} {
		want[i] = math.Exp(v)
		sum += want[i]
	}
	for i := range want {
		if d := math.Abs(float64(x[i]) - want[i]/sum); d > 1e-7 {
			t.Errorf("softmax[%d] = %v, want %v", i, x[i], want[i]/sum)
		}
	}
	if x[3] != 1000 {
		t.Error("softmaxScaled wrote past its slice")
	}
}
