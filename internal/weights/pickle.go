package weights

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file holds a restricted pickle interpreter: enough of protocols 2–5
// to load a PyTorch state dict, and nothing that can run code. Classes and
// functions (GLOBAL, STACK_GLOBAL) resolve only through an allow-list to
// inert Go values; "calling" them (REDUCE, NEWOBJ) builds plain data. Every
// resource is bounded: the stack, the mark stack, the memo, the number of
// containers and the string lengths (by the input itself), and each opcode
// consumes at least one input byte, so the interpreter always stops. The
// memory it builds is estimated as it goes and capped at
// pickleMemFactor·len(input) + 1 MiB.

// Limits of the interpreter. Real state dicts stay far below them (a 7B
// LLaMA pickle has ~300 tensors and a stack of a few thousand entries).
const (
	maxPickleStack   = 1 << 21
	maxPickleMarks   = 4096
	maxPickleMemo    = 1 << 21
	maxPickleObjects = 1 << 22
	maxGlobalName    = 256
	pickleMemFactor  = 32
)

// Estimated Go memory, in bytes, of what the interpreter builds; charged
// against the memory budget.
const (
	costSlot   = 16 // one interface value (stack slot, list or tuple item)
	costDict   = 96 // an empty dict
	costEntry  = 64 // one dict entry (key, value, index)
	costList   = 48
	costTuple  = 24
	costObject = 96 // a storage or tensor record
	costMemo   = 48
	costString = 16
)

// Python values produced by the interpreter. None is nil, bool is bool,
// int is int64, float is float64 and str is string.
type (
	pyBytes string // bytes
	pyTuple []any  // tuple (immutable)
	// pyList is a list; a pointer, since lists are mutable and shared
	// through the memo.
	pyList struct{ items []any }
	// pyDict is a dict or OrderedDict keeping insertion order. Only
	// hashable scalar keys (str, bytes, int, float, bool, None) are
	// supported.
	pyDict struct {
		keys  []any
		vals  []any
		index map[any]int
	}
	// pyGlobal is an allow-listed class, function or constant.
	pyGlobal struct {
		kind   globalKind
		module string
		name   string
	}
)

// globalKind says what an allow-listed global is.
type globalKind uint8

const (
	gOrderedDict      globalKind = iota + 1 // collections.OrderedDict
	gRebuildTensorV2                        // torch._utils._rebuild_tensor_v2
	gRebuildParameter                       // torch._utils._rebuild_parameter
	gStorageType                            // torch.FloatStorage etc., torch.UntypedStorage
	gDType                                  // torch.float32 etc.
)

func (g pyGlobal) String() string { return g.module + "." + g.name }

// torchStorageTypes lists the storage classes torch.save may name, with the
// DType they hold (0: a type this package cannot load as a tensor, accepted
// as a name so the error can name the tensor instead of the class).
var torchStorageTypes = map[string]DType{
	"FloatStorage": F32, "HalfStorage": F16, "BFloat16Storage": BF16,
	"DoubleStorage": 0, "LongStorage": 0, "IntStorage": 0, "ShortStorage": 0,
	"CharStorage": 0, "ByteStorage": 0, "BoolStorage": 0,
	"ComplexFloatStorage": 0, "ComplexDoubleStorage": 0, "UntypedStorage": 0,
}

// lookupGlobal resolves module.name through the allow-list.
func lookupGlobal(module, name string) (pyGlobal, error) {
	g := pyGlobal{module: module, name: name}
	switch module {
	case "collections":
		if name == "OrderedDict" {
			g.kind = gOrderedDict
		}
	case "torch._utils":
		switch name {
		case "_rebuild_tensor_v2":
			g.kind = gRebuildTensorV2
		case "_rebuild_parameter":
			g.kind = gRebuildParameter
		}
	case "torch":
		if _, ok := torchStorageTypes[name]; ok {
			g.kind = gStorageType
		}
		switch name {
		case "float32", "float16", "bfloat16":
			g.kind = gDType
		}
	case "torch.storage":
		if name == "UntypedStorage" {
			g.kind = gStorageType
		}
	}
	if g.kind == 0 {
		return g, fmt.Errorf("forbidden global %s.%s (only state-dict globals are allowed)", module, name)
	}
	return g, nil
}

// newDict returns an empty dict.
func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

