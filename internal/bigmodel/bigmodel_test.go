package bigmodel

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lvm-go/lvm/internal/weights"
	"github.com/lvm-go/lvm/transformer"
)

// tiny is a small LLaMA configuration with every feature of the presets.
func tiny() transformer.Config {
	return transformer.Config{
		VocabSize: 300, HiddenSize: 64, IntermediateSize: 96, NumLayers: 3,
		NumHeads: 4, NumKVHeads: 4, HeadDim: 16, MaxPositions: 64,
		RMSNormEps: 1e-6, RopeTheta: 10000,
	}
}

// TestConfigRoundTrip checks that ConfigJSON of every preset parses back to
// the same configuration.
func TestConfigRoundTrip(t *testing.T) {
	for _, name := range transformer.PresetNames() {
		c, err := transformer.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, dt := range []transformer.DType{transformer.F16, transformer.BF16, transformer.F32} {
			b, err := ConfigJSON(c, dt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := transformer.ParseConfig(b)
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, b)
			}
			if got != c {
				t.Errorf("%s %s: round trip gives %+v, want %+v", name, dt, got, c)
			}
		}
	}
}

// TestPlan7B checks the shard plan of the released 7B: every tensor once, in
// Names order, 3 shards whose sizes differ from a third of the total by
// less than the largest tensor, and 13.09 GB in all (REFERENCE §3).
func TestPlan7B(t *testing.T) {
	c, _ := transformer.Preset("7b")
	specs, shard, n := plan(c, 2, 3)
	if n != 3 {
		t.Fatalf("%d shards, want 3", n)
	}
	if len(specs) != len(transformer.ParamShapes(c)) || len(specs) != 2+9*32+1 {
		t.Fatalf("%d tensors", len(specs))
	}
	size := make([]int64, n)
	var total, largest int64
	for i, s := range specs {
		if i > 0 && shard[i] < shard[i-1] {
			t.Fatalf("shard order broken at %s", s.name)
		}
		size[shard[i]] += s.bytes
		total += s.bytes
		largest = max(largest, s.bytes)
	}
	if total != 2*c.NumParams() {
		t.Fatalf("total %d bytes, want %d", total, 2*c.NumParams())
	}
	if total < 13.08e9 || total > 13.10e9 {
		t.Errorf("total %d bytes, want 13.09 GB", total)
	}
	for k, s := range size {
		if d := s - total/3; d > largest || -d > largest {
			t.Errorf("shard %d: %d bytes, a third is %d", k, s, total/3)
		}
	}
}

