package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// storageRef is a storage named by a persistent id
// ('storage', StorageType, key, location, numel); its bytes live in the
// archive entry <prefix>/data/<key> and are loaded on first use.
type storageRef struct {
	typ   pyGlobal // torch.FloatStorage, ...
	key   string
	numel int64 // elements of typ (bytes for an untyped storage)
	data  []byte
	// loaded reports whether data has been fetched.
	loaded bool
}

// pendingTensor is the result of _rebuild_tensor_v2, materialised into a
// Tensor only once its name in the state dict is known (so errors can name
// it).
type pendingTensor struct {
	storage *storageRef
	offset  int64
	size    []int64
	stride  []int64
}

// rebuildTensorV2 checks the argument types of
// torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata]); the numbers are checked when
// the tensor is materialised.
func rebuildTensorV2(args pyTuple) (any, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 takes 6 or 7 arguments, got %d", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is a %s", typeName(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage_offset is a %s", typeName(args[1]))
	}
	size, err := intTuple("size", args[2])
	if err != nil {
		return nil, err
	}
	stride, err := intTuple("stride", args[3])
	if err != nil {
		return nil, err
	}
	return &pendingTensor{storage: st, offset: off, size: size, stride: stride}, nil
}

// intTuple converts a tuple of ints.
func intTuple(what string, v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %s is a %s, not a tuple", what, typeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("_rebuild_tensor_v2: %s[%d] is a %s, not an int", what, i, typeName(x))
		}
		out[i] = n
	}
	return out, nil
}

// torchArchive is a torch.save zip archive being parsed.
type torchArchive struct {
	name     string // for messages
	data     []byte
	entries  map[string]*zip.File
	prefix   string // "<archive>/" before data.pkl, data/, version
	budget   int64  // bytes that may still be allocated (decompression, copies)
	storages map[string]*storageRef
}

// ParseTorch parses a torch.save zip archive held in data (the format of
// pytorch_model.bin since PyTorch 1.6); name is used as the Set's path and
// in messages. The archive's <prefix>/data.pkl must unpickle to a dict of
// tensors, or to a dict holding such a dict under "state_dict" or "model".
//
// Stored (uncompressed) entries — all torch.save writes — are sliced
// zero-copy out of data, so contiguous tensors' Data alias data, which must
// stay unchanged while the Set is used; compressed entries are inflated up
// to a size cap. The pickle is run by a restricted interpreter whose only
// globals are collections.OrderedDict, torch._utils._rebuild_tensor_v2 and
// _rebuild_parameter, the torch.*Storage classes and the torch.float32 /
// float16 / bfloat16 dtypes: any other global is an error naming it, so a
// checkpoint can never run code. Tensors must be float32, float16 or
// bfloat16; non-contiguous strides are copied into a contiguous buffer.
// The total memory allocated for decompression and such copies is capped at
// 2·len(data) + 1 MiB.
func ParseTorch(name string, data []byte) (*Set, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are only lookup keys here
		return nil, fmt.Errorf("weights: %s: not a valid torch zip archive: %v", name, err)
	}
	a := &torchArchive{
		name:     name,
		data:     data,
		entries:  make(map[string]*zip.File, len(zr.File)),
		budget:   2*int64(len(data)) + 1<<20,
		storages: map[string]*storageRef{},
	}
	var pkls []string
	for _, f := range zr.File {
		if _, dup := a.entries[f.Name]; dup {
			return nil, fmt.Errorf("weights: %s: archive entry %s appears twice", name, f.Name)
		}
		a.entries[f.Name] = f
		if f.Name == "data.pkl" || strings.HasSuffix(f.Name, "/data.pkl") {
			pkls = append(pkls, f.Name)
		}
	}
	switch len(pkls) {
	case 0:
		return nil, fmt.Errorf("weights: %s: archive has no data.pkl entry (not a torch.save file)", name)
	case 1:
	default:
		sort.Strings(pkls)
		return nil, fmt.Errorf("weights: %s: archive has several pickles (%s)", name, strings.Join(pkls, ", "))
	}
	a.prefix = strings.TrimSuffix(pkls[0], "data.pkl")
	if f, ok := a.entries[a.prefix+"byteorder"]; ok {
		b, err := a.entry(f, 16)
		if err != nil {
			return nil, err
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("weights: %s: byteorder %q is not supported (only little)", name, b)
		}
	}
	pkl, err := a.entry(a.entries[pkls[0]], math.MaxInt64)
	if err != nil {
		return nil, err
	}
	obj, err := unpickle(pkl, a.persistentLoad)
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %s: %v", name, pkls[0], err)
	}
	sd, err := stateDict(obj)
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %v", name, err)
	}
	s := newSet(name)
	for i, k := range sd.keys {
		key := k.(string) // stateDict checked
		t, err := a.materialize(key, sd.vals[i].(*pendingTensor))
		if err != nil {
			return nil, err
		}
		if err := s.add(t); err != nil {
			return nil, err
		}
	}
	s.finish()
	return s, nil
}

