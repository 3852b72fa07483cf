package weights

import (
	"archive/zip"
	"bytes"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeLong(t *testing.T) {
	tests := []struct {
		in   []byte
		want int64
	}{
		{nil, 0},
		{[]byte{0x7f}, 127},
		{[]byte{0x80}, -128},
		{[]byte{0xff, 0x00}, 255},
		{[]byte{0x00, 0x80}, -32768},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, math.MaxInt64},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0x80}, math.MinInt64},
	}
	for _, tc := range tests {
		got, err := decodeLong(tc.in)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "% x", tc.in)
	}
	_, err := decodeLong(make([]byte, 9))
	assert.ErrorContains(t, err, "too large")
}

// TestUnpickleValues runs small hand-written programs through the
// interpreter and checks the value left by STOP.
func TestUnpickleValues(t *testing.T) {
	tests := []struct {
		name string
		prog []byte
		want any
	}{
		{"none", []byte{0x80, 2, 'N', '.'}, nil},
		{"ints", []byte{0x80, 2, '(', 'K', 7, 'M', 0x34, 0x12, 'J', 0xfe, 0xff, 0xff, 0xff, 0x8a, 1, 0xfb, 't', '.'},
			pyTuple{int64(7), int64(0x1234), int64(-2), int64(-5)}},
		{"float", []byte{0x80, 2, 'G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, '.'}, 1.5},
		{"strings", []byte{0x80, 4, 0x95, 20, 0, 0, 0, 0, 0, 0, 0, '(', 0x8c, 2, 'h', 'i', 'C', 1, 'b', 'U', 1, 's',
			0x8d, 1, 0, 0, 0, 0, 0, 0, 0, 'x', 't', '.'}, pyTuple{"hi", pyBytes("b"), "s", "x"}},
		{"bools", []byte{0x80, 2, 0x88, 0x89, 0x86, '.'}, pyTuple{true, false}},
		{"dup pop", []byte{0x80, 2, 'K', 1, '2', 'K', 2, '0', 0x86, '.'}, pyTuple{int64(1), int64(1)}},
		{"pop mark", []byte{0x80, 2, 'K', 9, '(', 'K', 1, 'K', 2, '1', '.'}, int64(9)},
		{"memo", []byte{0x80, 2, 'K', 5, 'r', 0, 1, 0, 0, '0', 'j', 0, 1, 0, 0, '.'}, int64(5)},
	}
	for _, tc := range tests {
		got, err := unpickle(tc.prog, nil)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}

	// Containers: DICT, LIST, APPENDS, SETITEM on an OrderedDict built by
	// NEWOBJ, and a list that contains itself (must not hang anything).
	p := (&pk{}).op(0x80, 2, '(').str("a").op('K', 1).str("b").op(']', '(', 'K', 1, 'K', 2, 'K', 3, 'e', 'd', '.')
	got, err := unpickle(p.Bytes(), nil)
	require.NoError(t, err)
	d := got.(*pyDict)
	assert.Equal(t, []any{"a", "b"}, d.keys)
	assert.Equal(t, []any{int64(1), int64(2), int64(3)}, d.vals[1].(*pyList).items)

	p = (&pk{}).op(0x80, 2).global("collections", "OrderedDict").op(')', 0x81).str("k").op('N', 's', '.')
	got, err = unpickle(p.Bytes(), nil)
	require.NoError(t, err)
	v, ok := got.(*pyDict).get("k")
	assert.True(t, ok)
	assert.Nil(t, v)

	got, err = unpickle([]byte{0x80, 2, ']', '2', 'a', '.'}, nil)
	require.NoError(t, err)
	l := got.(*pyList)
	assert.Same(t, l, l.items[0].(*pyList))
	_, err = stateDict(got)
	assert.ErrorContains(t, err, "list")
}

// TestUnpickleErrors checks refusals and limits.
func TestUnpickleErrors(t *testing.T) {
	deep := append([]byte{0x80, 2}, bytes.Repeat([]byte{'('}, maxPickleMarks+1)...)
	tests := []struct {
		name string
		prog []byte
		want string
	}{
		{"empty", nil, "without STOP"},
		{"mark depth", deep, "nested MARK"},
		{"setitem on list", []byte{0x80, 2, ']', 'K', 1, 'K', 2, 's', '.'}, "SETITEM on a list"},
		{"append on dict", []byte{0x80, 2, '}', 'K', 1, 'a', '.'}, "APPEND on a dict"},
		{"odd setitems", []byte{0x80, 2, '}', '(', 'K', 1, 'u', '.'}, "odd"},
		{"unhashable key", []byte{0x80, 2, '}', ']', 'K', 1, 's', '.'}, "dict key type list"},
		{"call non-global", []byte{0x80, 2, 'K', 1, ')', 'R', '.'}, "cannot call a int"},
		{"args not tuple", (&pk{}).op(0x80, 2).global("collections", "OrderedDict").op('N', 'R', '.').Bytes(), "not a tuple"},
		{"call storage", (&pk{}).op(0x80, 2).global("torch", "FloatStorage").op(')', 'R', '.').Bytes(), "not callable"},
		{"newobj tensor", (&pk{}).op(0x80, 2).global("torch._utils", "_rebuild_tensor_v2").op(')', 0x81, '.').Bytes(), "NEWOBJ"},
		{"build on int", []byte{0x80, 2, 'K', 1, 'N', 'b', '.'}, "BUILD on a int"},
		{"persid unsupported", []byte{0x80, 2, 'N', 'Q', '.'}, "persistent"},
		{"global without newline", []byte{0x80, 2, 'c', 'o', 's'}, "GLOBAL"},
		{"long global", append(append([]byte{0x80, 2, 'c'}, strings.Repeat("a", 300)...), '\n'), "GLOBAL"},
		{"stack global types", []byte{0x80, 2, 'K', 1, 'K', 2, 0x93, '.'}, "two strings"},
		{"mark underflow", []byte{0x80, 2, 'K', 1, '(', 'a', '.'}, "underflow"},
		{"stop at mark", []byte{0x80, 2, '(', '.'}, "underflow"},
		{"truncated binint", []byte{0x80, 2, 'J', 1}, "truncated"},
		{"huge long", []byte{0x80, 2, 0x8b, 9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, '.'}, "too large"},
		{"out-of-band buffer", []byte{0x80, 5, 0x97, '.'}, "unsupported opcode"},
		{"rebuild arity", (&pk{}).op(0x80, 2).global("torch._utils", "_rebuild_tensor_v2").op(')', 'R', '.').Bytes(), "6 or 7"},
		{"rebuild storage type", (&pk{}).op(0x80, 2).global("torch._utils", "_rebuild_tensor_v2").op('(', 'N', 'N', 'N', 'N', 'N', 'N', 't', 'R', '.').Bytes(), "storage is a None"},
		{"parameter of int", (&pk{}).op(0x80, 2).global("torch._utils", "_rebuild_parameter").op('K', 1, 0x85, 'R', '.').Bytes(), "not a tensor"},
	}
	for _, tc := range tests {
		_, err := unpickle(tc.prog, nil)
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
}

// TestUnpickleMemoryBudget checks that a pickle which keeps many objects
// alive is refused once its estimated memory passes the budget, and logs
// how far below the budget the golden VQGAN state dict stays.
func TestUnpickleMemoryBudget(t *testing.T) {
	bomb := append([]byte{0x80, 2, ']'}, bytes.Repeat([]byte{'}', 'a'}, 100000)...)
	bomb = append(bomb, '.')
	_, err := unpickle(bomb, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "builds more than")
	t.Logf("%v", err)

	// The same shape kept small is fine.
	small := append([]byte{0x80, 2, ']'}, bytes.Repeat([]byte{'}', 'a'}, 1000)...)
	_, err = unpickle(append(small, '.'), nil)
	require.NoError(t, err)

	zr, err := zip.OpenReader(goldenVQGANTorch)
	require.NoError(t, err)
	defer zr.Close()
	rc, err := zr.Open("pytorch_model/data.pkl")
	require.NoError(t, err)
	pkl, err := io.ReadAll(rc)
	require.NoError(t, err)
	a := &torchArchive{storages: map[string]*storageRef{}}
	u := newUnpickler(pkl, a.persistentLoad)
	_, err = u.run()
	require.NoError(t, err)
	t.Logf("golden data.pkl: %d bytes, estimated %d bytes built (%.1f× input; budget %d×+1MiB), %d objects, stack high-water %d",
		len(pkl), u.used, float64(u.used)/float64(len(pkl)), pickleMemFactor, u.objects, u.stackHigh)
	assert.Less(t, u.used, int64(pickleMemFactor*len(pkl)))
}
