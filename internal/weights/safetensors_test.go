package weights

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	goldenVQGANSafetensors = "../../testdata/vqgan/model.safetensors"
	goldenVQGANTorch       = "../../testdata/vqgan/pytorch_model.bin"
	goldenLlamaDir         = "../../testdata/llama"
)

// stFile assembles a safetensors file from a header and a data section of
// dataLen zero bytes.
func stFile(header string, dataLen int) []byte {
	b := make([]byte, 8, 8+len(header)+dataLen)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

// TestParseSafetensorsMalformed feeds broken files and checks that each
// error names the file and, where there is one, the tensor at fault.
func TestParseSafetensorsMalformed(t *testing.T) {
	const file = "bad.safetensors"
	hugeLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(hugeLen, 1<<40)
	tests := []struct {
		name string
		data []byte
		want []string // substrings of the error
	}{
		{"empty", nil, []string{file, "too short"}},
		{"truncated length", []byte{1, 0, 0}, []string{file, "too short"}},
		{"header past end", stFile(`{}`, 0)[:9], []string{file, "header length 2"}},
		{"huge header length", hugeLen, []string{file, "header length"}},
		{"bad json", stFile(`{"a":`, 0), []string{file, "invalid JSON"}},
		{"not an object", stFile(`[1,2]`, 0), []string{file, "expected an object"}},
		{"trailing garbage", stFile(`{} x`, 0), []string{file, "trailing"}},
		{"duplicate", stFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8),
			[]string{file, `duplicate key "w"`}},
		{"unsupported dtype", stFile(`{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 8), []string{file, `"ids"`, "I64"}},
		{"unknown dtype", stFile(`{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,8]}}`, 8), []string{file, `"w"`, "Q7"}},
		{"missing field", stFile(`{"w":{"dtype":"F32","shape":[1]}}`, 4), []string{file, `"w"`, "data_offsets"}},
		{"negative dim", stFile(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), []string{file, `"w"`, "dimension -1"}},
		{"fractional dim", stFile(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), []string{file, `"w"`}},
		{"size mismatch", stFile(`{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}`, 24), []string{file, `"w"`, "does not match"}},
		{"shape overflow", stFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}}`, 0), []string{file, `"w"`, "does not match"}},
		{"offsets count", stFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, 4), []string{file, `"w"`, "2 entries"}},
		{"out of range", stFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 8), []string{file, `"w"`, "outside"}},
		{"reversed span", stFile(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}`, 8), []string{file, `"w"`, "outside"}},
		{"negative offset", stFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 8), []string{file, `"w"`, "outside"}},
		{"overlap", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[6,10]}}`, 12),
			[]string{file, `"a"`, `"b"`, "overlap"}},
		{"metadata not strings", stFile(`{"__metadata__":{"n":1}}`, 0), []string{file, "__metadata__"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSafetensors(file, tc.data)
			require.Error(t, err)
			assert.Nil(t, s)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			t.Logf("%v", err)
		})
	}
}

// TestParseSafetensorsEdgeCases covers valid but unusual files.
func TestParseSafetensorsEdgeCases(t *testing.T) {
	s, err := ParseSafetensors("ok", stFile(`{"__metadata__":{"format":"pt"},"e":{"dtype":"F16","shape":[0,4],"data_offsets":[2,2]},`+
		`"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"h":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}}    `, 8))
	require.NoError(t, err)
	assert.Equal(t, []string{"e", "h", "s"}, s.Names())
	assert.Equal(t, map[string]string{"format": "pt"}, s.Metadata())
	e, err := s.Tensor("e")
	require.NoError(t, err)
	assert.Equal(t, 0, e.NumElements())
	sc, err := s.Tensor("s")
	require.NoError(t, err)
	assert.Equal(t, 1, sc.NumElements())
	_, err = s.Tensor("nope")
	assert.ErrorContains(t, err, `"nope"`)
	assert.ErrorContains(t, err, "ok")
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	_, err = s.Tensor("s")
	assert.ErrorContains(t, err, "after Close")
}

