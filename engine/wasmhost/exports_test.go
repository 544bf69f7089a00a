package wasmhost

import (
	"context"
	"os"
	"testing"

	"github.com/wmr-dev/wmr/internal/testwasm"
)

// ExportsFunction agrees with the compiled module on real modules, and
// refuses bytes that are not a module.
func TestExportsFunctionReadsTheExportSection(t *testing.T) {
	h := newHost(t, Config{})
	for _, example := range []string{"wordcount", "sumsquares", "grep"} {
		wasm, err := os.ReadFile(testwasm.Path(t, example))
		if err != nil {
			t.Fatal(err)
		}
		m, err := h.Compile(context.Background(), example+".wasm", wasm)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"wmr_map", "wmr_combine", "wmr_reduce", "memory", "no_such_export"} {
			got, err := ExportsFunction(wasm, name)
			if want := m.Exports(name); err != nil || got != want {
				t.Errorf("%s exports %s: %v, %v; the compiled module says %v", example, name, got, err, want)
			}
		}
		m.Close(context.Background())
	}
	minimal := testwasm.Minimal(map[string]int32{"wmr_abi_version": 1, "wmr_combine": 0}, "wmr_abi_version", "wmr_combine")
	if ok, err := ExportsFunction(minimal, "wmr_combine"); !ok || err != nil {
		t.Errorf("minimal module: %v %v", ok, err)
	}
	for _, bad := range [][]byte{nil, []byte("\x00asm"), []byte("not wasm at all"), append([]byte("\x00asm\x01\x00\x00\x00\x07\x7f"), 1, 2)} {
		if _, err := ExportsFunction(bad, "wmr_map"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
