package weights

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// Fuzz targets for the two parsers. Seeds are the golden checkpoints plus
// small synthetic files; run for example
//
//	go test -run='^$' -fuzz=FuzzParseTorch -fuzztime=20s ./internal/weights
//
// Both targets require: no panic, an error or a Set whose every tensor has
// a known dtype, Data exactly as long as its shape asks, readable as
// float32, and (safetensors) the Set re-encodes to an equal Set.

// maxFuzzMutant is the largest input the fuzz bodies examine, seeds apart.
// Mutants of the multi-megabyte golden seeds are skipped: they add almost no
// coverage, and once one counts as "interesting" the fuzzer spends its
// whole minimisation time (60 s by default; Go's minimiser is quadratic in
// the input size) on it, stalling short runs. Small seeds derived from the
// golden files stand in for them.
const maxFuzzMutant = 16 << 10

// addSkipSeed adds a large seed that skipMutant rejects, so that rejecting
// a mutant is not new coverage (which would make the fuzzer minimise a
// multi-megabyte input).
func addSkipSeed(f *testing.F) {
	f.Add(make([]byte, maxFuzzMutant+1))
}

// addFileSeeds adds the bytes of each readable file as a seed and returns
// the large ones, which skipMutant lets through.
func addFileSeeds(f *testing.F, paths ...string) (big [][]byte) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Logf("seed %s: %v", p, err)
			continue
		}
		f.Add(b)
		if len(b) > maxFuzzMutant {
			big = append(big, b)
		}
	}
	return big
}

// skipMutant reports whether data is too large to examine and is not one of
// the big seeds.
func skipMutant(data []byte, big [][]byte) bool {
	if len(data) <= maxFuzzMutant {
		return false
	}
	for _, b := range big {
		if bytes.Equal(b, data) {
			return false
		}
	}
	return true
}

// subsetSafetensors encodes in memory the first n tensors (by name) of the
// safetensors file at path whose data are at most 256 bytes, as a small
// seed.
func subsetSafetensors(f *testing.F, path string, n int) []byte {
	s, err := Open(path)
	if err != nil {
		f.Fatalf("seed %s: %v", path, err)
	}
	defer s.Close()
	var ts []*Tensor
	for _, name := range s.Names() {
		x, _ := s.Tensor(name)
		if len(x.Data) <= 256 && len(ts) < n {
			ts = append(ts, x)
		}
	}
	header, sorted, err := safetensorsHeader(ts, s.Metadata())
	if err != nil {
		f.Fatalf("seed %s: %v", path, err)
	}
	var buf bytes.Buffer
	writeSafetensors(&buf, header, sorted)
	return buf.Bytes()
}

// checkSet verifies the invariants every successfully parsed Set must hold.
func checkSet(t *testing.T, s *Set, input []byte) {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(input)))
	hi := lo + uintptr(len(input))
	for _, n := range s.Names() {
		x, err := s.Tensor(n)
		if err != nil {
			t.Fatalf("listed tensor %q: %v", n, err)
		}
		if err := x.check(); err != nil {
			t.Fatalf("parsed tensor fails its own check: %v", err)
		}
		if len(x.Data) > 0 && x.DType == F32 {
			// Data either aliases the input or is a private copy; an
			// alias must lie entirely inside the input.
			p := uintptr(unsafe.Pointer(unsafe.SliceData(x.Data)))
			if p >= lo && p < hi && p+uintptr(len(x.Data)) > hi {
				t.Fatalf("tensor %q runs past the end of the input", n)
			}
		}
		v, err := x.Float32s()
		if err != nil || len(v) != x.NumElements() {
			t.Fatalf("tensor %q: Float32s gave %d values (want %d), err %v", n, len(v), x.NumElements(), err)
		}
	}
}

