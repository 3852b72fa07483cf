// Package bigmodel writes random LLaMA checkpoints of any size to disk in
// the Hugging Face layout of the released LVM 7B (REFERENCE §3):
// config.json, safetensors shards model-0000i-of-0000n.safetensors and
// model.safetensors.index.json. It streams: tensors are generated and
// written one at a time, through Workers+1 reused buffers, so a 13 GB fp16
// 7B checkpoint is written with about 0.3 GB of memory (3 × its largest
// tensor, 90 MB, with 2 workers).
//
// The weights are exactly those of transformer.NewRandom with the same
// configuration, dtype and seed (each tensor is transformer.RandomTensor),
// so a model loaded from the written directory computes what the in-memory
// random model computes.
package bigmodel

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/lvm-go/lvm/transformer"
)

// Options tune Write. The zero value writes 3 shards with seed 0 using one
// worker per GOMAXPROCS.
type Options struct {
	// Shards is the number of safetensors files; 0 means 3 (as the
	// released 7B). With 1 the weights go to a single model.safetensors
	// and no index is written. Fewer shards than asked are written when
	// the model has too few tensors to fill them.
	Shards int
	// Seed selects the random weights (the seed of transformer.NewRandom).
	Seed uint64
	// Workers sets how far generation runs ahead of writing: Workers+1
	// buffers, each as large as the largest tensor, are generated into
	// concurrently and reused; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Overwrite allows writing into a directory that already holds a
	// config.json; without it Write refuses.
	Overwrite bool
	// Progress, when set, is called after each tensor is written with the
	// bytes of tensor data written so far and the total.
	Progress func(written, total int64)
}

// Summary describes a written checkpoint.
type Summary struct {
	Dir        string   // the checkpoint directory
	Files      []string // file names written, relative to Dir: shards, then index (if any) and config.json
	Tensors    int      // number of tensors
	WeightSize int64    // bytes of tensor data (the index's total_size)
	FileSize   int64    // bytes of all files written, headers included
}

// tensorSpec is one tensor to write.
type tensorSpec struct {
	name  string
	shape []int
	bytes int64
}

// Names returns the tensor names of a LlamaForCausalLM with configuration
// c in Hugging Face state_dict order: embedding, then per layer the
// attention projections q, k, v, o, the MLP projections gate, up, down and
// the two norms, then the final norm and lm_head (unless tied).
func Names(c transformer.Config) []string {
	names := []string{"model.embed_tokens.weight"}
	for l := 0; l < c.NumLayers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		for _, s := range []string{
			"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
			"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
			"input_layernorm", "post_attention_layernorm",
		} {
			names = append(names, p+s+".weight")
		}
	}
	names = append(names, "model.norm.weight")
	if !c.TieWordEmbeddings {
		names = append(names, "lm_head.weight")
	}
	return names
}

// stDType is the safetensors spelling and element size of a dtype.
func stDType(dt transformer.DType) (name, torch string, size int, err error) {
	switch dt {
	case transformer.F32:
		return "F32", "float32", 4, nil
	case transformer.F16:
		return "F16", "float16", 2, nil
	case transformer.BF16:
		return "BF16", "bfloat16", 2, nil
	}
	return "", "", 0, fmt.Errorf("bigmodel: dtype %q cannot be written (want f32, f16 or bf16)", dt)
}

