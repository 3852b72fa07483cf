package transformer

import (
	"context"
	"os"
	"testing"
	"testing/fstest"
)

func TestLoadFS(t *testing.T) {
	dir := t.TempDir()
	tm, err := NewTrainModel(tinyTrainConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Save(dir); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, n := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(dir + "/" + n)
		if err != nil {
			t.Fatal(err)
		}
		fsys["m/"+n] = &fstest.MapFile{Data: data}
	}
	a, err := LoadFS(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	sa, sb := a.NewState(), b.NewState()
	toks := []int{1, 2, 3, 4}
	if err := a.Prefill(ctx, sa, toks); err != nil {
		t.Fatal(err)
	}
	b.Prefill(ctx, sb, toks)
	for i, v := range sa.LastLogits() {
		if v != sb.LastLogits()[i] {
			t.Fatalf("logit %d: LoadFS %v, Load %v", i, v, sb.LastLogits()[i])
		}
	}
	if _, err := LoadFS(fsys, "nowhere"); err == nil {
		t.Error("LoadFS of a missing directory succeeded")
	}
}
