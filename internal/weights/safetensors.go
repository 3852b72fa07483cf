package weights

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// maxSafetensorsHeader bounds the JSON header of a safetensors file.
const maxSafetensorsHeader = 100 << 20

// stEntry is one tensor entry of a safetensors header.
type stEntry struct {
	Dtype       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// stDTypes maps safetensors dtype names to DType; names known to the format
// but unsupported here map to 0 so the error can say so.
var stDTypes = map[string]DType{
	"F32": F32, "F16": F16, "BF16": BF16,
	"F64": 0, "I64": 0, "I32": 0, "I16": 0, "I8": 0, "U64": 0, "U32": 0, "U16": 0, "U8": 0,
	"BOOL": 0, "F8_E4M3": 0, "F8_E5M2": 0,
}

// ParseSafetensors parses a safetensors file held in data; name is used as
// the Set's path and in messages. The tensors' Data alias data, which must
// stay unchanged while the Set is used; the Set owns no mapping (Close is a
// no-op).
//
// The layout is an 8-byte little-endian header length n, n bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [b, e]}, "__metadata__": {...}}
// and the data section, offsets being relative to its start. Everything is
// validated: header length (≤ len(data)−8 and ≤ 100 MB), JSON (no duplicate
// names), dtype (F32, F16, BF16), non-negative dims, shape·size == e−b
// without overflow, 0 ≤ b ≤ e ≤ data section size, and no two tensors'
// spans overlapping.
func ParseSafetensors(name string, data []byte) (*Set, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("weights: %s: %d bytes is too short for a safetensors header", name, len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) || n > maxSafetensorsHeader {
		return nil, fmt.Errorf("weights: %s: safetensors header length %d exceeds the file (%d bytes) or the %d-byte limit",
			name, n, len(data), maxSafetensorsHeader)
	}
	header := data[8 : 8+n]
	body := data[8+n:]
	s := newSet(name)
	type span struct {
		b, e int
		name string
	}
	var spans []span
	err := decodeObject(header, func(key string, raw json.RawMessage) error {
		if key == "__metadata__" {
			if isJSONNull(raw) {
				return nil
			}
			var md map[string]string
			if err := json.Unmarshal(raw, &md); err != nil {
				return fmt.Errorf("__metadata__ is not a map of strings: %v", err)
			}
			for k, v := range md {
				s.metadata[k] = v
			}
			return nil
		}
		var e stEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("tensor %q: bad header entry: %v", key, err)
		}
		if e.Dtype == nil || e.Shape == nil || e.DataOffsets == nil {
			return fmt.Errorf("tensor %q: header entry needs dtype, shape and data_offsets", key)
		}
		dt, known := stDTypes[*e.Dtype]
		if !known {
			return fmt.Errorf("tensor %q: unknown dtype %q", key, *e.Dtype)
		}
		if dt == 0 {
			return fmt.Errorf("tensor %q: unsupported dtype %s (only F32, F16 and BF16)", key, *e.Dtype)
		}
		shape := make([]int, len(*e.Shape))
		for i, d := range *e.Shape {
			if d < 0 || uint64(d) > math.MaxInt {
				return fmt.Errorf("tensor %q: invalid dimension %d in shape %v", key, d, *e.Shape)
			}
			shape[i] = int(d)
		}
		if len(*e.DataOffsets) != 2 {
			return fmt.Errorf("tensor %q: data_offsets needs 2 entries, has %d", key, len(*e.DataOffsets))
		}
		b, end := (*e.DataOffsets)[0], (*e.DataOffsets)[1]
		if b < 0 || b > end || end > int64(len(body)) {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d-byte data section", key, b, end, len(body))
		}
		count, ok := numElements(shape, dt.Size())
		if !ok || int64(count*dt.Size()) != end-b {
			return fmt.Errorf("tensor %q: shape %v of %v does not match its %d data bytes", key, shape, dt, end-b)
		}
		t := &Tensor{Name: key, DType: dt, Shape: shape, Data: body[b:end:end], File: name}
		spans = append(spans, span{int(b), int(end), key})
		s.tensors[key] = t // decodeObject already refuses duplicate keys
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %v", name, err)
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].b != spans[j].b {
			return spans[i].b < spans[j].b
		}
		return spans[i].e < spans[j].e
	})
	last := -1 // index of the non-empty span that ends furthest
	for i, sp := range spans {
		if sp.b == sp.e {
			continue // empty tensors overlap nothing
		}
		if last >= 0 && sp.b < spans[last].e {
			return nil, fmt.Errorf("weights: %s: tensors %q [%d, %d] and %q [%d, %d] overlap",
				name, spans[last].name, spans[last].b, spans[last].e, sp.name, sp.b, sp.e)
		}
		last = i
	}
	s.finish()
	return s, nil
}

