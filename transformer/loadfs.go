package transformer

import (
	"fmt"
	"io/fs"

	"github.com/lvm-go/lvm/internal/weights"
)

// LoadFS reads a model from dir in fsys (for example a checkpoint embedded
// with go:embed): dir/config.json and dir/model.safetensors. The file is
// read into memory once and the weights alias it, in its dtype.
func LoadFS(fsys fs.FS, dir string) (*Model, error) {
	data, set, err := weights.ReadFS(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("transformer: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		set.Close()
		return nil, err
	}
	return newModel(cfg, set)
}
