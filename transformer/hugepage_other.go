//go:build !linux

package transformer

// adviseHugePages is a no-op where transparent huge pages cannot be asked
// for.
func adviseHugePages(b []byte) {}
