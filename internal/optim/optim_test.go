package optim

import (
	"math"
	"testing"
)

// TestAdamWMatchesFormula checks two steps against the update written out
// by hand in float64.
func TestAdamWMatchesFormula(t *testing.T) {
	p := []Param{{Name: "w", Value: []float32{1, -2}, Grad: []float32{0.5, -0.25}}}
	o := NewAdamW(0.1)
	lr := 0.01
	// Reference, float64.
	val := []float64{1, -2}
	m, v := []float64{0, 0}, []float64{0, 0}
	grads := [][]float64{{0.5, -0.25}, {-0.1, 0.3}}
	for step := 1; step <= 2; step++ {
		for j := range p[0].Grad {
			p[0].Grad[j] = float32(grads[step-1][j])
		}
		if err := o.Step(p, lr); err != nil {
			t.Fatal(err)
		}
		for j := range val {
			g := grads[step-1][j]
			m[j] = 0.9*m[j] + 0.1*g
			v[j] = 0.95*v[j] + 0.05*g*g
			mh := m[j] / (1 - math.Pow(0.9, float64(step)))
			vh := v[j] / (1 - math.Pow(0.95, float64(step)))
			val[j] -= lr * (mh/(math.Sqrt(vh)+1e-8) + 0.1*val[j])
		}
	}
	for j := range val {
		if d := math.Abs(float64(p[0].Value[j]) - val[j]); d > 1e-6 {
			t.Errorf("value %d: %v, want %v", j, p[0].Value[j], val[j])
		}
	}
	if o.Steps() != 2 {
		t.Errorf("steps %d", o.Steps())
	}
	// Resume from a saved state: the next step must be the same.
	step, mom := o.State(p)
	o2 := NewAdamW(0.1)
	if err := o2.SetState(p, step, mom); err != nil {
		t.Fatal(err)
	}
	q := []Param{{Name: "w", Value: append([]float32(nil), p[0].Value...), Grad: []float32{0.2, 0.2}}}
	p[0].Grad = []float32{0.2, 0.2}
	o.Step(p, lr)
	o2.Step(q, lr)
	for j := range p[0].Value {
		if p[0].Value[j] != q[0].Value[j] {
			t.Errorf("resumed optimizer diverged at %d: %v vs %v", j, p[0].Value[j], q[0].Value[j])
		}
	}
	if err := o2.SetState([]Param{{Name: "x", Value: []float32{1}}}, 1, mom); err == nil {
		t.Error("SetState accepted a state without the parameter")
	}
}

func TestClipGlobalNorm(t *testing.T) {
	p := []Param{{Name: "a", Grad: []float32{3, 0}, Value: make([]float32, 2)}, {Name: "b", Grad: []float32{4}, Value: make([]float32, 1)}}
	if n := ClipGlobalNorm(p, 1); math.Abs(n-5) > 1e-12 {
		t.Fatalf("norm %v, want 5", n)
	}
	if n := GlobalNorm(p); math.Abs(n-1) > 1e-6 {
		t.Errorf("after clipping the norm is %v, want 1", n)
	}
	if p[0].Grad[0] != 0.6 || p[1].Grad[0] != 0.8 {
		t.Errorf("clipped grads %v %v", p[0].Grad, p[1].Grad)
	}
	ClipGlobalNorm(p, 10) // below the bound: unchanged
	if p[1].Grad[0] != 0.8 {
		t.Error("clipping changed a gradient under the bound")
	}
	ZeroGrads(p)
	if GlobalNorm(p) != 0 {
		t.Error("ZeroGrads")
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{Peak: 1.5e-4, End: 3e-5, Warmup: 10, Total: 110}
	cases := []struct {
		t    int
		want float64
	}{
		{0, 1.5e-5}, {4, 7.5e-5}, {9, 1.5e-4}, {10, 1.5e-4},
		{60, 3e-5 + (1.5e-4-3e-5)*0.5}, {110, 3e-5}, {1000, 3e-5},
	}
	for _, c := range cases {
		if got := s.LR(c.t); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("LR(%d) = %g, want %g", c.t, got, c.want)
		}
	}
	for i := 10; i < 110; i++ {
		if s.LR(i+1) > s.LR(i) {
			t.Fatalf("LR rises after warmup at %d", i)
		}
	}
}