// stateDict finds the dict of tensors in an unpickled object: the object
// itself, or its "state_dict" or "model" entry.
func stateDict(obj any) (*pyDict, error) {
	d, ok := obj.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("pickle holds a %s, not a state dict", typeName(obj))
	}
	bad := tensorDictProblem(d)
	if bad == "" {
		return d, nil
	}
	for _, k := range []string{"state_dict", "model"} {
		if v, ok := d.get(k); ok {
			if sub, ok := v.(*pyDict); ok {
				if p := tensorDictProblem(sub); p != "" {
					return nil, fmt.Errorf("%q: %s", k, p)
				}
				return sub, nil
			}
		}
	}
	return nil, fmt.Errorf("not a state dict: %s", bad)
}

// tensorDictProblem returns "" when d maps strings to tensors, or else a
// description of the first entry that does not.
func tensorDictProblem(d *pyDict) string {
	for i, k := range d.keys {
		ks, ok := k.(string)
		if !ok {
			return fmt.Sprintf("key #%d is of type %s, not str", i, typeName(k))
		}
		if _, ok := d.vals[i].(*pendingTensor); !ok {
			return fmt.Sprintf("entry %q holds a value of type %s, not a tensor", ks, typeName(d.vals[i]))
		}
	}
	return ""
}

// entry returns the bytes of an archive entry: a zero-copy slice of a.data
// for a stored entry, an inflated copy (charged to the budget) otherwise.
// Entries larger than limit are refused.
func (a *torchArchive) entry(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("weights: %s: archive entry %s holds %d bytes, expected at most %d", a.name, f.Name, f.UncompressedSize64, limit)
	}
	switch f.Method {
	case zip.Store:
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("weights: %s: archive entry %s: %v", a.name, f.Name, err)
		}
		n := f.CompressedSize64
		if n != f.UncompressedSize64 || off < 0 || uint64(off) > uint64(len(a.data)) || n > uint64(len(a.data))-uint64(off) {
			return nil, fmt.Errorf("weights: %s: archive entry %s: %d bytes at offset %d lie outside the %d-byte archive (truncated?)",
				a.name, f.Name, n, off, len(a.data))
		}
		return a.data[off : off+int64(n) : off+int64(n)], nil
	case zip.Deflate:
		n := f.UncompressedSize64
		if n > uint64(a.budget) {
			return nil, fmt.Errorf("weights: %s: archive entry %s inflates to %d bytes, over the allocation budget", a.name, f.Name, n)
		}
		a.budget -= int64(n)
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("weights: %s: archive entry %s: %v", a.name, f.Name, err)
		}
		defer rc.Close()
		buf := make([]byte, n)
		if _, err := io.ReadFull(rc, buf); err != nil {
			return nil, fmt.Errorf("weights: %s: archive entry %s: %v", a.name, f.Name, err)
		}
		var one [1]byte
		if k, err := rc.Read(one[:]); k != 0 || err != io.EOF { // EOF also verifies the CRC
			if err == nil || err == io.EOF {
				err = fmt.Errorf("more data than its declared %d bytes", n)
			}
			return nil, fmt.Errorf("weights: %s: archive entry %s: %v", a.name, f.Name, err)
		}
		return buf, nil
	}
	return nil, fmt.Errorf("weights: %s: archive entry %s uses unsupported compression method %d", a.name, f.Name, f.Method)
}

// persistentLoad resolves ('storage', StorageType, key, location, numel).
func (a *torchArchive) persistentLoad(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return nil, fmt.Errorf("persistent id is not a 5-tuple ('storage', type, key, location, numel)")
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return nil, fmt.Errorf("persistent id of kind %s is not supported", typeName(t[0]))
	}
	typ, ok := t[1].(pyGlobal)
	if !ok || typ.kind != gStorageType {
		return nil, fmt.Errorf("persistent id: storage type is a %s", typeName(t[1]))
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("persistent id: key is a %s, not a str", typeName(t[2]))
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("persistent id of storage %q: bad numel", key)
	}
	if st, ok := a.storages[key]; ok {
		if st.typ != typ || st.numel != numel {
			return nil, fmt.Errorf("storage %q is described twice, differently (%s of %d, %s of %d)", key, st.typ, st.numel, typ, numel)
		}
		return st, nil
	}
	st := &storageRef{typ: typ, key: key, numel: numel}
	a.storages[key] = st
	return st, nil
}