// set stores d[k] = v (Python semantics: an existing key keeps its place).
func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, pyBytes, int64, float64, bool, nil:
	default:
		return fmt.Errorf("unsupported dict key type %s", typeName(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// get returns d[k].
func (d *pyDict) get(k any) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// typeName names the Python type of v for messages (never formats v itself,
// which may be cyclic).
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return v.String()
	case *storageRef:
		return "storage"
	case *pendingTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// unpickler is the interpreter state.
type unpickler struct {
	data    []byte
	pos     int
	stack   []any
	marks   []int
	memo    map[uint64]any
	objects int
	// used and budget are the estimated bytes built and the cap on them.
	used, budget int64
	// stackHigh is the largest stack depth charged so far.
	stackHigh int
	// persistentLoad resolves a BINPERSID id.
	persistentLoad func(pid any) (any, error)
}

// unpickle runs the pickle program in data and returns the object STOP
// leaves. Errors carry the failing opcode's offset.
func unpickle(data []byte, persistentLoad func(pid any) (any, error)) (any, error) {
	return newUnpickler(data, persistentLoad).run()
}

// newUnpickler prepares to run the pickle in data.
func newUnpickler(data []byte, persistentLoad func(pid any) (any, error)) *unpickler {
	return &unpickler{
		data:           data,
		memo:           map[uint64]any{},
		persistentLoad: persistentLoad,
		budget:         pickleMemFactor*int64(len(data)) + 1<<20,
	}
}

func (u *unpickler) errf(at int, format string, args ...any) error {
	return fmt.Errorf("pickle: at byte %d: "+format, append([]any{at}, args...)...)
}

// read returns the next n input bytes.
func (u *unpickler) read(n uint64) ([]byte, bool) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, false
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, true
}

// readLine returns the bytes up to the next '\n' (at most maxGlobalName).
func (u *unpickler) readLine() (string, bool) {
	for i := u.pos; i < len(u.data) && i-u.pos <= maxGlobalName; i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, true
		}
	}
	return "", false
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxPickleStack {
		return fmt.Errorf("stack deeper than %d", maxPickleStack)
	}
	if len(u.stack) >= u.stackHigh {
		u.stackHigh = len(u.stack) + 1
		if err := u.charge(costSlot); err != nil {
			return err
		}
	}
	u.stack = append(u.stack, v)
	return nil
}

// charge adds n bytes to the memory estimate.
func (u *unpickler) charge(n int) error {
	u.used += int64(n)
	if u.used > u.budget {
		return fmt.Errorf("pickle of %d bytes builds more than %d bytes of objects", len(u.data), u.budget)
	}
	return nil
}

// newObject counts one created object of about cost bytes against
// maxPickleObjects and the memory budget.
func (u *unpickler) newObject(cost int) error {
	u.objects++
	if u.objects > maxPickleObjects {
		return fmt.Errorf("more than %d objects", maxPickleObjects)
	}
	return u.charge(cost)
}

func (u *unpickler) pop() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && u.marks[len(u.marks)-1] >= n) {
		return nil, fmt.Errorf("stack underflow")
	}
	v := u.stack[n-1]
	u.stack[n-1] = nil
	u.stack = u.stack[:n-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && u.marks[len(u.marks)-1] >= n) {
		return nil, fmt.Errorf("stack underflow")
	}
	return u.stack[n-1], nil
}

// popMark removes everything above the topmost MARK and returns it. The
// result aliases the stack's backing array: use it before pushing again.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, fmt.Errorf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := u.stack[m:]
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoPut(idx uint64, v any) error {
	if _, ok := u.memo[idx]; !ok {
		if len(u.memo) >= maxPickleMemo {
			return fmt.Errorf("memo larger than %d entries", maxPickleMemo)
		}
		if err := u.charge(costMemo); err != nil {
			return err
		}
	}
	u.memo[idx] = v
	return nil
}

// Pickle opcodes understood by the interpreter.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

// run is the interpreter loop.
func (u *unpickler) run() (any, error) {
	for {
		at := u.pos
		if u.pos >= len(u.data) {
			return nil, u.errf(at, "input ends without STOP")
		}
		op := u.data[u.pos]
		u.pos++
		if err := u.step(op); err != nil {
			if err == errStop {
				v, err := u.pop()
				if err != nil {
					return nil, u.errf(at, "STOP: %v", err)
				}
				return v, nil
			}
			return nil, u.errf(at, "opcode 0x%02x: %v", op, err)
		}
	}
}

var errStop = fmt.Errorf("STOP")

// readLen reads an n-byte little-endian unsigned length.
func (u *unpickler) readLen(n int) (uint64, error) {
	b, ok := u.read(uint64(n))
	if !ok {
		return 0, fmt.Errorf("truncated")
	}
	switch n {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), nil
	}
	return binary.LittleEndian.Uint64(b), nil
}

// readBytes reads an n-byte length then that many bytes.
func (u *unpickler) readBytes(lenSize int) ([]byte, error) {
	n, err := u.readLen(lenSize)
	if err != nil {
		return nil, err
	}
	b, ok := u.read(n)
	if !ok {
		return nil, fmt.Errorf("string of %d bytes runs past the end", n)
	}
	return b, nil
}