func FuzzParseSafetensors(f *testing.F) {
	big := addFileSeeds(f,
		goldenVQGANSafetensors,
		filepath.Join(goldenLlamaDir, "model-00002-of-00002.safetensors"),
	)
	addSkipSeed(f)
	f.Add(subsetSafetensors(f, goldenVQGANSafetensors, 3))
	f.Add(subsetSafetensors(f, filepath.Join(goldenLlamaDir, "model-00001-of-00002.safetensors"), 2))
	f.Add(stFile(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},`+
		`"b":{"dtype":"BF16","shape":[],"data_offsets":[4,6]},"c":{"dtype":"F32","shape":[0,3],"data_offsets":[6,6]}}`, 8))
	f.Add(stFile(`{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}       `, 16))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if skipMutant(data, big) {
			return
		}
		s, err := ParseSafetensors("fuzz", data)
		if err != nil {
			if s != nil {
				t.Fatal("error with a non-nil Set")
			}
			return
		}
		checkSet(t, s, data)

		// Round trip through the writer's encoder.
		var ts []*Tensor
		for _, n := range s.Names() {
			x, _ := s.Tensor(n)
			ts = append(ts, x)
		}
		header, sorted, err := safetensorsHeader(ts, s.Metadata())
		if err != nil {
			t.Fatalf("re-encoding a parsed set: %v", err)
		}
		var buf bytes.Buffer
		writeSafetensors(&buf, header, sorted)
		s2, err := ParseSafetensors("again", buf.Bytes())
		if err != nil {
			t.Fatalf("re-parsing the re-encoded set: %v", err)
		}
		names := s.Names()
		if got := s2.Names(); len(got) != len(names) {
			t.Fatalf("round trip: %d names, want %d", len(got), len(names))
		}
		for _, n := range names {
			a, _ := s.Tensor(n)
			b, err := s2.Tensor(n)
			if err != nil || a.DType != b.DType || a.NumElements() != b.NumElements() ||
				len(a.Shape) != len(b.Shape) || !bytes.Equal(a.Data, b.Data) {
				t.Fatalf("round trip changed tensor %q (err %v)", n, err)
			}
		}
		if len(s.Metadata()) != len(s2.Metadata()) {
			t.Fatalf("round trip changed the metadata")
		}
	})
}

func FuzzParseTorch(f *testing.F) {
	// Raw pickles (inputs not starting with "PK") are wrapped into an
	// archive with the storages of testdata/views.pt: small inputs that
	// reach the interpreter and the tensor checks cheaply, and that Go's
	// quadratic minimiser can shrink fast.
	views, err := os.ReadFile("testdata/views.pt")
	if err != nil {
		f.Fatal(err)
	}
	storages := map[string][]byte{}
	zr, err := zip.NewReader(bytes.NewReader(views), int64(len(views)))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range zr.File {
		rc, _ := e.Open()
		body, _ := io.ReadAll(rc)
		rc.Close()
		if e.Name == "views/data.pkl" {
			f.Add(body)
			continue
		}
		storages[e.Name] = body
	}
	f.Add(statePickle(
		tensorSpec{"t", "FloatStorage", "0", 12, 0, []int{4, 3}, []int{1, 4}},
		tensorSpec{"h", "HalfStorage", "1", 48, 2, []int{2, 3}, []int{3, 1}},
	))
	f.Add((&pk{}).op(0x80, 2).global("os", "system").str("true").op(0x85, 'R', '.').Bytes())

	big := addFileSeeds(f,
		goldenVQGANTorch,
		"testdata/f16.pt", "testdata/bf16.pt", "testdata/views.pt", "testdata/linear.pt",
		"testdata/proto4.pt", "testdata/nested_state_dict.pt", "testdata/int64.pt",
	)
	addSkipSeed(f)
	f.Add(zipOf(f, map[string][]byte{
		"a/data.pkl": statePickle(tensorSpec{"w", "HalfStorage", "0", 6, 1, []int{2, 2}, []int{1, 2}}),
		"a/data/0":   make([]byte, 12),
	}))
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Fuzz(func(t *testing.T, data []byte) {
		if skipMutant(data, big) {
			return
		}
		if !bytes.HasPrefix(data, []byte("PK")) {
			data = wrapPickle(data, storages)
		}
		s, err := ParseTorch("fuzz", data)
		if err != nil {
			if s != nil {
				t.Fatal("error with a non-nil Set")
			}
			return
		}
		checkSet(t, s, data)
	})
}

// wrapPickle builds a stored zip archive holding pkl as views/data.pkl and
// the given other entries.
func wrapPickle(pkl []byte, entries map[string][]byte) []byte {
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	add := func(name string, body []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err == nil {
			w.Write(body)
		}
	}
	add("views/data.pkl", pkl)
	for _, name := range []string{"views/data/0", "views/data/1", "views/data/2", "views/data/3", "views/version"} {
		add(name, entries[name])
	}
	zw.Close()
	return out.Bytes()
}