// ConfigJSON returns a Hugging Face LlamaConfig config.json for c whose
// torch_dtype names dt; transformer.ParseConfig reads it back as c.
func ConfigJSON(c transformer.Config, dt transformer.DType) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	_, torch, _, err := stDType(dt)
	if err != nil {
		return nil, err
	}
	kv := c.NumKVHeads
	if kv == 0 {
		kv = c.NumHeads
	}
	hd := c.HeadDim
	if hd == 0 {
		hd = c.HiddenSize / c.NumHeads
	}
	// A struct keeps the keys in the conventional order.
	cfg := struct {
		Architectures     []string  `json:"architectures"`
		ModelType         string    `json:"model_type"`
		HiddenAct         string    `json:"hidden_act"`
		VocabSize         int       `json:"vocab_size"`
		HiddenSize        int       `json:"hidden_size"`
		IntermediateSize  int       `json:"intermediate_size"`
		NumLayers         int       `json:"num_hidden_layers"`
		NumHeads          int       `json:"num_attention_heads"`
		NumKVHeads        int       `json:"num_key_value_heads"`
		HeadDim           int       `json:"head_dim"`
		MaxPositions      int       `json:"max_position_embeddings"`
		RMSNormEps        float64   `json:"rms_norm_eps"`
		RopeTheta         float64   `json:"rope_theta"`
		RopeScaling       *struct{} `json:"rope_scaling"`
		AttentionBias     bool      `json:"attention_bias"`
		TieWordEmbeddings bool      `json:"tie_word_embeddings"`
		TorchDType        string    `json:"torch_dtype"`
	}{
		[]string{"LlamaForCausalLM"}, "llama", "silu",
		c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, kv, hd,
		c.MaxPositions, c.RMSNormEps, c.RopeTheta, nil, false, c.TieWordEmbeddings, torch,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// plan returns the tensors to write and their shard (0-based) and the
// number of shards used: tensors in Names order, cut into runs of about
// equal bytes.
func plan(c transformer.Config, esize int, shards int) ([]tensorSpec, []int, int) {
	shapes := transformer.ParamShapes(c)
	names := Names(c)
	specs := make([]tensorSpec, len(names))
	var total int64
	for i, n := range names {
		s := shapes[n]
		b := int64(esize)
		for _, d := range s {
			b *= int64(d)
		}
		specs[i] = tensorSpec{name: n, shape: s, bytes: b}
		total += b
	}
	// A tensor goes to the shard its middle byte falls in; empty shards are
	// then squeezed out.
	shard := make([]int, len(specs))
	var off int64
	used, last := 0, -1
	for i, s := range specs {
		k := 0
		if total > 0 {
			k = int((off + s.bytes/2) * int64(shards) / total)
		}
		k = min(k, shards-1)
		if k != last {
			used++
			last = k
		}
		shard[i] = used - 1
		off += s.bytes
	}
	return specs, shard, used
}

// ShardName is the Hugging Face name of shard i (1-based) of n.
func ShardName(i, n int) string {
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i, n)
}

