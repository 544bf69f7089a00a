package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wmr-dev/wmr/engine/wasmhost"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// A compile process fills the cache workers load from, reports an invalid
// module with the message Host.Compile gives, and is placed before it
// reads the module.
func TestCompileInProcess(t *testing.T) {
	ctx := context.Background()
	wasm, err := os.ReadFile(testwasm.Path(t, "wordcount"))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	var placed int
	err = CompileInProcess(ctx, CompileRequest{CacheDir: cache, MemoryLimitBytes: 64 << 20, Name: "wc.wasm", Wasm: wasm,
		Place: func(pid int) error { placed = pid; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if placed <= 0 {
		t.Error("the compile process was not placed")
	}
	if files, _ := filepath.Glob(filepath.Join(cache, "*", "*")); len(files) == 0 {
		t.Error("the compile process left nothing in the cache")
	}

	bad := append([]byte("\x00asm\x01\x00\x00\x00"), 0x01, 0xff) // a truncated type section
	inProcess := func() error {
		h, err := wasmhost.New(ctx, wasmhost.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(ctx)
		_, err = h.Compile(ctx, "bad.wasm", bad)
		return err
	}()
	err = CompileInProcess(ctx, CompileRequest{CacheDir: t.TempDir(), Name: "bad.wasm", Wasm: bad})
	if !errors.Is(err, wasmhost.ErrInvalidModule) || inProcess == nil || err.Error() != inProcess.Error() {
		t.Errorf("an invalid module: %v; want %v", err, inProcess)
	}

	refused := errors.New("no group")
	err = CompileInProcess(ctx, CompileRequest{CacheDir: t.TempDir(), Name: "wc.wasm", Wasm: wasm, Place: func(int) error { return refused }})
	if !errors.Is(err, refused) {
		t.Errorf("a failed placement: %v", err)
	}
}
