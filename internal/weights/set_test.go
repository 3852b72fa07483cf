package weights

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeShard writes a safetensors shard holding one F32 element per name.
func writeShard(t *testing.T, path string, names ...string) {
	t.Helper()
	var ts []*Tensor
	for i, n := range names {
		ts = append(ts, &Tensor{Name: n, DType: F32, Shape: []int{1}, Data: f32Bytes([]float32{float32(i)})})
	}
	require.NoError(t, WriteSafetensors(path, ts, map[string]string{"format": "pt"}))
}

// writeIndex writes model.safetensors.index.json with the given weight_map.
func writeIndex(t *testing.T, dir string, weightMap any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 8}, "weight_map": weightMap})
	require.NoError(t, err)
	p := filepath.Join(dir, "model.safetensors.index.json")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// TestShardedMalformed builds sharded directories with a broken index or
// shard and checks that each error names the index or shard file and the
// tensor at fault.
func TestShardedMalformed(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // writes the shards and index
		want  []string
	}{
		{"missing shard", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "s1.safetensors"), "a")
			writeIndex(t, dir, map[string]string{"a": "s1.safetensors", "b": "nope.safetensors"})
		}, []string{"model.safetensors.index.json", "nope.safetensors"}},
		{"tensor not in shard", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "s1.safetensors"), "a")
			writeShard(t, filepath.Join(dir, "s2.safetensors"), "b")
			writeIndex(t, dir, map[string]string{"a": "s1.safetensors", "b": "s1.safetensors"})
		}, []string{"model.safetensors.index.json", `"b"`, "s1.safetensors"}},
		{"parent path", func(t *testing.T, dir string) {
			writeIndex(t, dir, map[string]string{"a": "../x.safetensors"})
		}, []string{"model.safetensors.index.json", `"a"`, "../x.safetensors"}},
		{"absolute path", func(t *testing.T, dir string) {
			writeIndex(t, dir, map[string]string{"a": "/etc/passwd"})
		}, []string{`"a"`, "/etc/passwd"}},
		{"subdirectory", func(t *testing.T, dir string) {
			writeIndex(t, dir, map[string]string{"a": "sub/x.safetensors"})
		}, []string{`"a"`, "sub/x.safetensors"}},
		{"duplicate across shards", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "s1.safetensors"), "a", "dup")
			writeShard(t, filepath.Join(dir, "s2.safetensors"), "b", "dup")
			writeIndex(t, dir, map[string]string{"a": "s1.safetensors", "b": "s2.safetensors", "dup": "s1.safetensors"})
		}, []string{`"dup"`, "s1.safetensors", "s2.safetensors"}},
		{"empty weight_map", func(t *testing.T, dir string) {
			writeIndex(t, dir, map[string]string{})
		}, []string{"model.safetensors.index.json", "weight_map"}},
		{"weight_map not strings", func(t *testing.T, dir string) {
			writeIndex(t, dir, map[string]int{"a": 1})
		}, []string{"model.safetensors.index.json", `"a"`}},
		{"bad index json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(`{"weight_map": {`), 0o644)
		}, []string{"model.safetensors.index.json", "invalid JSON"}},
		{"corrupt shard", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "s1.safetensors"), []byte{1, 2, 3}, 0o644)
			writeIndex(t, dir, map[string]string{"a": "s1.safetensors"})
		}, []string{"s1.safetensors", "too short"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			s, err := Open(dir)
			require.Error(t, err)
			assert.Nil(t, s)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			t.Logf("%v", err)
		})
	}
}

// TestOpenVariants covers the layouts Open accepts and refuses, and Close.
func TestOpenVariants(t *testing.T) {
	// A valid sharded directory built here, opened by directory and by
	// index path; Close releases every shard's mapping, twice is fine.
	dir := t.TempDir()
	writeShard(t, filepath.Join(dir, "s1.safetensors"), "a", "b")
	writeShard(t, filepath.Join(dir, "s2.safetensors"), "c")
	idx := writeIndex(t, dir, map[string]string{"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"})
	for _, p := range []string{dir, idx} {
		s, err := Open(p)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "c"}, s.Names())
		assert.Equal(t, map[string]string{"format": "pt", "total_size": "8"}, s.Metadata())
		c, err := s.Tensor("c")
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(dir, "s2.safetensors"), c.File)
		assert.Len(t, s.mappings, 2)
		require.NoError(t, s.Close())
		assert.Empty(t, s.mappings)
		require.NoError(t, s.Close())
	}

	// A directory holding only pytorch_model.bin.
	tdir := t.TempDir()
	b, err := os.ReadFile("testdata/f16.pt")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(tdir, "pytorch_model.bin"), b, 0o644))
	s, err := Open(tdir)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, s.Names())
	s.Close()

	// Sharded torch checkpoint (pytorch_model.bin.index.json).
	require.NoError(t, os.Rename(filepath.Join(tdir, "pytorch_model.bin"), filepath.Join(tdir, "part1.bin")))
	ib, _ := json.Marshal(map[string]any{"weight_map": map[string]string{"a": "part1.bin", "b": "part1.bin"}})
	require.NoError(t, os.WriteFile(filepath.Join(tdir, "pytorch_model.bin.index.json"), ib, 0o644))
	s, err = Open(tdir)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, s.Names())
	s.Close()

	// Empty file, empty directory, missing path.
	empty := filepath.Join(t.TempDir(), "empty.safetensors")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err = Open(empty)
	assert.ErrorContains(t, err, "empty.safetensors")
	edir := t.TempDir()
	_, err = Open(edir)
	assert.ErrorContains(t, err, edir)
	_, err = Open(filepath.Join(edir, "missing"))
	assert.ErrorContains(t, err, "missing")
}

// TestOpenNotZipTorch checks that a .bin file that is not a zip archive is
// reported as such rather than as a broken safetensors header.
func TestOpenNotZipTorch(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pytorch_model.bin")
	require.NoError(t, os.WriteFile(p, []byte("definitely not a zip archive"), 0o644))
	_, err := Open(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pytorch_model.bin")
	assert.Contains(t, err.Error(), "zip")
}
