package tokenizer

import (
	"fmt"
	"io/fs"

	"github.com/lvm-go/lvm/internal/weights"
)

// LoadFS reads a tokenizer from dir in fsys (for example a checkpoint
// embedded with go:embed): dir/config.json and dir/model.safetensors, with
// the same checks as Load.
func LoadFS(fsys fs.FS, dir string) (*Tokenizer, error) {
	data, set, err := weights.ReadFS(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		set.Close()
		return nil, err
	}
	defer set.Close()
	names, shapes, err := ParamNames(cfg)
	if err != nil {
		return nil, err
	}
	params := make(map[string][]float32, len(names))
	for i, n := range names {
		t, err := set.Tensor(n)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		if !equalShape(t.Shape, shapes[i]) {
			return nil, shapeError(n, t.Shape, shapes[i], t.File)
		}
		if params[n], err = t.Float32s(); err != nil {
			return nil, fmt.Errorf("tokenizer: tensor %q: %w", n, err)
		}
	}
	return New(cfg, params)
}