// step executes one opcode.
func (u *unpickler) step(op byte) error {
	switch op {
	case opProto:
		b, ok := u.read(1)
		if !ok {
			return fmt.Errorf("truncated")
		}
		if b[0] < 2 || b[0] > 5 {
			return fmt.Errorf("unsupported pickle protocol %d", b[0])
		}
		return nil
	case opFrame:
		_, err := u.readLen(8) // framing does not change the meaning
		return err
	case opStop:
		return errStop
	case opMark:
		if len(u.marks) >= maxPickleMarks {
			return fmt.Errorf("more than %d nested MARKs", maxPickleMarks)
		}
		u.marks = append(u.marks, len(u.stack))
		return nil
	case opPop:
		_, err := u.pop()
		return err
	case opPopMark:
		_, err := u.popMark()
		return err
	case opDup:
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.push(v)

	case opNone:
		return u.push(nil)
	case opNewTrue:
		return u.push(true)
	case opNewFalse:
		return u.push(false)
	case opBinInt:
		b, ok := u.read(4)
		if !ok {
			return fmt.Errorf("truncated")
		}
		return u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case opBinInt1:
		n, err := u.readLen(1)
		if err != nil {
			return err
		}
		return u.push(int64(n))
	case opBinInt2:
		n, err := u.readLen(2)
		if err != nil {
			return err
		}
		return u.push(int64(n))
	case opLong1, opLong4:
		size := 1
		if op == opLong4 {
			size = 4
		}
		b, err := u.readBytes(size)
		if err != nil {
			return err
		}
		v, err := decodeLong(b)
		if err != nil {
			return err
		}
		return u.push(v)
	case opBinFloat:
		b, ok := u.read(8)
		if !ok {
			return fmt.Errorf("truncated")
		}
		return u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))

	case opShortBinUni, opShortBinString:
		b, err := u.readBytes(1)
		if err != nil {
			return err
		}
		if err := u.charge(costString + len(b)); err != nil {
			return err
		}
		return u.push(string(b))
	case opBinUnicode, opBinString:
		b, err := u.readBytes(4)
		if err != nil {
			return err
		}
		if err := u.charge(costString + len(b)); err != nil {
			return err
		}
		return u.push(string(b))
	case opBinUnicode8:
		b, err := u.readBytes(8)
		if err != nil {
			return err
		}
		if err := u.charge(costString + len(b)); err != nil {
			return err
		}
		return u.push(string(b))
	case opShortBinBytes:
		b, err := u.readBytes(1)
		if err != nil {
			return err
		}
		if err := u.charge(costString + len(b)); err != nil {
			return err
		}
		return u.push(pyBytes(b))
	case opBinBytes:
		b, err := u.readBytes(4)
		if err != nil {
			return err
		}
		if err := u.charge(costString + len(b)); err != nil {
			return err
		}
		return u.push(pyBytes(b))
	case opBinBytes8:
		b, err := u.readBytes(8)
		if err != nil {
			return err
		}
		if err := u.charge(costString + len(b)); err != nil {
			return err
		}
		return u.push(pyBytes(b))

	case opEmptyDict:
		if err := u.newObject(costDict); err != nil {
			return err
		}
		return u.push(newDict())
	case opEmptyList:
		if err := u.newObject(costList); err != nil {
			return err
		}
		return u.push(&pyList{})
	case opEmptyTuple:
		return u.push(pyTuple(nil))
	case opTuple, opList:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if err := u.newObject(costList + costSlot*len(items)); err != nil {
			return err
		}
		cp := append([]any(nil), items...)
		clear(items)
		if op == opList {
			return u.push(&pyList{items: cp})
		}
		return u.push(pyTuple(cp))
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		t := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := u.pop()
			if err != nil {
				return err
			}
			t[i] = v
		}
		if err := u.newObject(costTuple + costSlot*n); err != nil {
			return err
		}
		return u.push(t)
	case opDict:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return fmt.Errorf("DICT with an odd number of items")
		}
		if err := u.newObject(costDict + costEntry*len(items)/2); err != nil {
			return err
		}
		d := newDict()
		for i := 0; i < len(items); i += 2 {
			if err := d.set(items[i], items[i+1]); err != nil {
				return err
			}
		}
		clear(items)
		return u.push(d)

	case opSetItem:
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		return u.setItems([]any{k, v})
	case opSetItems:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return fmt.Errorf("SETITEMS with an odd number of items")
		}
		err = u.setItems(items)
		clear(items)
		return err
	case opAppend:
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.appendItems([]any{v})
	case opAppends:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		err = u.appendItems(items)
		clear(items)
		return err

	case opBinPut, opLongBinPut:
		size := 1
		if op == opLongBinPut {
			size = 4
		}
		idx, err := u.readLen(size)
		if err != nil {
			return err
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.memoPut(idx, v)
	case opMemoize:
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.memoPut(uint64(len(u.memo)), v)
	case opBinGet, opLongBinGet:
		size := 1
		if op == opLongBinGet {
			size = 4
		}
		idx, err := u.readLen(size)
		if err != nil {
			return err
		}
		v, ok := u.memo[idx]
		if !ok {
			return fmt.Errorf("memo key %d not defined", idx)
		}
		return u.push(v)

	case opGlobal:
		module, ok1 := u.readLine()
		name, ok2 := u.readLine()
		if !ok1 || !ok2 {
			return fmt.Errorf("GLOBAL: bad or truncated name")
		}
		g, err := lookupGlobal(module, name)
		if err != nil {
			return err
		}
		return u.push(g)
	case opStackGlobal:
		nv, err := u.pop()
		if err != nil {
			return err
		}
		mv, err := u.pop()
		if err != nil {
			return err
		}
		module, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("STACK_GLOBAL needs two strings, got %s and %s", typeName(mv), typeName(nv))
		}
		g, err := lookupGlobal(module, name)
		if err != nil {
			return err
		}
		return u.push(g)
	case opReduce, opNewObj:
		args, err := u.pop()
		if err != nil {
			return err
		}
		callable, err := u.pop()
		if err != nil {
			return err
		}
		t, ok := args.(pyTuple)
		if !ok {
			return fmt.Errorf("arguments are a %s, not a tuple", typeName(args))
		}
		g, ok := callable.(pyGlobal)
		if !ok {
			return fmt.Errorf("cannot call a %s", typeName(callable))
		}
		if op == opNewObj && g.kind != gOrderedDict {
			return fmt.Errorf("NEWOBJ of %s is not allowed", g)
		}
		v, err := u.call(g, t)
		if err != nil {
			return err
		}
		if err := u.newObject(costObject); err != nil {
			return err
		}
		return u.push(v)
	case opBuild:
		if _, err := u.pop(); err != nil { // the state is ignored: nothing we build has behaviour
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		switch obj.(type) {
		case *pyDict, *pendingTensor:
			return nil
		}
		return fmt.Errorf("BUILD on a %s is not allowed", typeName(obj))
	case opBinPersID:
		pid, err := u.pop()
		if err != nil {
			return err
		}
		if u.persistentLoad == nil {
			return fmt.Errorf("persistent ids are not supported here")
		}
		v, err := u.persistentLoad(pid)
		if err != nil {
			return err
		}
		if err := u.newObject(costObject); err != nil {
			return err
		}
		return u.push(v)
	}
	return fmt.Errorf("unsupported opcode")
}

