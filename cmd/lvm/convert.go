package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lvm-go/lvm/internal/half"
	"github.com/lvm-go/lvm/internal/weights"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("convert", "rewrite a transformer checkpoint's weights in another dtype (f16, bf16, f32)", runConvert)
}

// runConvert is "lvm convert": it reads a transformer checkpoint (any
// layout transformer.Load reads: model.safetensors, a sharded index or
// pytorch_model.bin) and writes DIR/config.json, with torch_dtype set to
// the new dtype and every other key kept, and DIR/model.safetensors with
// every tensor converted (round to nearest even; f16 overflows become ±Inf
// and are reported). Tensors already in the dtype are copied unchanged.
// The converted weights are held in memory while the file is written.
//
//	lvm convert --model DIR --out DIR --dtype f16|bf16|f32
func runConvert(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("convert", stderr)
	modelDir := fs.String("model", "", "transformer checkpoint `DIR` to read")
	outDir := fs.String("out", "", "`DIR` to write config.json and model.safetensors into (not --model's)")
	dtypeArg := fs.String("dtype", "f16", "dtype of the written weights: f16, bf16 or f32")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm convert --model DIR --out DIR [--dtype f16|bf16|f32]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	usageErr := func(msg string) error {
		fs.Usage()
		return fmt.Errorf("%w: %s", errUsage, msg)
	}
	dt, ok := convertDTypes[strings.ToLower(*dtypeArg)]
	switch {
	case fs.NArg() != 0:
		return usageErr("unexpected arguments " + strings.Join(fs.Args(), " "))
	case *modelDir == "" || *outDir == "":
		return usageErr("need --model and --out")
	case !ok:
		return usageErr(fmt.Sprintf("--dtype %q: want f16, bf16 or f32", *dtypeArg))
	}
	if same, err := sameDir(*modelDir, *outDir); err != nil {
		return err
	} else if same {
		return usageErr("--out must be another directory than --model")
	}
	sum, err := convertCheckpoint(*modelDir, *outDir, dt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d tensors (%s → %s, %.1f MB) to %s\n", sum.tensors, strings.Join(sum.from, "+"), dt.name,
		float64(sum.bytes)/1e6, filepath.Join(*outDir, "model.safetensors"))
	if sum.overflow > 0 {
		fmt.Fprintf(stderr, "lvm convert: warning: %d values are out of the range of %s and became ±Inf\n", sum.overflow, dt.name)
	}
	return nil
}

// convertDType is a dtype lvm convert writes.
type convertDType struct {
	name  string // f16, bf16, f32
	torch string // config.json torch_dtype
	st    weights.DType
}

var convertDTypes = map[string]convertDType{
	"f16":  {"f16", "float16", weights.F16},
	"bf16": {"bf16", "bfloat16", weights.BF16},
	"f32":  {"f32", "float32", weights.F32},
}

type convertSummary struct {
	tensors  int
	bytes    int64
	from     []string // the input's dtypes, in order of first appearance
	overflow int      // finite values that became ±Inf
}

// sameDir reports whether a and b name the same directory (b may not
// exist yet).
func sameDir(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if os.IsNotExist(err) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// convertCheckpoint writes model's config and weights to out in dt.
func convertCheckpoint(model, out string, dt convertDType) (sum convertSummary, err error) {
	if st, err := os.Stat(model); err != nil {
		return sum, err
	} else if !st.IsDir() {
		return sum, fmt.Errorf("--model %s is not a directory", model)
	}
	cfgPath := filepath.Join(model, "config.json")
	rawCfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return sum, err
	}
	if _, err := transformer.ParseConfig(rawCfg); err != nil {
		return sum, fmt.Errorf("%s: %w", cfgPath, err)
	}
	newCfg, err := setTorchDType(rawCfg, dt.torch)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", cfgPath, err)
	}
	// Loading the model (weights left mapped, in their file dtype) checks
	// that the tensors are the configuration's, before anything is written.
	probe, err := transformer.LoadWith(model, transformer.LoadOptions{Layout: transformer.LayoutStored})
	if err != nil {
		return sum, err
	}
	if err := probe.Close(); err != nil {
		return sum, err
	}
	set, err := weights.Open(model)
	if err != nil {
		return sum, err
	}
	defer set.Close()
	var tensors []*weights.Tensor
	for _, name := range set.Names() {
		t, err := set.Tensor(name)
		if err != nil {
			return sum, err
		}
		if from := strings.ToLower(t.DType.String()); !slices.Contains(sum.from, from) {
			sum.from = append(sum.from, from)
		}
		c, overflow, err := convertTensor(t, dt.st)
		if err != nil {
			return sum, err
		}
		sum.overflow += overflow
		sum.bytes += int64(len(c.Data))
		tensors = append(tensors, c)
	}
	sum.tensors = len(tensors)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return sum, err
	}
	if err := weights.WriteSafetensors(filepath.Join(out, "model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
		return sum, err
	}
	if err := os.WriteFile(filepath.Join(out, "config.json"), newCfg, 0o644); err != nil {
		return sum, err
	}
	// Read the result back as the library will.
	m, err := transformer.Load(out)
	if err != nil {
		return sum, fmt.Errorf("the written checkpoint does not load: %w", err)
	}
	return sum, m.Close()
}

// setTorchDType returns the config JSON with torch_dtype set and every
// other key kept (numbers as written; keys in sorted order).
func setTorchDType(raw []byte, torch string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	m["torch_dtype"] = torch
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// convertTensor returns t with its data in dt (t itself when it already is)
// and the number of finite values that overflowed to ±Inf.
func convertTensor(t *weights.Tensor, dt weights.DType) (*weights.Tensor, int, error) {
	if t.DType == dt {
		return t, 0, nil
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, 0, err
	}
	data := make([]byte, len(f)*dt.Size())
	overflow := 0
	for i, v := range f {
		switch dt {
		case weights.F32:
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		case weights.F16:
			h := half.F32ToF16(v)
			if h&0x7fff == 0x7c00 && !math.IsInf(float64(v), 0) {
				overflow++
			}
			binary.LittleEndian.PutUint16(data[2*i:], h)
		case weights.BF16:
			h := half.F32ToBF16(v)
			if h&0x7fff == 0x7f80 && !math.IsInf(float64(v), 0) {
				overflow++
			}
			binary.LittleEndian.PutUint16(data[2*i:], h)
		default:
			return nil, 0, fmt.Errorf("cannot write dtype %v", dt)
		}
	}
	return &weights.Tensor{Name: t.Name, DType: dt, Shape: append([]int(nil), t.Shape...), Data: data}, overflow, nil
}
