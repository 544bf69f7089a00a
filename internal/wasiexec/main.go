package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go_wasip1_wasm_exec MODULE.wasm [ARGS...]")
		os.Exit(2)
	}
	code, err := run(context.Background(), os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasiexec:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(ctx context.Context, path string, args []string) (int, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(os.TempDir(), "wmr-wasiexec-cache"))
	if err != nil {
		return 0, err
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	if err := instantiateHostStubs(ctx, r); err != nil {
		return 0, err
	}
	cfg := wazero.NewModuleConfig().
		WithArgs(append([]string{filepath.Base(path)}, args...)...).
		WithStdin(os.Stdin).WithStdout(os.Stdout).WithStderr(os.Stderr).
		WithFSConfig(wazero.NewFSConfig().WithDirMount("/", "/")).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader)
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			cfg = cfg.WithEnv(k, v)
		}
	}
	if wd, err := os.Getwd(); err == nil {
		cfg = cfg.WithEnv("PWD", wd)
	}
	_, err = r.InstantiateWithConfig(ctx, wasm, cfg)
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return int(exit.ExitCode()), nil
	}
	return 0, err
}

// instantiateHostStubs provides module "wmr" with the signatures of
// abi/ABI.md; a call to any of them panics with its name.
func instantiateHostStubs(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder("wmr")
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	for _, f := range []struct {
		name            string
		params, results []api.ValueType
	}{
		{"emit", []api.ValueType{i32, i32}, nil},
		{"next_values", []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{"fail", []api.ValueType{i32, i32}, nil},
		{"log", []api.ValueType{i32, i32, i32}, nil},
		{"counter", []api.ValueType{i32, i32, i64}, nil},
	} {
		name := f.name
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {
			panic(fmt.Sprintf("the SDK's unit tests called the host function wmr.%s, which only a wmr worker provides", name))
		}), f.params, f.results).Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}
