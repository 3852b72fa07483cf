package tokenizer

import (
	"os"
	"testing"
	"testing/fstest"
)

func TestLoadFS(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, n := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile("../testdata/vqgan/" + n)
		if err != nil {
			t.Fatal(err)
		}
		fsys["v/"+n] = &fstest.MapFile{Data: data}
	}
	a, err := LoadFS(fsys, "v")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("../testdata/vqgan")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, a.TokensPerImage())
	for i := range ids {
		ids[i] = (i * 37) % a.CodebookSize()
	}
	pa, err := a.DecodePixels(ids)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := b.DecodePixels(ids)
	for i := range pa {
		if pa[i] != pb[i] {
			t.Fatalf("pixel %d: LoadFS %v, Load %v", i, pa[i], pb[i])
		}
	}
	delete(fsys, "v/model.safetensors")
	if _, err := LoadFS(fsys, "v"); err == nil {
		t.Error("LoadFS without weights succeeded")
	}
}
