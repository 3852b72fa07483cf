package transformer

import (
	"fmt"
	"io/fs"
	"path"

	"github.com/lvm-go/lvm/internal/weights"
)

// LoadFS reads a model from dir in fsys (for example a checkpoint embedded
// with go:embed): dir/config.json and dir/model.safetensors. The file is
// read into memory once and the weights alias it, in its dtype.
func LoadFS(fsys fs.FS, dir string) (*Model, error) {
	data, err := fs.ReadFile(fsys, path.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("transformer: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, err
	}
	name := path.Join(dir, "model.safetensors")
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("transformer: %w", err)
	}
	set, err := weights.ParseSafetensors(name, raw)
	if err != nil {
		return nil, fmt.Errorf("transformer: %w", err)
	}
	return newModel(cfg, set)
}
