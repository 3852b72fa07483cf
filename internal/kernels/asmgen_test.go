//go:build amd64 && !purego

package kernels

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAsmUpToDate regenerates each checked-in assembly file with its
// generator and compares the two.
func TestAsmUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generators with the go command")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	for _, c := range []struct{ gen, asm string }{
		{"asmgen.go", "kernels_amd64.s"},
		{"q8asmgen.go", "q8_amd64.s"},
		{"f16asmgen.go", "f16_amd64.s"},
	} {
		t.Run(c.asm, func(t *testing.T) {
			dir := t.TempDir()
			src, err := os.ReadFile(c.gen)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, c.gen), src, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(goCmd, "run", c.gen)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go run %s: %v\n%s", c.gen, err, out)
			}
			want, err := os.ReadFile(filepath.Join(dir, c.asm))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(c.asm)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s is stale: run go generate ./internal/kernels", c.asm)
			}
		})
	}
}