// TestWriteSafetensorsRoundTrip writes tensors of every dtype (odd sizes,
// a scalar, an empty tensor), reopens them and compares bit for bit; it also
// checks determinism, header padding, element alignment and that the data
// tile the data section as the reference loaders require.
func TestWriteSafetensorsRoundTrip(t *testing.T) {
	in := []*Tensor{
		{Name: "z.f32", DType: F32, Shape: []int{2, 3}, Data: f32Bytes([]float32{1, 2, 3, 4, 5, -6})},
		{Name: "a.f16", DType: F16, Shape: []int{3}, Data: u16Bytes([]uint16{0x3c00, 0xc000, 0x7bff})},
		{Name: "m.bf16", DType: BF16, Shape: []int{1, 1, 1}, Data: u16Bytes([]uint16{0x3f80})},
		{Name: "scalar", DType: F32, Shape: nil, Data: f32Bytes([]float32{42})},
		{Name: "empty", DType: F16, Shape: []int{0, 7}, Data: nil},
		{Name: "b.f32", DType: F32, Shape: []int{1}, Data: f32Bytes([]float32{0.5})},
	}
	md := map[string]string{"format": "pt", "note": "<&>"}
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	require.NoError(t, WriteSafetensors(p1, in, md))
	rev := append([]*Tensor(nil), in...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	require.NoError(t, WriteSafetensors(p2, rev, md))
	b1, err := os.ReadFile(p1)
	require.NoError(t, err)
	b2, err := os.ReadFile(p2)
	require.NoError(t, err)
	assert.Equal(t, b1, b2, "output must not depend on input order")
	hlen := binary.LittleEndian.Uint64(b1)
	assert.Zero(t, hlen%8, "header length %d must be a multiple of 8", hlen)
	assert.Contains(t, string(b1[8:8+hlen]), `"note":"<&>"`)

	s, err := Open(p1)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, md, s.Metadata())
	require.Len(t, s.Names(), len(in))
	total := 0
	for _, want := range in {
		got, err := s.Tensor(want.Name)
		require.NoError(t, err)
		assert.Equal(t, want.DType, got.DType, want.Name)
		assert.Equal(t, want.NumElements(), got.NumElements(), want.Name)
		if len(want.Shape) > 0 {
			assert.Equal(t, want.Shape, got.Shape, want.Name)
		} else {
			assert.Empty(t, got.Shape, want.Name)
		}
		assert.True(t, bytes.Equal(want.Data, got.Data), want.Name)
		assert.Equal(t, p1, got.File)
		if len(got.Data) > 0 {
			addr := uintptr(unsafe.Pointer(unsafe.SliceData(got.Data)))
			assert.Zero(t, addr%uintptr(got.DType.Size()), "%s not aligned to its element size", want.Name)
		}
		total += len(want.Data)
	}
	assert.Equal(t, int(8+hlen)+total, len(b1), "data must tile the data section without gaps")

	// Invalid input is refused and leaves no file behind.
	bad := filepath.Join(dir, "bad.safetensors")
	for _, tc := range []struct {
		name string
		ts   []*Tensor
		want string
	}{
		{"dup", []*Tensor{in[0], in[0]}, `"z.f32" appears twice`},
		{"short", []*Tensor{{Name: "short", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}}, `"short"`},
		{"reserved", []*Tensor{{Name: "__metadata__", DType: F32, Data: make([]byte, 4)}}, "__metadata__"},
		{"nil", []*Tensor{nil}, "nil"},
	} {
		err := WriteSafetensors(bad, tc.ts, nil)
		assert.ErrorContains(t, err, tc.want, tc.name)
		assert.NoFileExists(t, bad)
	}
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 2, "no temporary files left")
}

// TestWriteSafetensorsGolden rewrites the golden VQGAN file (all F32) and
// checks the copy holds identical tensors and is byte-identical to the file
// written by the reference (Python safetensors) writer.
func TestWriteSafetensorsGolden(t *testing.T) {
	s, err := Open(goldenVQGANSafetensors)
	require.NoError(t, err)
	defer s.Close()
	var ts []*Tensor
	for _, n := range s.Names() {
		x, err := s.Tensor(n)
		require.NoError(t, err)
		ts = append(ts, x)
	}
	out := filepath.Join(t.TempDir(), "copy.safetensors")
	require.NoError(t, WriteSafetensors(out, ts, s.Metadata()))
	c, err := Open(out)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, s.Names(), c.Names())
	for _, n := range s.Names() {
		a, _ := s.Tensor(n)
		b, _ := c.Tensor(n)
		require.Equal(t, a.Shape, b.Shape, n)
		require.True(t, bytes.Equal(a.Data, b.Data), n)
	}
	orig, _ := os.ReadFile(goldenVQGANSafetensors)
	copied, _ := os.ReadFile(out)
	t.Logf("rewrote %d tensors; byte-identical to the reference writer's file: %v", len(ts), bytes.Equal(orig, copied))
	assert.True(t, bytes.Equal(orig, copied), "an all-F32 file must match the reference writer byte for byte")
}

// ExampleWriteSafetensors shows a write and read back.
func ExampleWriteSafetensors() {
	dir, _ := os.MkdirTemp("", "weights")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "w.safetensors")
	w := &Tensor{Name: "w", DType: F32, Shape: []int{2}, Data: f32Bytes([]float32{1.5, -2})}
	if err := WriteSafetensors(p, []*Tensor{w}, nil); err != nil {
		fmt.Println(err)
		return
	}
	s, err := Open(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	t, _ := s.Tensor("w")
	v, _ := t.Float32s()
	fmt.Println(strings.Join(s.Names(), ","), t.Shape, v)
	// Output: w [2] [1.5 -2]
}
