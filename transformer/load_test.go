package transformer

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lvm-go/lvm/internal/weights"
)

// writeTorch writes tensors as a torch.save zip archive (the layout of
// pytorch_model.bin: archive/data.pkl holding a pickled OrderedDict of
// torch._utils._rebuild_tensor_v2 calls whose storages are the entries
// archive/data/<key>). The internal/weights package reads this format but
// does not write it, so the test carries this minimal writer.
func writeTorch(t testing.TB, path string, tensors []*weights.Tensor) {
	t.Helper()
	var p bytes.Buffer
	str := func(s string) {
		p.WriteByte('X')
		binary.Write(&p, binary.LittleEndian, uint32(len(s)))
		p.WriteString(s)
	}
	num := func(n int) {
		p.WriteByte('J')
		binary.Write(&p, binary.LittleEndian, int32(n))
	}
	global := func(module, name string) { fmt.Fprintf(&p, "c%s\n%s\n", module, name) }
	ordered := func() { global("collections", "OrderedDict"); p.WriteString(")R") }

	p.Write([]byte{0x80, 2})
	ordered()
	p.WriteByte('(')
	for i, tn := range tensors {
		storage := map[weights.DType]string{weights.F32: "FloatStorage", weights.F16: "HalfStorage", weights.BF16: "BFloat16Storage"}[tn.DType]
		str(tn.Name)
		global("torch._utils", "_rebuild_tensor_v2")
		p.WriteByte('(')
		{ // persistent id ('storage', type, key, 'cpu', numel)
			p.WriteByte('(')
			str("storage")
			global("torch", storage)
			str(fmt.Sprint(i))
			str("cpu")
			num(tn.NumElements())
			p.WriteString("tQ")
		}
		num(0)
		p.WriteByte('(')
		for _, d := range tn.Shape {
			num(d)
		}
		p.WriteString("t(")
		stride := 1
		strides := make([]int, len(tn.Shape))
		for j := len(tn.Shape) - 1; j >= 0; j-- {
			strides[j] = stride
			stride *= tn.Shape[j]
		}
		for _, s := range strides {
			num(s)
		}
		p.WriteString("t")
		p.WriteByte(0x89) // False: requires_grad
		ordered()         // backward hooks
		p.WriteString("tR")
	}
	p.WriteString("u.")

	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	add := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("archive/data.pkl", p.Bytes())
	add("archive/byteorder", []byte("little"))
	for i, tn := range tensors {
		add(fmt.Sprintf("archive/data/%d", i), tn.Data)
	}
	add("archive/version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

const tinyConfigJSON = `{"model_type": "llama", "vocab_size": 50, "hidden_size": 16, "intermediate_size": 24,
 "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 32,
 "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "tie_word_embeddings": false}`

// TestLoadFormats loads the same random weights from pytorch_model.bin
// (fp16 and bf16), from a model.safetensors directory and from the
// safetensors file path, and checks they all give the in-memory model's
// logits exactly.
func TestLoadFormats(t *testing.T) {
	c := tinyConfig()
	toks := []int{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}
	for _, dt := range []weights.DType{weights.F16, weights.BF16, weights.F32} {
		src := randomSource(c, dt, 11)
		mem, err := newModel(c, src)
		if err != nil {
			t.Fatal(err)
		}
		want, err := mem.PrefillAll(context.Background(), mem.NewState(), toks)
		if err != nil {
			t.Fatal(err)
		}
		torchDir, stDir := t.TempDir(), t.TempDir()
		writeTorch(t, filepath.Join(torchDir, "pytorch_model.bin"), src.list())
		if err := weights.WriteSafetensors(filepath.Join(stDir, "model.safetensors"), src.list(), nil); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{torchDir, stDir} {
			if err := os.WriteFile(filepath.Join(d, "config.json"), []byte(tinyConfigJSON), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, path := range []string{torchDir, stDir, filepath.Join(stDir, "model.safetensors")} {
			name := fmt.Sprintf("%s %s", dt, filepath.Base(path))
			m, err := Load(path)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, err := m.PrefillAll(context.Background(), m.NewState(), toks)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got.Data().([]float32), want.Data().([]float32)) {
				t.Errorf("%s: logits differ from the in-memory model's", name)
			}
			if err := m.Close(); err != nil {
				t.Errorf("%s: Close: %v", name, err)
			}
		}
	}
}

// TestLoadWrongCheckpoint checks that a checkpoint that does not match its
// config.json is rejected naming the tensor.
func TestLoadWrongCheckpoint(t *testing.T) {
	c := tinyConfig()
	c.IntermediateSize = 20 // the file's MLP is narrower than config.json says
	dir := t.TempDir()
	if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), randomSource(c, weights.F16, 1).list(), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tinyConfigJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("model.layers.0.mlp.gate_proj.weight")) {
		t.Fatalf("error %v, want one naming model.layers.0.mlp.gate_proj.weight", err)
	}
	t.Logf("wrong checkpoint: %v", err)
}
