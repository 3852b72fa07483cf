package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// base recomputes testdata/gen_torch.py's base(*shape): the row-major
// sequence (i − n/2)·0.25, n the element count (integer division).
func base(shape ...int) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i-n/2) * 0.25
	}
	return v
}

// permute returns the row-major values of src (shape) permuted by perm:
// out[i0,i1,…] = src[j…] where dim k of out is dim perm[k] of src.
func permute(src []float32, shape, perm []int) []float32 {
	rank := len(shape)
	strides := make([]int, rank)
	s := 1
	for i := rank - 1; i >= 0; i-- {
		strides[i] = s
		s *= shape[i]
	}
	oshape := make([]int, rank)
	for k, p := range perm {
		oshape[k] = shape[p]
	}
	out := make([]float32, 0, len(src))
	idx := make([]int, rank)
	for range src {
		off := 0
		for k, p := range perm {
			off += idx[k] * strides[p]
		}
		out = append(out, src[off])
		for k := rank - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < oshape[k] {
				break
			}
			idx[k] = 0
		}
	}
	return out
}

type wantTensor struct {
	dt    DType
	shape []int
	vals  []float32
}

// TestTorchFiles opens the archives written by testdata/gen_torch.py and
// compares every tensor with values recomputed here (exact: the values are
// representable in every dtype used).
func TestTorchFiles(t *testing.T) {
	x := base(3, 4)
	y := base(2, 3, 4)
	tests := []struct {
		file string
		want map[string]wantTensor
	}{
		{"f16.pt", map[string]wantTensor{"a": {F16, []int{3, 4}, base(3, 4)}, "b": {F16, []int{5}, base(5)}}},
		{"bf16.pt", map[string]wantTensor{"a": {BF16, []int{3, 4}, base(3, 4)}, "b": {BF16, []int{5}, base(5)}}},
		{"views.pt", map[string]wantTensor{
			"x":      {F32, []int{3, 4}, x},
			"row1":   {F32, []int{4}, x[4:8]},
			"xt":     {F32, []int{4, 3}, permute(x, []int{3, 4}, []int{1, 0})},
			"col1":   {F32, []int{3}, []float32{x[1], x[5], x[9]}},
			"yp":     {F32, []int{4, 2, 3}, permute(y, []int{2, 3, 4}, []int{2, 0, 1})},
			"scalar": {F32, []int{}, []float32{2.5}},
			"empty":  {F32, []int{0, 3}, []float32{}},
		}},
		{"nested_state_dict.pt", map[string]wantTensor{"w": {F32, []int{2, 2}, base(2, 2)}}},
		{"nested_model.pt", map[string]wantTensor{"w": {F32, []int{2, 2}, base(2, 2)}}},
		{"linear.pt", map[string]wantTensor{"weight": {F32, []int{2, 3}, base(2, 3)}, "bias": {F32, []int{2}, base(2)}}},
		{"proto4.pt", map[string]wantTensor{"p": {F32, []int{2, 3}, base(2, 3)}, "b": {F32, []int{2}, base(2)}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			s, err := Open(path)
			require.NoError(t, err)
			defer s.Close()
			assert.Len(t, s.Names(), len(tc.want))
			for name, w := range tc.want {
				got, err := s.Tensor(name)
				require.NoError(t, err)
				assert.Equal(t, w.dt, got.DType, name)
				assert.Equal(t, w.shape, got.Shape, name)
				assert.Equal(t, path, got.File)
				v, err := got.Float32s()
				require.NoError(t, err)
				assert.Equal(t, w.vals, v, name)
			}
		})
	}
}

