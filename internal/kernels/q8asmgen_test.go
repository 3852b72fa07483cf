//go:build amd64 && !purego

package kernels

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestQ8AsmUpToDate regenerates the Q8 assembly with q8asmgen.go and
// compares it with the checked-in q8_amd64.s.
func TestQ8AsmUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator with the go command")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile("q8asmgen.go")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "q8asmgen.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goCmd, "run", "q8asmgen.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run q8asmgen.go: %v\n%s", err, out)
	}
	want, err := os.ReadFile(filepath.Join(dir, "q8_amd64.s"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("q8_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("q8_amd64.s is stale: run go generate ./internal/kernels")
	}
}
