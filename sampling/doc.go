// Package sampling chooses the next token from a vector of logits, the last
// step of the LVM data path (logits → next id).
//
// A Sampler applies the official LVM order of operations (REFERENCE §4):
//
//	suppress → temperature → top-k → top-p → softmax → draw
//
// with the official defaults: temperature 1, top-k 50, top-p 1, and the 100
// reserved ids ≥ 8192 suppressed so that every sampled id is a VQ code the
// tokenizer can decode. Greedy mode takes the arg-max of the unsuppressed
// logits instead.
//
// The package knows nothing of models: it works on a []float32 of V logits,
// so it can drive any next-token model. Draws come from a seeded PCG
// generator and a platform-independent exponential, so a given seed gives
// the same tokens on every machine.
package sampling