// setItems applies key/value pairs to the dict below them on the stack.
func (u *unpickler) setItems(kv []any) error {
	obj, err := u.top()
	if err != nil {
		return err
	}
	d, ok := obj.(*pyDict)
	if !ok {
		return fmt.Errorf("SETITEM on a %s", typeName(obj))
	}
	if err := u.charge(costEntry * len(kv) / 2); err != nil {
		return err
	}
	for i := 0; i < len(kv); i += 2 {
		if err := d.set(kv[i], kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// appendItems appends to the list below them on the stack.
func (u *unpickler) appendItems(items []any) error {
	obj, err := u.top()
	if err != nil {
		return err
	}
	l, ok := obj.(*pyList)
	if !ok {
		return fmt.Errorf("APPEND on a %s", typeName(obj))
	}
	if err := u.charge(costSlot * len(items)); err != nil {
		return err
	}
	l.items = append(l.items, items...)
	return nil
}

// call "calls" an allow-listed global: it only ever builds data.
func (u *unpickler) call(g pyGlobal, args pyTuple) (any, error) {
	switch g.kind {
	case gOrderedDict:
		if len(args) != 0 {
			return nil, fmt.Errorf("%s with arguments is not supported", g)
		}
		return newDict(), nil
	case gRebuildTensorV2:
		return rebuildTensorV2(args)
	case gRebuildParameter:
		if len(args) < 1 || len(args) > 3 {
			return nil, fmt.Errorf("%s takes 1 to 3 arguments, got %d", g, len(args))
		}
		t, ok := args[0].(*pendingTensor)
		if !ok {
			return nil, fmt.Errorf("%s: data is a %s, not a tensor", g, typeName(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s is not callable", g)
}

// decodeLong decodes a little-endian two's-complement integer of at most 8
// bytes (LONG1/LONG4 payload).
func decodeLong(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > 8 {
		return 0, fmt.Errorf("integer of %d bytes is too large", len(b))
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if len(b) < 8 && b[len(b)-1]&0x80 != 0 { // sign-extend
		v |= ^uint64(0) << (8 * uint(len(b)))
	}
	return int64(v), nil
}