// materialize turns a rebuilt tensor into a Tensor called name: a zero-copy
// slice of its storage when the strides are contiguous row-major, a copy
// otherwise.
func (a *torchArchive) materialize(name string, pt *pendingTensor) (*Tensor, error) {
	st := pt.storage
	errf := func(format string, args ...any) error {
		return fmt.Errorf("weights: %s: tensor %q: "+format, append([]any{a.name, name}, args...)...)
	}
	dt := torchStorageTypes[st.typ.name]
	if dt == 0 {
		return nil, errf("unsupported storage type %s (only float32, float16 and bfloat16 tensors)", st.typ)
	}
	es := int64(dt.Size())
	if st.numel > math.MaxInt64/es {
		return nil, errf("storage %q of %d elements is too large", st.key, st.numel)
	}
	if !st.loaded {
		entryName := a.prefix + "data/" + st.key
		f, ok := a.entries[entryName]
		if !ok {
			return nil, errf("archive has no entry %s for its storage", entryName)
		}
		b, err := a.entry(f, st.numel*es)
		if err != nil {
			return nil, fmt.Errorf("%v (tensor %q)", err, name)
		}
		if int64(len(b)) != st.numel*es {
			return nil, errf("storage entry %s holds %d bytes, its %s of %d elements needs %d",
				entryName, len(b), st.typ, st.numel, st.numel*es)
		}
		st.data, st.loaded = b, true
	}
	if len(pt.size) != len(pt.stride) {
		return nil, errf("size %v and stride %v differ in rank", pt.size, pt.stride)
	}
	shape := make([]int, len(pt.size))
	for i, d := range pt.size {
		if d < 0 || uint64(d) > math.MaxInt || pt.stride[i] < 0 {
			return nil, errf("invalid size %v or stride %v", pt.size, pt.stride)
		}
		shape[i] = int(d)
	}
	count, ok := numElements(shape, int(es))
	if !ok {
		return nil, errf("size %v is too large", pt.size)
	}
	if pt.offset < 0 {
		return nil, errf("negative storage offset %d", pt.offset)
	}
	t := &Tensor{Name: name, DType: dt, Shape: shape, File: a.name}
	if count == 0 {
		t.Data = []byte{}
		return t, nil
	}
	// Largest element index touched, which must lie inside the storage.
	last := pt.offset
	contiguous := true
	want := int64(1)
	for i := len(pt.size) - 1; i >= 0; i-- {
		d, s := pt.size[i], pt.stride[i]
		if s > 0 && d-1 > (math.MaxInt64-last)/s {
			return nil, errf("size %v with stride %v overflows", pt.size, pt.stride)
		}
		last += (d - 1) * s
		if d != 1 && s != want {
			contiguous = false
		}
		want *= d
	}
	if last >= st.numel {
		return nil, errf("offset %d, size %v and stride %v reach element %d of a %d-element storage",
			pt.offset, pt.size, pt.stride, last, st.numel)
	}
	if contiguous {
		b := pt.offset * es
		e := b + int64(count)*es
		t.Data = st.data[b:e:e]
		return t, nil
	}
	n := int64(count) * es
	if n > a.budget {
		return nil, errf("non-contiguous copy of %d bytes exceeds the allocation budget", n)
	}
	a.budget -= n
	t.Data = gatherStrided(st.data, int(es), int(pt.offset), shape, pt.stride)
	return t, nil
}

// gatherStrided copies the elements of a strided view (element offsets into
// src, elemSize bytes each) into a new contiguous row-major buffer. The
// caller has checked that every index lies inside src and that the shape has
// no zero dims.
func gatherStrided(src []byte, elemSize, offset int, shape []int, stride []int64) []byte {
	count := 1
	for _, d := range shape {
		count *= d
	}
	out := make([]byte, count*elemSize)
	rank := len(shape)
	if rank == 0 {
		copy(out, src[offset*elemSize:])
		return out
	}
	inner, innerStride := shape[rank-1], int(stride[rank-1])
	idx := make([]int, rank-1) // odometer over the outer dims
	o := 0
	for {
		base := offset
		for i, x := range idx {
			base += x * int(stride[i])
		}
		if innerStride == 1 {
			o += copy(out[o:], src[base*elemSize:(base+inner)*elemSize])
		} else {
			for j := 0; j < inner; j++ {
				p := (base + j*innerStride) * elemSize
				o += copy(out[o:o+elemSize], src[p:p+elemSize])
			}
		}
		// Advance the odometer.
		k := rank - 2
		for ; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return out
		}
	}
}