// TestTorchUnsupported checks the errors for an int64 tensor and for the
// legacy pre-zip format.
func TestTorchUnsupported(t *testing.T) {
	_, err := Open("testdata/int64.pt")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"ids"`)
	assert.Contains(t, err.Error(), "LongStorage")
	assert.Contains(t, err.Error(), "int64.pt")
	_, err = Open("testdata/legacy.pt")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "legacy")
	assert.Contains(t, err.Error(), "legacy.pt")
	t.Logf("%v", err)
}

// TestGoldenVQGAN opens the golden model.safetensors and pytorch_model.bin
// (the same weights written by the official tools) and requires the same
// tensor names, dtypes, shapes and bit-identical data. It also checks that
// the torch reader sliced every tensor zero-copy out of the mapping.
func TestGoldenVQGAN(t *testing.T) {
	st, err := Open(goldenVQGANSafetensors)
	require.NoError(t, err)
	defer st.Close()
	pt, err := Open(goldenVQGANTorch)
	require.NoError(t, err)
	defer pt.Close()
	require.Equal(t, st.Names(), pt.Names())
	require.Greater(t, len(st.Names()), 200)
	elems, bytesDiff := 0, 0
	var lo, hi uintptr
	for i, n := range st.Names() {
		a, err := st.Tensor(n)
		require.NoError(t, err)
		b, err := pt.Tensor(n)
		require.NoError(t, err)
		assert.Equal(t, F32, a.DType, n)
		assert.Equal(t, a.DType, b.DType, n)
		assert.Equal(t, a.Shape, b.Shape, n)
		if !bytes.Equal(a.Data, b.Data) {
			bytesDiff++
		}
		elems += a.NumElements()
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b.Data)))
		if i == 0 || p < lo {
			lo = p
		}
		if e := p + uintptr(len(b.Data)); e > hi {
			hi = e
		}
		_, err = b.F32View()
		require.NoError(t, err)
	}
	size, _ := os.Stat(goldenVQGANTorch)
	t.Logf("%d tensors, %d elements, %d tensors differing; torch data spans %d of the archive's %d bytes",
		len(st.Names()), elems, bytesDiff, hi-lo, size.Size())
	assert.Zero(t, bytesDiff, "tensors must be bit-identical")
	assert.LessOrEqual(t, int64(hi-lo), size.Size(), "torch tensors must alias the archive mapping")
	q, err := pt.Tensor("quantize.embedding.weight")
	require.NoError(t, err)
	assert.Equal(t, 2, len(q.Shape))
}

// TestGoldenLlamaSharded opens the golden LLaMA directory as a sharded set:
// every name of the index must be present, in the shard the index names,
// as float16.
func TestGoldenLlamaSharded(t *testing.T) {
	s, err := Open(goldenLlamaDir)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, filepath.Join(goldenLlamaDir, "model.safetensors.index.json"), s.Path())
	raw, err := os.ReadFile(filepath.Join(goldenLlamaDir, "model.safetensors.index.json"))
	require.NoError(t, err)
	idx, err := parseShardIndex("index", raw)
	require.NoError(t, err)
	require.Equal(t, len(idx.weightMap), len(s.Names()))
	shards := map[string]int{}
	total := 0
	for name, shard := range idx.weightMap {
		x, err := s.Tensor(name)
		require.NoError(t, err)
		assert.Equal(t, F16, x.DType, name)
		assert.Equal(t, filepath.Join(goldenLlamaDir, shard), x.File, name)
		u, err := x.Uint16s()
		require.NoError(t, err)
		assert.Len(t, u, x.NumElements())
		shards[shard]++
		total += len(x.Data)
	}
	assert.Len(t, shards, 2)
	emb, err := s.Tensor("model.embed_tokens.weight")
	require.NoError(t, err)
	assert.Len(t, emb.Shape, 2)
	assert.Equal(t, idx.metadata["total_size"], fmt.Sprint(total))
	t.Logf("%d fp16 tensors in %d shards, %d bytes; metadata %v", len(s.Names()), len(shards), total, s.Metadata())
}

// rezip rebuilds a zip archive, letting edit rename, replace or drop each
// entry (keep false), and compressing with method.
func rezip(t testing.TB, src []byte, method uint16, edit func(name string, body []byte) (string, []byte, bool)) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	require.NoError(t, err)
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		body, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		name, keep := f.Name, true
		if edit != nil {
			name, body, keep = edit(name, body)
		}
		if !keep {
			continue
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		require.NoError(t, err)
		w.Write(body)
	}
	require.NoError(t, zw.Close())
	return out.Bytes()
}

// zipOf builds a torch-like archive from name → body (stored entries).
func zipOf(t testing.TB, entries map[string][]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	// Deterministic order: data.pkl first, like torch.save.
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		require.NoError(t, err)
		w.Write(entries[n])
	}
	require.NoError(t, zw.Close())
	return out.Bytes()
}

// pk assembles protocol-2 pickles for tests.
type pk struct{ bytes.Buffer }

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }
func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pk) int(n int) *pk {
	p.WriteByte('J')
	binary.Write(p, binary.LittleEndian, int32(n))
	return p
}
func (p *pk) global(module, name string) *pk {
	p.WriteString("c" + module + "\n" + name + "\n")
	return p
}
func (p *pk) ints(v ...int) *pk {
	p.op('(')
	for _, x := range v {
		p.int(x)
	}
	return p.op('t')
}

// tensorSpec describes one _rebuild_tensor_v2 call.
type tensorSpec struct {
	name, storageType, key string
	numel, offset          int
	size, stride           []int
}

// statePickle returns a pickle of {name: _rebuild_tensor_v2(...), ...}.
func statePickle(specs ...tensorSpec) []byte {
	p := &pk{}
	p.op(0x80, 2, '}', '(')
	for _, s := range specs {
		p.str(s.name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op('(')
		p.op('(').str("storage").global("torch", s.storageType).str(s.key).str("cpu").int(s.numel).op('t', 'Q')
		p.int(s.offset).ints(s.size...).ints(s.stride...)
		p.op(0x89).global("collections", "OrderedDict").op(')', 'R')
		p.op('t', 'R')
	}
	p.op('u', '.')
	return p.Bytes()
}

// TestParseTorchMalformed feeds broken archives and pickles and checks the
// error names the file and the tensor, entry or global at fault.
func TestParseTorchMalformed(t *testing.T) {
	const file = "bad.bin"
	golden, err := os.ReadFile(goldenVQGANTorch)
	require.NoError(t, err)
	w4 := tensorSpec{"w", "FloatStorage", "0", 4, 0, []int{2, 2}, []int{2, 1}}
	data16 := make([]byte, 16)
	arch := func(pkl []byte, extra ...string) []byte {
		e := map[string][]byte{"archive/data.pkl": pkl, "archive/version": []byte("3\n")}
		for _, k := range extra {
			e["archive/data/"+k] = data16
		}
		return zipOf(t, e)
	}
	with := func(mod func(*tensorSpec)) tensorSpec { s := w4; mod(&s); return s }
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"not a zip", []byte("hello world"), []string{file}},
		{"truncated zip", golden[:len(golden)/2], []string{file, "not a valid torch zip"}},
		{"truncated central directory", golden[:len(golden)-10], []string{file}},
		{"no data.pkl", zipOf(t, map[string][]byte{"a/version": []byte("3")}), []string{file, "data.pkl"}},
		{"two pickles", zipOf(t, map[string][]byte{"a/data.pkl": {}, "b/data.pkl": {}}), []string{file, "a/data.pkl", "b/data.pkl"}},
		{"missing data entry", rezip(t, golden, zip.Store, func(n string, b []byte) (string, []byte, bool) {
			return n, b, n != "pytorch_model/data/0"
		}), []string{file, "encoder.conv_in.weight", "pytorch_model/data/0"}},
		{"short data entry", rezip(t, golden, zip.Store, func(n string, b []byte) (string, []byte, bool) {
			if n == "pytorch_model/data/1" {
				b = b[:len(b)-4]
			}
			return n, b, true
		}), []string{file, "encoder.conv_in.bias", "pytorch_model/data/1"}},
		{"big endian", rezip(t, golden, zip.Store, func(n string, b []byte) (string, []byte, bool) {
			if n == "pytorch_model/version" {
				return "pytorch_model/byteorder", []byte("big"), true
			}
			return n, b, true
		}), []string{file, "byteorder"}},
		{"forbidden global", arch((&pk{}).op(0x80, 2).global("os", "system").str("echo pwned").op(0x85, 'R', '.').Bytes()),
			[]string{file, "forbidden global os.system"}},
		{"forbidden stack global", arch((&pk{}).op(0x80, 4).str("builtins").str("eval").op(0x93, '.').Bytes()),
			[]string{file, "forbidden global builtins.eval"}},
		{"forbidden global as storage type", arch(statePickle(with(func(s *tensorSpec) { s.storageType = "Evil" })), "0"),
			[]string{file, "forbidden global torch.Evil"}},
		{"no STOP", arch([]byte{0x80, 2, '}'}), []string{file, "without STOP"}},
		{"stack underflow", arch([]byte{0x80, 2, 's', '.'}), []string{file, "underflow"}},
		{"bad protocol", arch([]byte{0x80, 9, '}', '.'}), []string{file, "protocol 9"}},
		{"unknown opcode", arch([]byte{0x80, 2, 'i', '.'}), []string{file, "opcode 0x69"}},
		{"undefined memo", arch([]byte{0x80, 2, 'h', 7, '.'}), []string{file, "memo key 7"}},
		{"truncated string", arch([]byte{0x80, 2, 'X', 0xff, 0xff, 0, 0, 'a', '.'}), []string{file, "past the end"}},
		{"not a dict", arch([]byte{0x80, 2, ']', '.'}), []string{file, "list, not a state dict"}},
		{"non-tensor entry", arch((&pk{}).op(0x80, 2, '}').str("epoch").int(3).op('s', '.').Bytes()), []string{file, `"epoch"`, "type int"}},
		{"bad nested", arch((&pk{}).op(0x80, 2, '}').str("state_dict").op('}').str("lr").int(3).op('s', 's', '.').Bytes()),
			[]string{file, `"state_dict"`, `"lr"`}},
		{"storage too small", arch(statePickle(with(func(s *tensorSpec) { s.offset = 1 })), "0"),
			[]string{file, `"w"`, "reach element 4"}},
		{"storage entry size", arch(statePickle(with(func(s *tensorSpec) { s.numel = 3 })), "0"),
			[]string{file, `"w"`, "archive/data/0"}},
		{"storage entry missing", arch(statePickle(w4), "1"), []string{file, `"w"`, "archive/data/0"}},
		{"negative stride", arch(statePickle(with(func(s *tensorSpec) { s.stride = []int{-2, 1} })), "0"), []string{file, `"w"`, "stride"}},
		{"negative size", arch(statePickle(with(func(s *tensorSpec) { s.size = []int{-2, 2} })), "0"), []string{file, `"w"`, "size"}},
		{"rank mismatch", arch(statePickle(with(func(s *tensorSpec) { s.stride = []int{1} })), "0"), []string{file, `"w"`, "rank"}},
		{"negative offset", arch(statePickle(with(func(s *tensorSpec) { s.offset = -1 })), "0"), []string{file, `"w"`, "offset"}},
		{"unsupported dtype", arch(statePickle(with(func(s *tensorSpec) { s.storageType = "DoubleStorage" })), "0"),
			[]string{file, `"w"`, "DoubleStorage"}},
		{"inconsistent storage", arch(statePickle(w4, with(func(s *tensorSpec) { s.name, s.numel = "v", 2 })), "0"),
			[]string{file, `storage "0"`}},
		{"copy budget", arch(statePickle(with(func(s *tensorSpec) { s.size, s.stride = []int{1 << 22, 4}, []int{0, 1} })), "0"),
			[]string{file, `"w"`, "budget"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseTorch(file, tc.data)
			require.Error(t, err)
			assert.Nil(t, s)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			t.Logf("%v", err)
		})
	}
}

// TestParseTorchCrafted checks hand-assembled archives that are valid:
// broadcast strides copied out, a shared storage under two names, and a
// deflate-compressed copy of the golden archive.
func TestParseTorchCrafted(t *testing.T) {
	vals := f32Bytes([]float32{1, 2, 3, 4})
	pkl := statePickle(
		tensorSpec{"bcast", "FloatStorage", "k", 4, 1, []int{2, 3}, []int{0, 1}},
		tensorSpec{"all", "FloatStorage", "k", 4, 0, []int{4}, []int{1}},
	)
	s, err := ParseTorch("mem", zipOf(t, map[string][]byte{"a/data.pkl": pkl, "a/data/k": vals}))
	require.NoError(t, err)
	b, _ := s.Tensor("bcast")
	v, err := b.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{2, 3, 4, 2, 3, 4}, v)
	a, _ := s.Tensor("all")
	v, _ = a.Float32s()
	assert.Equal(t, []float32{1, 2, 3, 4}, v)

	golden, err := os.ReadFile(goldenVQGANTorch)
	require.NoError(t, err)
	deflated := rezip(t, golden, zip.Deflate, nil)
	ref, err := ParseTorch("stored", golden)
	require.NoError(t, err)
	got, err := ParseTorch("deflated", deflated)
	require.NoError(t, err)
	require.Equal(t, ref.Names(), got.Names())
	for _, n := range ref.Names() {
		x, _ := ref.Tensor(n)
		y, _ := got.Tensor(n)
		require.True(t, bytes.Equal(x.Data, y.Data), n)
	}
	t.Logf("deflated archive: %d → %d bytes, %d tensors identical", len(golden), len(deflated), len(ref.Names()))

	// Corrupt one compressed byte in the middle of an entry: the CRC (or
	// inflate) must catch it.
	zr, err := zip.NewReader(bytes.NewReader(deflated), int64(len(deflated)))
	require.NoError(t, err)
	var f *zip.File
	for _, e := range zr.File {
		if strings.HasSuffix(e.Name, "data/102") {
			f = e
		}
	}
	require.NotNil(t, f)
	off, err := f.DataOffset()
	require.NoError(t, err)
	bad := append([]byte(nil), deflated...)
	bad[off+int64(f.CompressedSize64)/2] ^= 0x55
	_, err = ParseTorch("corrupt", bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "data/102")
	t.Logf("%v", err)
}
