package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/lvm-go/lvm/internal/weights"
	"github.com/lvm-go/lvm/tokenizer"
	"github.com/lvm-go/lvm/transformer"
)

func init() {
	register("inspect", "list the tensors of a weight file or directory and its config", runInspect)
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm inspect PATH   (a .safetensors or .bin file, or a checkpoint directory)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: need exactly one PATH", errUsage)
	}
	path := fs.Arg(0)
	set, err := weights.Open(path)
	if err != nil {
		return err
	}
	defer set.Close()

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE")
	var elems, bytes int64
	for _, name := range set.Names() {
		t, err := set.Tensor(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, t.DType, shapeString(t.Shape))
		elems += int64(t.NumElements())
		bytes += int64(len(t.Data))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d tensors, %d parameters, %d bytes\n", len(set.Names()), elems, bytes)

	cfgPath := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		cfgPath = filepath.Dir(path)
	}
	cfgPath = filepath.Join(cfgPath, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		fmt.Fprintf(stdout, "config: none found (%s)\n", cfgPath)
		return nil
	}
	return describeConfig(stdout, cfgPath, data)
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// describeConfig prints the config found beside the weights, typed when it
// is one this library knows.
func describeConfig(w io.Writer, path string, data []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	kind := configKind(raw)
	fmt.Fprintf(w, "config: %s (%s)\n", path, kind)
	return printConfig(w, kind, path, data)
}

func configKind(raw map[string]any) string {
	if c, _ := raw["_class_name"].(string); c == "VQGANModel" {
		return "vqgan"
	}
	if _, ok := raw["channel_mult"]; ok {
		return "vqgan"
	}
	if mt, _ := raw["model_type"].(string); mt == "llama" {
		return "llama"
	}
	if _, ok := raw["num_hidden_layers"]; ok {
		return "llama"
	}
	return "unknown"
}

func printConfig(w io.Writer, kind, path string, data []byte) error {
	switch kind {
	case "vqgan":
		c, err := tokenizer.ParseConfig(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(w, "  resolution %d, channels %d, hidden %d, channel_mult %v, res blocks %d\n",
			c.Resolution, c.NumChannels, c.HiddenChannels, c.ChannelMult, c.NumResBlocks)
		fmt.Fprintf(w, "  z %d, codebook K=%d × E=%d, mid-block attention %v, attn resolutions %v\n",
			c.ZChannels, c.NumEmbeddings, c.QuantizedEmbedDim, !c.NoAttnMidBlock, c.AttnResolutions)
		fmt.Fprintf(w, "  latent grid %d×%d = %d tokens per image\n", c.GridSize(), c.GridSize(), c.TokensPerImage())
	case "llama":
		c, err := transformer.ParseConfig(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(w, "  %s\n", c)
		fmt.Fprintf(w, "  parameters: %d\n", c.NumParams())
	default:
		var buf bytes.Buffer
		if json.Indent(&buf, data, "  ", "  ") == nil {
			fmt.Fprintf(w, "  %s\n", buf.String())
		}
	}
	return nil
}