// WriteSafetensors writes tensors to path in the safetensors format,
// deterministically: header keys sorted by name, the JSON header padded with
// spaces to a multiple of 8 bytes (so the data section starts 8-byte
// aligned), "__metadata__" included only when metadata is non-empty. Data
// are laid out without gaps — the reference loaders require the tensors to
// tile the data section — ordered by element size (largest first) then name,
// so every tensor starts aligned to its own element size (and to 8 bytes
// whenever the preceding tensors' byte sizes are multiples of 8).
//
// The file is written to a temporary file in the same directory and renamed
// into place. Tensors must have unique non-empty names, a known DType and
// len(Data) == NumElements·DType.Size().
func WriteSafetensors(path string, tensors []*Tensor, metadata map[string]string) (err error) {
	header, sorted, err := safetensorsHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("weights: write %s: %v", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("weights: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	writeSafetensors(w, header, sorted)
	if err = w.Flush(); err != nil {
		return fmt.Errorf("weights: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("weights: write %s: %w", path, err)
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("weights: write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("weights: write %s: %w", path, err)
	}
	return nil
}

// writeSafetensors writes the length prefix, the padded header and the data
// of sorted (as returned by safetensorsHeader) to w; errors are left in w
// (bufio.Writer keeps the first).
func writeSafetensors(w io.Writer, header []byte, sorted []*Tensor) {
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	w.Write(lenBuf[:])
	w.Write(header)
	for _, t := range sorted {
		w.Write(t.Data)
	}
}

// safetensorsHeader validates tensors and returns the padded JSON header and
// the tensors in data order.
func safetensorsHeader(tensors []*Tensor, metadata map[string]string) ([]byte, []*Tensor, error) {
	sorted := make([]*Tensor, 0, len(tensors))
	seen := map[string]bool{}
	for i, t := range tensors {
		if t == nil {
			return nil, nil, fmt.Errorf("tensor #%d is nil", i)
		}
		if t.Name == "" || t.Name == "__metadata__" {
			return nil, nil, fmt.Errorf("tensor #%d has invalid name %q", i, t.Name)
		}
		if seen[t.Name] {
			return nil, nil, fmt.Errorf("tensor %q appears twice", t.Name)
		}
		seen[t.Name] = true
		if err := t.check(); err != nil {
			return nil, nil, err
		}
		sorted = append(sorted, t)
	}
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.DType.Size() != b.DType.Size() {
			return a.DType.Size() > b.DType.Size()
		}
		return a.Name < b.Name
	})
	type entry struct {
		Dtype       string `json:"dtype"`
		Shape       []int  `json:"shape"`
		DataOffsets [2]int `json:"data_offsets"`
	}
	header := make(map[string]any, len(sorted)+1) // encoding/json sorts map keys
	off := 0
	for _, t := range sorted {
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = entry{t.DType.String(), shape, [2]int{off, off + len(t.Data)}}
		off += len(t.Data)
	}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(header); err != nil {
		return nil, nil, err
	}
	hj := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	return hj, sorted, nil
}
