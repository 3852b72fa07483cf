package weights

import (
	"io/fs"
	"path"
)

// ReadFS reads a one-file checkpoint from dir in fsys (for example files
// embedded with go:embed): the bytes of dir/config.json, then
// dir/model.safetensors parsed into a Set whose tensors alias the file's
// bytes, read into memory once. Errors name the file.
func ReadFS(fsys fs.FS, dir string) (config []byte, set *Set, err error) {
	if config, err = fs.ReadFile(fsys, path.Join(dir, "config.json")); err != nil {
		return nil, nil, err
	}
	name := path.Join(dir, "model.safetensors")
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, nil, err
	}
	if set, err = ParseSafetensors(name, raw); err != nil {
		return nil, nil, err
	}
	return config, set, nil
}
