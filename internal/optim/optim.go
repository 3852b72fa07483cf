// Package optim holds what both training stages share: the AdamW optimizer
// of the official recipe, global-norm gradient clipping and the warmup +
// cosine learning-rate schedule (REFERENCE §5).
package optim

import (
	"fmt"
	"math"
)

// Param is one trainable tensor: its values and the gradient accumulated
// for them, both of the same length. Grad is read by Step, never cleared by
// it: zero it (ZeroGrads) before accumulating the next step's gradient.
type Param struct {
	Name  string
	Value []float32
	Grad  []float32
}

// ZeroGrads sets every gradient to 0.
func ZeroGrads(params []Param) {
	for _, p := range params {
		clear(p.Grad)
	}
}

// GlobalNorm is the L2 norm of all gradients together, accumulated in
// float64.
func GlobalNorm(params []Param) float64 {
	var s float64
	for _, p := range params {
		for _, g := range p.Grad {
			s += float64(g) * float64(g)
		}
	}
	return math.Sqrt(s)
}

// ClipGlobalNorm scales all gradients by maxNorm/norm when their global
// norm exceeds maxNorm (optax.clip_by_global_norm) and returns the norm
// before clipping. maxNorm <= 0 disables clipping.
func ClipGlobalNorm(params []Param, maxNorm float64) float64 {
	norm := GlobalNorm(params)
	if maxNorm > 0 && norm > maxNorm {
		s := float32(maxNorm / norm)
		for _, p := range params {
			for i := range p.Grad {
				p.Grad[i] *= s
			}
		}
	}
	return norm
}

// AdamW is Adam with decoupled weight decay, as optax.adamw (the official
// trainer) computes it:
//
//	m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//	p ← p − lr·( m/(1−β1ᵗ) / (√(v/(1−β2ᵗ)) + ε) + wd·p )
//
// The moments are float32, one pair per parameter, allocated on the first
// Step. An AdamW is bound to the parameter list it first sees.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64

	step int
	m, v [][]float32
}

// NewAdamW returns the official settings: β = (0.9, 0.95), ε = 1e-8 and the
// given weight decay (0.1 in the recipe).
func NewAdamW(weightDecay float64) *AdamW {
	return &AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: weightDecay}
}

// Steps is the number of updates applied so far.
func (o *AdamW) Steps() int { return o.step }

// Step applies one update with learning rate lr to params, using their
// Grad. params must be the same list (same order and lengths) every call.
func (o *AdamW) Step(params []Param, lr float64) error {
	if o.m == nil {
		o.m = make([][]float32, len(params))
		o.v = make([][]float32, len(params))
		for i, p := range params {
			o.m[i] = make([]float32, len(p.Value))
			o.v[i] = make([]float32, len(p.Value))
		}
	}
	if len(params) != len(o.m) {
		return fmt.Errorf("optim: AdamW has state for %d parameters, got %d", len(o.m), len(params))
	}
	o.step++
	b1, b2 := o.Beta1, o.Beta2
	c1 := 1 - math.Pow(b1, float64(o.step))
	c2 := 1 - math.Pow(b2, float64(o.step))
	for i, p := range params {
		m, v := o.m[i], o.v[i]
		if len(m) != len(p.Value) || len(p.Grad) != len(p.Value) {
			return fmt.Errorf("optim: parameter %s: %d values, %d grads, state for %d", p.Name, len(p.Value), len(p.Grad), len(m))
		}
		for j, g := range p.Grad {
			gm := float64(g)
			mj := b1*float64(m[j]) + (1-b1)*gm
			vj := b2*float64(v[j]) + (1-b2)*gm*gm
			m[j], v[j] = float32(mj), float32(vj)
			upd := (mj/c1)/(math.Sqrt(vj/c2)+o.Eps) + o.WeightDecay*float64(p.Value[j])
			p.Value[j] = float32(float64(p.Value[j]) - lr*upd)
		}
	}
	return nil
}

// State returns the optimizer state for a checkpoint: the step count and,
// per parameter name, the two moments (aliasing the optimizer's buffers).
func (o *AdamW) State(params []Param) (step int, moments map[string][2][]float32) {
	moments = make(map[string][2][]float32, len(o.m))
	for i := range o.m {
		moments[params[i].Name] = [2][]float32{o.m[i], o.v[i]}
	}
	return o.step, moments
}

// SetState restores a state saved by State for the same parameter list.
func (o *AdamW) SetState(params []Param, step int, moments map[string][2][]float32) error {
	o.m = make([][]float32, len(params))
	o.v = make([][]float32, len(params))
	for i, p := range params {
		mv, ok := moments[p.Name]
		if !ok {
			return fmt.Errorf("optim: no optimizer state for parameter %s", p.Name)
		}
		if len(mv[0]) != len(p.Value) || len(mv[1]) != len(p.Value) {
			return fmt.Errorf("optim: state of %s has %d/%d values, the parameter %d", p.Name, len(mv[0]), len(mv[1]), len(p.Value))
		}
		o.m[i] = append([]float32(nil), mv[0]...)
		o.v[i] = append([]float32(nil), mv[1]...)
	}
	o.step = step
	return nil
}

// Schedule is linear warmup from 0 to Peak over Warmup steps, then cosine
// decay from Peak to End at step Total (and End after it), as the official
// recipe (warmup 8000 steps to 1.5e-4, cosine to 3e-5).
type Schedule struct {
	Peak, End     float64
	Warmup, Total int
}

// LR returns the learning rate of step t (counting from 0).
func (s Schedule) LR(t int) float64 {
	if t < s.Warmup {
		return s.Peak * float64(t+1) / float64(s.Warmup)
	}
	if t >= s.Total || s.Total <= s.Warmup {
		return s.End
	}
	frac := float64(t-s.Warmup) / float64(s.Total-s.Warmup)
	return s.End + (s.Peak-s.End)*0.5*(1+math.Cos(math.Pi*frac))
}
