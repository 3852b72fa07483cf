package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"

	_ "image/gif"  // decoders for the images users pass in
	_ "image/jpeg" //
	_ "image/png"  //

	"github.com/lvm-go/lvm/internal/demo"
	"github.com/lvm-go/lvm/tokenizer"
)

func init() {
	register("tokenize", "print the token ids of each image, one JSON array per line", runTokenize)
	register("detokenize", "decode JSON arrays of token ids into PNG images", runDetokenize)
}

func runTokenize(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokenize", stderr)
	dir := fs.String("tokenizer", "", "tokenizer directory (config.json + model.safetensors or pytorch_model.bin)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm tokenize --tokenizer DIR IMAGE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --tokenizer and at least one image", errUsage)
	}
	tok, err := tokenizer.Load(*dir)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for _, path := range fs.Args() {
		img, err := readImage(path)
		if err != nil {
			return err
		}
		ids, err := tok.Encode(img)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		line, _ := json.Marshal(ids)
		w.Write(line)
		w.WriteByte('\n')
	}
	return nil
}

func runDetokenize(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("detokenize", stderr)
	dir := fs.String("tokenizer", "", "tokenizer directory")
	tokens := fs.String("tokens", "", "file with one JSON array of token ids per line (- for stdin)")
	out := fs.String("out", "", "output directory for 000.png, 001.png, ...")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lvm detokenize --tokenizer DIR --tokens FILE --out DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *tokens == "" || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --tokenizer, --tokens and --out", errUsage)
	}
	grids, err := readTokenLines(*tokens)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for i, ids := range grids {
		img, err := tok.Decode(ids)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", *tokens, i+1, err)
		}
		name := filepath.Join(*out, fmt.Sprintf("%03d.png", i))
		if err := demo.WritePNG(name, img); err != nil {
			return err
		}
		fmt.Fprintln(stdout, name)
	}
	return nil
}

// readTokenLines reads a file holding one JSON array of ints per non-blank
// line; path "-" reads standard input.
func readTokenLines(path string) ([][]int, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var out [][]int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var ids []int
		if err := json.Unmarshal([]byte(line), &ids); err != nil {
			return nil, fmt.Errorf("%s line %d: not a JSON array of token ids: %v", path, n, err)
		}
		out = append(out, ids)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no token arrays", path)
	}
	return out, nil
}

func readImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}
