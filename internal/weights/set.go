package weights

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Set is a whole checkpoint: named tensors read from one file or from the
// shards of one directory. It is safe for concurrent readers; Close must not
// race with them.
//
// A Set opened with Open owns the memory maps of all its files: the Data of
// every Tensor it returns aliases them and becomes invalid after Close.
type Set struct {
	path     string
	tensors  map[string]*Tensor
	names    []string // sorted
	metadata map[string]string

	mu       sync.Mutex
	mappings [][]byte // released by Close
	closed   bool
}

// Index file names Open looks for in a directory, in this order.
const (
	safetensorsName      = "model.safetensors"
	safetensorsIndexName = "model.safetensors.index.json"
	torchName            = "pytorch_model.bin"
	torchIndexName       = "pytorch_model.bin.index.json"
)

// maxIndexSize bounds the size of a shard index file.
const maxIndexSize = 100 << 20

// Open reads a checkpoint. path is either a file — safetensors, a torch.save
// zip archive (.bin/.pt/.pth, recognised by content), or a
// *.index.json shard index — or a directory holding model.safetensors,
// model.safetensors.index.json (with its shards), pytorch_model.bin or
// pytorch_model.bin.index.json, tried in that order.
//
// Files are memory-mapped read-only; the returned Set owns the mappings and
// must be closed. As with any mapping, truncating a file while it is mapped
// makes later reads of the lost pages fault: do not rewrite checkpoints in
// place while they are open.
func Open(path string) (*Set, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if !fi.IsDir() {
		return openFile(path)
	}
	for _, name := range []string{safetensorsName, safetensorsIndexName, torchName, torchIndexName} {
		p := filepath.Join(path, name)
		if _, err := os.Stat(p); err == nil {
			return openFile(p)
		}
	}
	return nil, fmt.Errorf("weights: %s: directory holds none of %s, %s, %s, %s",
		path, safetensorsName, safetensorsIndexName, torchName, torchIndexName)
}

// openFile opens one checkpoint file or shard index.
func openFile(path string) (*Set, error) {
	if strings.HasSuffix(path, ".index.json") {
		return openSharded(path)
	}
	data, mapped, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	s, err := parseAny(path, data)
	if err != nil {
		if mapped {
			unmapFile(data)
		}
		return nil, err
	}
	if mapped {
		s.mappings = append(s.mappings, data)
	}
	return s, nil
}

// legacyTorchMagic starts every file written by torch.save before the zip
// format (PyTorch < 1.6): a pickled protocol-2 LONG1 magic number.
var legacyTorchMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// parseAny parses data as a torch zip archive or a safetensors file,
// choosing by content.
func parseAny(name string, data []byte) (*Set, error) {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return ParseTorch(name, data)
	case bytes.HasPrefix(data, legacyTorchMagic):
		return nil, fmt.Errorf("weights: %s: legacy (pre-zip, PyTorch < 1.6) torch.save format is not supported; re-save it with a current torch.save", name)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".bin", ".pt", ".pth", ".ckpt":
		return ParseTorch(name, data) // not a zip: ParseTorch says so
	}
	return ParseSafetensors(name, data)
}

// newSet returns an empty Set named path.
func newSet(path string) *Set {
	return &Set{path: path, tensors: make(map[string]*Tensor), metadata: make(map[string]string)}
}

// add inserts t, refusing a duplicate name.
func (s *Set) add(t *Tensor) error {
	if old, ok := s.tensors[t.Name]; ok {
		if old.File != t.File {
			return fmt.Errorf("weights: tensor %q appears twice: in %s and in %s", t.Name, old.File, t.File)
		}
		return fmt.Errorf("weights: %s: tensor %q appears twice", t.File, t.Name)
	}
	s.tensors[t.Name] = t
	return nil
}

// finish computes the sorted name list once all tensors are added.
func (s *Set) finish() {
	s.names = make([]string, 0, len(s.tensors))
	for n := range s.tensors {
		s.names = append(s.names, n)
	}
	sort.Strings(s.names)
}

// Tensor returns the tensor called name. The Tensor is shared: do not modify
// it or its Data. The error names the missing tensor and the set's path.
func (s *Set) Tensor(name string) (*Tensor, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("weights: %s: tensor %q requested after Close", s.path, name)
	}
	t, ok := s.tensors[name]
	if !ok {
		return nil, fmt.Errorf("weights: %s: no tensor %q (checkpoint holds %d tensors)", s.path, name, len(s.tensors))
	}
	return t, nil
}

// Names returns the names of all tensors, sorted. The slice is a fresh copy.
func (s *Set) Names() []string {
	return append([]string(nil), s.names...)
}

// Path returns the file the set was read from: the checkpoint file or
// index file Open resolved (for a directory, the file found in it), or the
// name given to ParseSafetensors / ParseTorch.
func (s *Set) Path() string { return s.path }

// Metadata returns a copy of the checkpoint's string metadata: the
// safetensors "__metadata__" map (for a sharded set, the union over shards,
// first shard wins, plus the index file's "metadata" entries not already
// present, non-string values spelled as JSON). Torch archives have none.
func (s *Set) Metadata() map[string]string {
	m := make(map[string]string, len(s.metadata))
	for k, v := range s.metadata {
		m[k] = v
	}
	return m
}

