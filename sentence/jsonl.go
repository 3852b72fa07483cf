package sentence

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// record is one line of the official trainer's data: the sentence's tokens
// as base64 of little-endian int32.
type record struct {
	Tokens string `json:"tokens"`
}

// EncodeTokens returns the trainer's representation of tokens: base64 of
// little-endian int32. Ids must fit in int32.
func EncodeTokens(tokens []int) (string, error) {
	buf := make([]byte, 4*len(tokens))
	for i, t := range tokens {
		if t < math.MinInt32 || t > math.MaxInt32 {
			return "", fmt.Errorf("sentence: token %d at position %d does not fit in int32", t, i)
		}
		binary.LittleEndian.PutUint32(buf[4*i:], uint32(int32(t)))
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}

// DecodeTokens parses the trainer's base64 int32 representation.
func DecodeTokens(s string) ([]int, error) {
	buf, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("sentence: tokens are not base64: %w", err)
	}
	if len(buf)%4 != 0 {
		return nil, fmt.Errorf("sentence: tokens are %d bytes, not a whole number of int32", len(buf))
	}
	out := make([]int, len(buf)/4)
	for i := range out {
		out[i] = int(int32(binary.LittleEndian.Uint32(buf[4*i:])))
	}
	return out, nil
}

// WriteJSONL writes one line {"tokens": "<base64 int32 LE>"} per sentence.
// Each element of sentences is a flat token sequence (VisualSentence.Tokens).
func WriteJSONL(w io.Writer, sentences ...[]int) error {
	bw := bufio.NewWriter(w)
	for i, s := range sentences {
		enc, err := EncodeTokens(s)
		if err != nil {
			return fmt.Errorf("sentence %d: %w", i, err)
		}
		line, _ := json.Marshal(record{Tokens: enc})
		bw.Write(line)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// JSONLReader reads the trainer's JSON-lines files one sentence at a time.
type JSONLReader struct {
	sc   *bufio.Scanner
	line int
}

// NewJSONLReader returns a reader over r. Lines may be up to 64 MiB.
func NewJSONLReader(r io.Reader) *JSONLReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	return &JSONLReader{sc: sc}
}

// Next returns the next sentence's tokens, or io.EOF after the last one.
// Blank lines are skipped; an error names the line.
func (r *JSONLReader) Next() ([]int, error) {
	for r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		var rec struct {
			Tokens *string `json:"tokens"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", r.line, err)
		}
		if rec.Tokens == nil {
			return nil, fmt.Errorf("line %d: no \"tokens\" field", r.line)
		}
		toks, err := DecodeTokens(*rec.Tokens)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", r.line, err)
		}
		return toks, nil
	}
	if err := r.sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", r.line+1, err)
	}
	return nil, io.EOF
}

// ReadJSONL reads every sentence of r.
func ReadJSONL(r io.Reader) ([][]int, error) {
	jr := NewJSONLReader(r)
	var out [][]int
	for {
		s, err := jr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Packer turns a stream of sentences into training rows the way the
// official trainer does: every sentence is appended to one token stream (no
// separators, no attention or position reset at sentence boundaries), and
// the stream is cut into rows of N+1 tokens starting every N tokens, so row
// r is stream[r·N : r·N+N+1]; its first N tokens are the inputs and its last
// N the targets, and consecutive rows share one token.
type Packer struct {
	n   int
	buf []int
}

// NewPacker returns a Packer for rows of n inputs (4096 in the official
// recipe).
func NewPacker(n int) (*Packer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("sentence: packer row length %d must be positive", n)
	}
	return &Packer{n: n}, nil
}

// Add appends a sentence's tokens to the stream and returns the rows it
// completes, each of N+1 tokens (newly allocated).
func (p *Packer) Add(tokens []int) [][]int {
	p.buf = append(p.buf, tokens...)
	var rows [][]int
	for len(p.buf) >= p.n+1 {
		rows = append(rows, append([]int(nil), p.buf[:p.n+1]...))
		p.buf = append(p.buf[:0], p.buf[p.n:]...)
	}
	return rows
}

// Pending is the number of tokens waiting for a row to complete.
func (p *Packer) Pending() int { return len(p.buf) }