// TestWriteLoad writes a tiny checkpoint in 3 shards, checks the files, the
// index and the tensors against RandomTensor, and checks that the loaded
// model gives bit-identical logits to transformer.NewRandom.
func TestWriteLoad(t *testing.T) {
	c := tiny()
	for _, dt := range []transformer.DType{transformer.F16, transformer.BF16, transformer.F32} {
		dir := filepath.Join(t.TempDir(), "ckpt")
		var calls int
		var last, total int64
		sum, err := Write(dir, c, dt, Options{Seed: 7, Workers: 3, Progress: func(w, tot int64) {
			if w <= last {
				t.Errorf("progress not increasing: %d after %d", w, last)
			}
			calls++
			last, total = w, tot
		}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{ShardName(1, 3), ShardName(2, 3), ShardName(3, 3), "model.safetensors.index.json", "config.json"}
		if !reflect.DeepEqual(sum.Files, want) {
			t.Fatalf("files %v, want %v", sum.Files, want)
		}
		if calls != sum.Tensors || last != total || total != sum.WeightSize {
			t.Errorf("progress: %d calls, last %d of %d; summary %+v", calls, last, total, sum)
		}
		entries, _ := os.ReadDir(dir)
		var disk int64
		for _, e := range entries {
			info, _ := e.Info()
			disk += info.Size()
		}
		if len(entries) != 5 || disk != sum.FileSize {
			t.Errorf("%d files, %d bytes on disk; summary %+v", len(entries), disk, sum)
		}
		if !Exists(dir) {
			t.Error("Exists = false")
		}

		var idx struct {
			Metadata  map[string]int64  `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
		if err := json.Unmarshal(raw, &idx); err != nil {
			t.Fatal(err)
		}
		if idx.Metadata["total_size"] != sum.WeightSize || len(idx.WeightMap) != sum.Tensors {
			t.Errorf("index: total_size %d, %d entries; summary %+v", idx.Metadata["total_size"], len(idx.WeightMap), sum)
		}

		set, err := weights.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		shapes := transformer.ParamShapes(c)
		for name, shape := range shapes {
			tn, err := set.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := transformer.RandomTensor(name, shape, dt, 7)
			if !bytes.Equal(tn.Data, ref) || !reflect.DeepEqual(tn.Shape, shape) {
				t.Fatalf("%s %s: data or shape %v differ", dt, name, tn.Shape)
			}
			if filepath.Base(tn.File) != idx.WeightMap[name] {
				t.Errorf("%s is in %s, index says %s", name, tn.File, idx.WeightMap[name])
			}
		}
		set.Close()

		disk1, err := transformer.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		mem, err := transformer.NewRandom(c, dt, 7)
		if err != nil {
			t.Fatal(err)
		}
		if disk1.Config() != c {
			t.Errorf("loaded config %+v, want %+v", disk1.Config(), c)
		}
		toks := []int{1, 5, 299, 42, 0, 7, 8}
		ctx := context.Background()
		a, b := disk1.NewStateCap(16), mem.NewStateCap(16)
		if err := disk1.Prefill(ctx, a, toks); err != nil {
			t.Fatal(err)
		}
		if err := mem.Prefill(ctx, b, toks); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.LastLogits(), b.LastLogits()) {
			t.Errorf("%s: logits of the written checkpoint differ from NewRandom's", dt)
		}
		disk1.Close()
	}
}

// TestWriteOneShardTied writes a single-file checkpoint with tied
// embeddings (no lm_head, no index).
func TestWriteOneShardTied(t *testing.T) {
	c := tiny()
	c.TieWordEmbeddings = true
	dir := t.TempDir()
	sum, err := Write(dir, c, transformer.F16, Options{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sum.Files, []string{"model.safetensors", "config.json"}) {
		t.Fatalf("files %v", sum.Files)
	}
	if sum.Tensors != len(transformer.ParamShapes(c)) || sum.WeightSize != 2*c.NumParams() {
		t.Errorf("summary %+v, want %d tensors, %d bytes", sum, len(transformer.ParamShapes(c)), 2*c.NumParams())
	}
	m, err := transformer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

// TestWriteManyShards asks for more shards than the model has tensors.
func TestWriteManyShards(t *testing.T) {
	c := tiny()
	c.NumLayers = 1
	dir := t.TempDir()
	sum, err := Write(dir, c, transformer.F16, Options{Shards: 50})
	if err != nil {
		t.Fatal(err)
	}
	n := len(sum.Files) - 2
	if n < 2 || n > sum.Tensors || sum.Files[n-1] != ShardName(n, n) {
		t.Fatalf("files %v", sum.Files)
	}
	m, err := transformer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

// TestWriteErrors checks refusals: an unwritable dtype, a bad config, a
// directory that already holds a checkpoint; none leaves files behind.
func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, tiny(), "q8", Options{}); err == nil {
		t.Error("dtype q8: no error")
	}
	bad := tiny()
	bad.NumHeads = 5
	if _, err := Write(dir, bad, transformer.F16, Options{}); err == nil {
		t.Error("bad config: no error")
	}
	if _, err := Write(dir, tiny(), transformer.F16, Options{Shards: -1}); err == nil {
		t.Error("-1 shards: no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
	if _, err := Write(dir, tiny(), transformer.F16, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, tiny(), transformer.F16, Options{}); err == nil {
		t.Error("second write without Overwrite: no error")
	}
	if _, err := Write(dir, tiny(), transformer.F32, Options{Overwrite: true}); err != nil {
		t.Error(err)
	}
	if Exists(t.TempDir()) {
		t.Error("Exists on an empty directory")
	}
}

// TestWriteCleanup makes a shard fail to be written (a directory sits at
// its name, so the rename fails) and checks that nothing is left behind.
func TestWriteCleanup(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, ShardName(2, 3))
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, tiny(), transformer.F16, Options{}); err == nil {
		t.Fatal("no error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != ShardName(2, 3) {
		t.Errorf("left behind: %v", entries)
	}
}

// BenchmarkWrite measures the writing rate (bytes of tensor data per
// second) of a 100M-class fp16 checkpoint.
func BenchmarkWrite(b *testing.B) {
	c, _ := transformer.Preset("100m")
	for b.Loop() {
		dir := b.TempDir()
		sum, err := Write(dir, c, transformer.F16, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(sum.WeightSize)
		os.RemoveAll(dir)
	}
}

// TestFillRandomMatches holds the fast generator to its reference,
// transformer.RandomTensor, for every dtype and tensor kind, with element
// counts that are and are not multiples of 4.
func TestFillRandomMatches(t *testing.T) {
	shapes := [][]int{{8292, 64}, {7, 3}, {5}, {64}, {1}, {3, 1}, {2, 2}, {}}
	for _, dt := range []transformer.DType{transformer.F32, transformer.F16, transformer.BF16} {
		for _, name := range []string{"model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "model.norm.weight"} {
			for _, shape := range shapes {
				checkFill(t, name, shape, dt, 3)
			}
		}
	}
	if err := fillRandom(make([]byte, 4), "x", []int{2}, "q8", 0); err == nil {
		t.Error("dtype q8: no error")
	}
	if err := fillRandom(make([]byte, 3), "x", []int{2}, transformer.F16, 0); err == nil {
		t.Error("short buffer: no error")
	}
}

func checkFill(t testing.TB, name string, shape []int, dt transformer.DType, seed uint64) {
	t.Helper()
	want, err := transformer.RandomTensor(name, shape, dt, seed)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	for i := range got {
		got[i] = 0xa5 // no byte may be left unwritten
	}
	if err := fillRandom(got, name, shape, dt, seed); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s %v %s seed %d: fillRandom differs from RandomTensor", name, shape, dt, seed)
	}
}

// FuzzFillRandom compares fillRandom with RandomTensor on arbitrary names,
// shapes, dtypes and seeds.
func FuzzFillRandom(f *testing.F) {
	f.Add("model.norm.weight", uint16(7), uint16(0), uint8(1), uint64(0))
	f.Add("lm_head.weight", uint16(13), uint16(5), uint8(0), uint64(99))
	f.Add("model.embed_tokens.weight", uint16(3), uint16(9), uint8(2), uint64(1))
	f.Fuzz(func(t *testing.T, name string, rows, cols uint16, dtIdx uint8, seed uint64) {
		dt := []transformer.DType{transformer.F32, transformer.F16, transformer.BF16}[dtIdx%3]
		shape := []int{int(rows % 512)}
		if cols != 0 {
			shape = append(shape, int(cols%512))
		}
		checkFill(t, name, shape, dt, seed)
	})
}

// BenchmarkFillRandom measures the generator on a 7B MLP matrix (fp16).
func BenchmarkFillRandom(b *testing.B) {
	shape := []int{11008, 4096}
	buf := make([]byte, 2*shape[0]*shape[1])
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if err := fillRandom(buf, "model.layers.0.mlp.up_proj.weight", shape, transformer.F16, 1); err != nil {
			b.Fatal(err)
		}
	}
}