// Close releases the memory maps. Tensors obtained from the set must not be
// used afterwards. Close is idempotent.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, m := range s.mappings {
		if err := unmapFile(m); err != nil {
			errs = append(errs, fmt.Errorf("weights: %s: munmap: %w", s.path, err))
		}
	}
	s.mappings = nil
	return errors.Join(errs...)
}

// shardIndex is the JSON of a *.index.json file.
type shardIndex struct {
	metadata  map[string]string
	weightMap map[string]string // tensor name → shard file name
}

// parseShardIndex decodes an index file, refusing duplicate keys, a missing
// or empty weight_map and non-string shard names.
func parseShardIndex(path string, data []byte) (*shardIndex, error) {
	idx := &shardIndex{metadata: map[string]string{}, weightMap: map[string]string{}}
	seenMap := false
	err := decodeObject(data, func(key string, raw json.RawMessage) error {
		switch key {
		case "metadata":
			if isJSONNull(raw) {
				return nil
			}
			return decodeObject(raw, func(k string, v json.RawMessage) error {
				var s string
				if err := json.Unmarshal(v, &s); err == nil {
					idx.metadata[k] = s
					return nil
				}
				var c bytes.Buffer
				if err := json.Compact(&c, v); err != nil {
					return fmt.Errorf("metadata %q: %v", k, err)
				}
				idx.metadata[k] = c.String()
				return nil
			})
		case "weight_map":
			seenMap = true
			return decodeObject(raw, func(name string, v json.RawMessage) error {
				var file string
				if err := json.Unmarshal(v, &file); err != nil {
					return fmt.Errorf("weight_map: tensor %q: shard file name is not a string", name)
				}
				idx.weightMap[name] = file
				return nil
			})
		}
		return nil // other keys are ignored
	})
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %v", path, err)
	}
	if !seenMap || len(idx.weightMap) == 0 {
		return nil, fmt.Errorf("weights: %s: index has no weight_map entries", path)
	}
	return idx, nil
}

// validShardName reports whether name is a plain file name (no directory
// part), so that an index cannot point outside its own directory.
func validShardName(name string) bool {
	return name != "" && name != "." && name != ".." &&
		!strings.ContainsAny(name, "/\\\x00") && filepath.Base(name) == name && !filepath.IsAbs(name)
}

// openSharded opens an index file and all the shards it names; the Set owns
// every shard's mapping.
func openSharded(indexPath string) (s *Set, err error) {
	f, err := os.Open(indexPath)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxIndexSize+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", indexPath, err)
	}
	if len(raw) > maxIndexSize {
		return nil, fmt.Errorf("weights: %s: index file larger than %d bytes", indexPath, maxIndexSize)
	}
	idx, err := parseShardIndex(indexPath, raw)
	if err != nil {
		return nil, err
	}
	shardSet := map[string]bool{}
	for name, file := range idx.weightMap {
		if !validShardName(file) {
			return nil, fmt.Errorf("weights: %s: tensor %q: shard %q is not a plain file name in the index's directory", indexPath, name, file)
		}
		shardSet[file] = true
	}
	shards := make([]string, 0, len(shardSet))
	for f := range shardSet {
		shards = append(shards, f)
	}
	sort.Strings(shards)

	dir := filepath.Dir(indexPath)
	s = newSet(indexPath)
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	shardPath := map[string]string{}
	for _, shard := range shards {
		p := filepath.Join(dir, shard)
		shardPath[shard] = p
		data, mapped, err := mapFile(p)
		if err != nil {
			return s, fmt.Errorf("weights: %s: shard %s: %w", indexPath, shard, err)
		}
		if mapped {
			s.mappings = append(s.mappings, data)
		}
		sub, err := parseAny(p, data)
		if err != nil {
			return s, err
		}
		for _, n := range sub.names {
			if err := s.add(sub.tensors[n]); err != nil {
				return s, err
			}
		}
		for k, v := range sub.metadata {
			if _, ok := s.metadata[k]; !ok {
				s.metadata[k] = v
			}
		}
	}
	for k, v := range idx.metadata {
		if _, ok := s.metadata[k]; !ok {
			s.metadata[k] = v
		}
	}
	names := make([]string, 0, len(idx.weightMap))
	for n := range idx.weightMap {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		want := shardPath[idx.weightMap[n]]
		t, ok := s.tensors[n]
		if !ok || t.File != want {
			return s, fmt.Errorf("weights: %s: tensor %q is mapped to shard %s, which does not hold it", indexPath, n, want)
		}
	}
	s.finish()
	return s, nil
}

// isJSONNull reports whether raw is the JSON literal null.
func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// decodeObject walks the JSON object in data, calling fn for each member in
// file order. Duplicate keys, a non-object and trailing garbage are errors.
func decodeObject(data []byte, fn func(key string, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("invalid JSON: expected an object, found %v", tok)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("invalid JSON: expected a key, found %v", tok)
		}
		if seen[key] {
			return fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("invalid JSON at key %q: %v", key, err)
		}
		if err := fn(key, raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("invalid JSON: trailing data after the object")
	}
	return nil
}
