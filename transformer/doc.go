// Package transformer is the LLaMA-architecture causal language model of
// the Large Vision Model: it loads Hugging Face LlamaForCausalLM checkpoints
// (the released LVM-7B and every size of the paper) and computes exactly
// what the reference computes, with a key-value cache for generation and
// the paper's perplexity metric.
//
// # Dimensions
//
// One set of names is used in every comment and shape of this package:
//
//	B   batch (independent sequences)
//	T   tokens processed by one call (a prefill block, or 1 when decoding)
//	S   tokens held by a state's cache (positions 0..S-1)
//	D   model width, hidden_size
//	I   MLP width, intermediate_size
//	V   vocabulary (8292 for LVM: ids 0..8191 are VQ codes, 8192.. reserved)
//	L   layers
//	H   query heads, KV key/value heads (KV = H unless grouped-query)
//	hd  head dimension (D/H unless the config says otherwise)
//
// # Model and state
//
// A [Model] is immutable after [Load] and safe for concurrent use by many
// goroutines. Each sequence being evaluated owns a [State]: its KV cache,
// its scratch buffers and its latest logits. A state is created with
// [Model.NewState], extended with [Model.Prefill] (a block of tokens at
// once, through matrix-matrix products) and [Model.Decode] (one token), and
// can be cloned ([State.Clone], so several candidates share one prompt's
// prefill, and one read-only copy of its cache) or reset;
// [Model.DecodeBatch] advances several states by one token each in a
// single pass over the weights (and over the cache they share). The
// cache is float32 by default; [Model.NewStateCache] with [CacheF16] halves
// its memory and traffic (a 7B state of 4096 tokens: 2 GiB instead of 4).
// The logits of the last
// token are a view owned by the state ([State.LastLogits], for samplers) or
// a [*tensor.Dense] copy ([State.Logits]); [Model.PrefillAll] returns those
// of every position, and [Model.Perplexity] is the paper's metric. A state
// must not be used by two goroutines at once.
//
// Weights stay in their file dtype (F32, F16 or BF16), aliasing the
// memory-mapped checkpoint; all arithmetic is float32 (RMSNorm statistics
// are accumulated in float64). LoadWith with Layout: LayoutTiled copies F16
// linear weights (up to 4 GiB) into the tiled layout of the decoding
// kernels (kernels.F16Matrix), with the same results bit for bit; its
// products stream faster alone, but end to end it did not pay on the
// reference machine, so it is not the default. LoadWith with
// Quantize: Q8 instead converts the linear weights to 8-bit blocks
// (llama.cpp's Q8_0) at load time and multiplies them with int8
// activations: about half the memory traffic, a perplexity change of about
// 0.1 % on the golden fixture.
//
// TrainModel and Trainer train a model of any configuration in float32
// (the transformer stage of the LVM recipe); Save writes a checkpoint that
// Load reads.
//
// # Speed
//
// Prefill runs every linear layer as a matrix-matrix product over chunks of
// up to 256 tokens (kernels.MatMulNT* at about 95 % of the FMA peak with
// binary16 weights), only the rows whose logits are asked for go through
// lm_head, and attention is computed by blocks of 64 queries with matrix
// products against the cache as stored (memory linear in the context).
// Decoding is bound by memory bandwidth: each step streams the weights once
// (the q, k and v projections, and gate and up, each in one parallel
// section), the attention of a state reads its cache once, and K states
// decoded together (DecodeBatch) share one pass over the weights and, for
// clones of one prompt, over the prompt's cache. A decode step allocates
// nothing. The numerical contract follows REFERENCE §3:
// pre-norm residual blocks with RMSNorm, rotary position embeddings in the
// rotate_half layout, causal softmax attention scaled by 1/√hd, and a SwiGLU
// MLP.
package transformer
