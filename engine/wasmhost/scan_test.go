package wasmhost

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wmr-dev/wmr/internal/testwasm"
)

// withImports builds a module binary whose only section imports the given
// functions (module.name pairs), all of type 0 (declared nowhere, which
// the scanner does not need).
func withImports(pairs ...string) []byte {
	body := []byte{byte(len(pairs))}
	for _, p := range pairs {
		mod, name, _ := strings.Cut(p, ".")
		body = append(body, byte(len(mod)))
		body = append(body, mod...)
		body = append(body, byte(len(name)))
		body = append(body, name...)
		body = append(body, 0, 0) // function, type 0
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = append(out, 2, byte(len(body)))
	return append(out, body...)
}

func TestCheckImports(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wasm    []byte
		wantErr string
	}{
		{"no imports", testwasm.Minimal(nil), ""},
		{"abi and start-up wasi", withImports("wmr.emit", "wasi_snapshot_preview1.fd_write", "wasi_snapshot_preview1.random_get", "env.abort"), ""},
		{"sockets", withImports("wmr.emit", "wasi_snapshot_preview1.sock_accept"), "sandbox refuses"},
		{"unlink", withImports("wasi_snapshot_preview1.path_unlink_file"), "sandbox refuses"},
		{"unknown abi function", withImports("wmr.exec"), "does not define"},
		{"other module", withImports("go.syscall/js.valueGet"), "wmr provides only"},
		{"env other than abort", withImports("env.system"), "only env import"},
		{"truncated", withImports("wmr.emit")[:14], "truncated"},
		{"wrong version", []byte("\x00asm\x02\x00\x00\x00"), "version 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckImports(tc.wasm)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestScanImportsMatchesWazero reads a real toolchain's module both ways.
func TestScanImportsMatchesWazero(t *testing.T) {
	wasm, err := os.ReadFile(testwasm.Path(t, "wordcount"))
	if err != nil {
		t.Fatal(err)
	}
	imps, err := ScanImports(wasm)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, imp := range imps {
		got = append(got, imp.Module+"."+imp.Name)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		want = append(want, mod+"."+name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("scanned imports %v, wazero's %v", got, want)
	}
}

func FuzzScanImports(f *testing.F) {
	f.Add(testwasm.Minimal(nil))
	f.Add(withImports("wmr.emit", "wasi_snapshot_preview1.fd_write"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		ScanImports(wasm) // must not panic or hang on any input
		CheckImports(wasm)
	})
}