// Write writes a random checkpoint of configuration c with weights stored
// as dt (f32, f16 or bf16) into dir, creating it if needed. Every file is
// first written under a temporary name and renamed when complete; the
// shards come first, then the index and config.json last, so a directory
// with a config.json holds a whole checkpoint. On error the files written
// so far by this call are removed.
func Write(dir string, c transformer.Config, dt transformer.DType, opt Options) (sum Summary, err error) {
	if err := c.Validate(); err != nil {
		return Summary{}, err
	}
	stName, _, esize, err := stDType(dt)
	if err != nil {
		return Summary{}, err
	}
	shards := opt.Shards
	if shards == 0 {
		shards = 3
	}
	if shards < 0 {
		return Summary{}, fmt.Errorf("bigmodel: %d shards", shards)
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	config, err := ConfigJSON(c, dt)
	if err != nil {
		return Summary{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("bigmodel: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil && !opt.Overwrite {
		return Summary{}, fmt.Errorf("bigmodel: %s already holds a checkpoint (config.json); remove it first", dir)
	}

	specs, shardOf, nShards := plan(c, esize, shards)
	sum = Summary{Dir: dir, Tensors: len(specs)}
	for _, s := range specs {
		sum.WeightSize += s.bytes
	}
	defer func() {
		if err != nil {
			for _, f := range sum.Files {
				os.Remove(filepath.Join(dir, f))
			}
			sum = Summary{}
		}
	}()

	gen := startGenerators(specs, dt, opt.Seed, workers)
	defer gen.stop()
	var written int64
	weightMap := make(map[string]string, len(specs))
	for k, i := 0, 0; k < nShards; k++ {
		j := i
		for j < len(specs) && shardOf[j] == k {
			j++
		}
		name := "model.safetensors"
		if nShards > 1 || shards > 1 {
			name = ShardName(k+1, nShards)
		}
		header, err := shardHeader(specs[i:j], stName)
		if err != nil {
			return sum, err
		}
		size, err := writeFile(dir, name, func(w *bufio.Writer) error {
			var n [8]byte
			binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
			w.Write(n[:])
			w.Write(header)
			for t := i; t < j; t++ {
				data, err := gen.next(t)
				if err != nil {
					return err
				}
				if int64(len(data)) != specs[t].bytes {
					return fmt.Errorf("bigmodel: tensor %s: %d bytes generated, want %d", specs[t].name, len(data), specs[t].bytes)
				}
				_, err = w.Write(data)
				gen.release(data)
				if err != nil {
					return err
				}
				written += specs[t].bytes
				if opt.Progress != nil {
					opt.Progress(written, sum.WeightSize)
				}
			}
			return nil
		})
		if err != nil {
			return sum, err
		}
		sum.Files = append(sum.Files, name)
		sum.FileSize += size
		for t := i; t < j; t++ {
			weightMap[specs[t].name] = name
		}
		i = j
	}
	if nShards > 1 || shards > 1 {
		index := struct {
			Metadata  map[string]int64  `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}{map[string]int64{"total_size": sum.WeightSize}, weightMap}
		b, err := json.MarshalIndent(index, "", "  ")
		if err != nil {
			return sum, err
		}
		if err := writeBytes(dir, "model.safetensors.index.json", append(b, '\n'), &sum); err != nil {
			return sum, err
		}
	}
	if err := writeBytes(dir, "config.json", config, &sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// shardHeader returns the padded safetensors JSON header of specs, laid
// out in that order.
func shardHeader(specs []tensorSpec, dtype string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"__metadata__":{"format":"pt"}`)
	var off int64
	for _, s := range specs {
		shape, err := json.Marshal(s.shape)
		if err != nil {
			return nil, err
		}
		name, err := json.Marshal(s.name)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&buf, `,%s:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, name, dtype, shape, off, off+s.bytes)
		off += s.bytes
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), nil
}

// writeFile writes dir/name through fill under a temporary name, then
// renames it; it returns the file's size.
func writeFile(dir, name string, fill func(w *bufio.Writer) error) (size int64, err error) {
	f, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return 0, fmt.Errorf("bigmodel: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 4<<20)
	if err = fill(w); err != nil {
		return 0, fmt.Errorf("bigmodel: write %s: %w", name, err)
	}
	if err = w.Flush(); err != nil {
		return 0, fmt.Errorf("bigmodel: write %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("bigmodel: %w", err)
	}
	if err = f.Close(); err != nil {
		return 0, fmt.Errorf("bigmodel: write %s: %w", name, err)
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return 0, fmt.Errorf("bigmodel: %w", err)
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return 0, fmt.Errorf("bigmodel: %w", err)
	}
	return st.Size(), nil
}

// writeBytes writes a small file and records it in sum.
func writeBytes(dir, name string, data []byte, sum *Summary) error {
	size, err := writeFile(dir, name, func(w *bufio.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	sum.Files = append(sum.Files, name)
	sum.FileSize += size
	return nil
}

// generators makes the tensors' data in order, ahead of the writer, in a
// fixed set of reused buffers: at most len(free) tensors are in memory.
type generators struct {
	out  []chan result
	free chan []byte
	done chan struct{}
}

type result struct {
	data []byte
	err  error
}

func startGenerators(specs []tensorSpec, dt transformer.DType, seed uint64, workers int) *generators {
	g := &generators{
		out:  make([]chan result, len(specs)),
		free: make(chan []byte, workers+1),
		done: make(chan struct{}),
	}
	for i := range g.out {
		g.out[i] = make(chan result, 1) // a finished generator never blocks
	}
	for range workers + 1 {
		g.free <- nil
	}
	go func() {
		for i, s := range specs {
			var buf []byte
			select {
			case buf = <-g.free:
			case <-g.done:
				return
			}
			go func() {
				if int64(cap(buf)) < s.bytes {
					buf = make([]byte, s.bytes)
				}
				buf = buf[:s.bytes]
				err := fillRandom(buf, s.name, s.shape, dt, seed)
				g.out[i] <- result{buf, err}
			}()
		}
	}()
	return g
}

// next returns tensor i's data; calls must come in order 0, 1, 2, … and
// each must be followed by release once the data is written.
func (g *generators) next(i int) ([]byte, error) {
	r := <-g.out[i]
	return r.data, r.err
}

// release hands a buffer from next back for reuse.
func (g *generators) release(buf []byte) { g.free <- buf }

// stop ends the generation early (no more tensors are started).
func (g *generators) stop() {
	select {
	case <-g.done:
	default:
		close(g.done)
	}
}

// Exists reports whether dir holds a checkpoint written by Write (or any
// Hugging Face checkpoint): a config.json and either an index or a
// model.safetensors.
func Exists(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return false
	}
	for _, f := range []string{"model.safetensors.index.json", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}
