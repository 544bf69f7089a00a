package wasmhost

import (
	"context"
	"fmt"
	"unicode/utf16"

	"github.com/tetratelabs/wazero/api"

	"github.com/wmr-dev/wmr/abi"
)

// wmrImports are the host functions of module "wmr" with their signatures.
var wmrImports = map[string]signature{
	abi.ImportEmit:       {[]api.ValueType{i32, i32}, nil},
	abi.ImportNextValues: {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.ImportFail:       {[]api.ValueType{i32, i32}, nil},
	abi.ImportLog:        {[]api.ValueType{i32, i32, i32}, nil},
	abi.ImportCounter:    {[]api.ValueType{i32, i32, i64}, nil},
}

// envAbort is AssemblyScript's abort(message, file, line, column).
var envAbort = signature{[]api.ValueType{i32, i32, i32, i32}, nil}

// checkImportSignature checks an import's signature against the one the
// host provides. Which names may be imported at all is decided before
// compilation (CheckImports, scan.go); WASI functions are wazero's own.
func checkImportSignature(mod, fn string, sig signature) error {
	var want signature
	switch mod {
	case abi.ImportModule:
		want = wmrImports[fn]
	case "env":
		want = envAbort
	default:
		return nil
	}
	if sig.String() != want.String() {
		return fmt.Errorf("imports %s.%s with signature %s; wmr provides %s", mod, fn, sig, want)
	}
	return nil
}

type instanceKey struct{}

// instanceOf finds the Instance a host function is running for.
func instanceOf(ctx context.Context) *Instance {
	return ctx.Value(instanceKey{}).(*Instance)
}

func (h *Host) instantiateImports(ctx context.Context) error {
	b := h.runtime.NewHostModuleBuilder(abi.ImportModule)
	add := func(name string, fn api.GoModuleFunc) {
		sig := wmrImports[name]
		b.NewFunctionBuilder().WithGoModuleFunction(fn, sig.params, sig.results).Export(name)
	}
	add(abi.ImportEmit, func(ctx context.Context, m api.Module, stack []uint64) {
		instanceOf(ctx).hostEmit(uint32(stack[0]), uint32(stack[1]))
	})
	add(abi.ImportNextValues, func(ctx context.Context, m api.Module, stack []uint64) {
		stack[0] = api.EncodeI32(instanceOf(ctx).hostNextValues(uint32(stack[0]), uint32(stack[1])))
	})
	add(abi.ImportFail, func(ctx context.Context, m api.Module, stack []uint64) {
		instanceOf(ctx).hostFail(uint32(stack[0]), uint32(stack[1]))
	})
	add(abi.ImportLog, func(ctx context.Context, m api.Module, stack []uint64) {
		instanceOf(ctx).hostLog(api.DecodeI32(stack[0]), uint32(stack[1]), uint32(stack[2]))
	})
	add(abi.ImportCounter, func(ctx context.Context, m api.Module, stack []uint64) {
		instanceOf(ctx).hostCounter(uint32(stack[0]), uint32(stack[1]), int64(stack[2]))
	})
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate wmr host functions: %w", err)
	}
	env := h.runtime.NewHostModuleBuilder("env")
	env.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
		instanceOf(ctx).hostAbort(uint32(stack[0]), uint32(stack[1]), api.DecodeI32(stack[2]), api.DecodeI32(stack[3]))
	}), envAbort.params, envAbort.results).Export("abort")
	if _, err := env.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate env host functions: %w", err)
	}
	return nil
}

// readUTF16 reads an AssemblyScript string: UTF-16LE code units whose byte
// length is stored in the 4 bytes before ptr.
func readUTF16(mem api.Memory, ptr uint32) string {
	if ptr < 4 {
		return ""
	}
	n, ok := mem.ReadUint32Le(ptr - 4)
	if !ok || n > 4096 {
		n = 4096
	}
	b, ok := mem.Read(ptr, n&^1)
	if !ok {
		return ""
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(units))
}
