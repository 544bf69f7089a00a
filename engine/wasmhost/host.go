package wasmhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wmr-dev/wmr/abi"
)

// PageSize is the WebAssembly page size.
const PageSize = 64 << 10

// Config configures a Host. The zero value is usable: in-memory compilation
// cache, 256 MiB per instance, no interruption, no logging.
type Config struct {
	// CacheDir holds compiled modules across processes, keyed by content.
	// Empty means an in-memory cache for this Host only.
	CacheDir string
	// MemoryLimitBytes caps each instance's linear memory (rounded down to
	// whole pages). Zero means DefaultMemoryLimit.
	MemoryLimitBytes int64
	// MaxOutputBytes caps what one instance may emit between two calls to
	// Instance.ResetOutputCount. Zero means no cap.
	MaxOutputBytes int64
	// CloseOnContextDone makes calls stop when their context ends, at a
	// large cost in guest speed. Leave it off in worker processes.
	CloseOnContextDone bool
	// PauseGCDuringCalls turns the process's garbage collector's GOGC
	// pacing off while guest code runs (its memory limit stays) and back
	// on between calls. Go cannot stop a
	// goroutine in guest code, so a collection that starts during a long
	// call cannot finish: the runtime then wakes every 100 µs to signal
	// the guest's thread until the call returns, for as long as a module
	// computes without calling the host (measured: 6,000 wake-ups a
	// second, and the kernel's scheduler gave such a worker, in a cgroup
	// of weight 10, both CPUs for seconds while everything else waited).
	// Only for a process that runs one instance at a time: the setting
	// is the whole process's.
	PauseGCDuringCalls bool
	// Logger receives the module's log messages; nil discards them.
	Logger *slog.Logger
}

// DefaultMemoryLimit is the per-instance memory cap when none is set.
const DefaultMemoryLimit = 256 << 20

func (c Config) memoryLimitPages() uint32 {
	b := c.MemoryLimitBytes
	if b <= 0 {
		b = DefaultMemoryLimit
	}
	p := b / PageSize
	if p < 1 {
		p = 1
	}
	if p > 65536 {
		p = 65536
	}
	return uint32(p)
}

// Host compiles and instantiates modules. It is safe for concurrent use;
// the Instances it makes are not.
type Host struct {
	cfg     Config
	runtime wazero.Runtime
	log     *slog.Logger
}

// New creates a Host with its own wazero runtime.
func New(ctx context.Context, cfg Config) (*Host, error) {
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.memoryLimitPages()).
		WithCloseOnContextDone(cfg.CloseOnContextDone)
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("open module cache %s: %w", cfg.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	h := &Host{cfg: cfg, runtime: r, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := h.instantiateImports(ctx); err != nil {
		r.Close(ctx)
		return nil, err
	}
	return h, nil
}

// Close releases the runtime and every instance made from it.
func (h *Host) Close(ctx context.Context) error { return h.runtime.Close(ctx) }

// MemoryLimit is the per-instance memory cap in bytes.
func (h *Host) MemoryLimit() int64 { return int64(h.cfg.memoryLimitPages()) * PageSize }

// Module is a compiled, validated module. It is safe for concurrent use.
type Module struct {
	host     *Host
	name     string
	hash     string
	compiled wazero.CompiledModule
}

// Name is the module's display name.
func (m *Module) Name() string { return m.name }

// Hash is the hex SHA-256 of the module's bytes.
func (m *Module) Hash() string { return m.hash }

// HashBytes returns the content hash used to identify a module.
func HashBytes(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

type signature struct {
	params, results []api.ValueType
}

func (s signature) String() string {
	names := func(ts []api.ValueType) string {
		var b []string
		for _, t := range ts {
			b = append(b, api.ValueTypeName(t))
		}
		return "(" + strings.Join(b, ", ") + ")"
	}
	return names(s.params) + " -> " + names(s.results)
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// requiredExports and optionalExports are ABI v1's exports.
var requiredExports = map[string]signature{
	abi.ExportABIVersion: {nil, []api.ValueType{i32}},
	abi.ExportAlloc:      {[]api.ValueType{i32}, []api.ValueType{i32}},
	abi.ExportInit:       {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.ExportMap:        {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.ExportReduce:     {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
}

var optionalExports = map[string]signature{
	abi.ExportCombine:   {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.ExportStart:     {nil, nil},
	abi.ExportPartition: {[]api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
	abi.ExportFinish:    {nil, []api.ValueType{i32}},
}

// Compile validates and compiles a module. name is used in messages.
func (h *Host) Compile(ctx context.Context, name string, wasm []byte) (*Module, error) {
	invalid := func(format string, args ...any) error {
		return &ModuleError{Module: name, Record: abi.NoRecord, Msg: fmt.Sprintf(format, args...), Kind: ErrInvalidModule}
	}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, invalid("is not a WebAssembly module (no \\0asm header)")
	}
	// Refuse what the sandbox does not allow before spending any time
	// compiling.
	if err := CheckImports(wasm); err != nil {
		return nil, invalid("%v", err)
	}
	if experimental.GetCompilationWorkers(ctx) == 0 {
		ctx = experimental.WithCompilationWorkers(ctx, 2)
	}
	compiled, err := h.runtime.CompileModule(ctx, wasm)
	if err != nil {
		return nil, &ModuleError{Module: name, Record: abi.NoRecord, Msg: "cannot be compiled: " + firstLine(err.Error()), Kind: ErrInvalidModule, Cause: err}
	}
	fail := func(err error) (*Module, error) {
		compiled.Close(ctx)
		return nil, err
	}
	exports := compiled.ExportedFunctions()
	if _, start := exports["_start"]; start {
		if _, reactor := exports["_initialize"]; !reactor {
			return fail(invalid("is a WASI command (it exports _start, not _initialize), so its exports cannot be called: wmr runs modules as WASI reactors. " +
				"Build Go with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared; Rust as a library (crate-type = [\"cdylib\"]) for wasm32-unknown-unknown; C with -mexec-model=reactor"))
		}
	}
	abiExports := 0
	for n := range requiredExports {
		if _, ok := exports[n]; ok {
			abiExports++
		}
	}
	if abiExports == 0 {
		return fail(invalid("exports none of the wmr ABI's functions (wmr_abi_version, wmr_init, wmr_map, wmr_reduce, ...): it is not a wmr job. Write one with a wmr SDK (sdk/go, sdk/rust, sdk/c, sdk/assemblyscript; see abi/ABI.md)"))
	}
	for _, n := range sortedKeys(requiredExports) {
		want := requiredExports[n]
		def, ok := exports[n]
		if !ok {
			return fail(invalid("does not export %s %s; was it built with a wmr SDK for ABI v%d?", n, want, abi.Version))
		}
		if got := (signature{def.ParamTypes(), def.ResultTypes()}); got.String() != want.String() {
			return fail(invalid("exports %s with signature %s; ABI v%d requires %s", n, got, abi.Version, want))
		}
	}
	for n, want := range optionalExports {
		if def, ok := exports[n]; ok {
			if got := (signature{def.ParamTypes(), def.ResultTypes()}); got.String() != want.String() {
				return fail(invalid("exports %s with signature %s; ABI v%d requires %s", n, got, abi.Version, want))
			}
		}
	}
	if _, ok := compiled.ExportedMemories()["memory"]; !ok {
		return fail(invalid("does not export its memory as \"memory\""))
	}
	for _, imp := range compiled.ImportedFunctions() {
		mod, fn, _ := imp.Import()
		if err := checkImportSignature(mod, fn, signature{imp.ParamTypes(), imp.ResultTypes()}); err != nil {
			return fail(invalid("%v", err))
		}
	}
	return &Module{host: h, name: name, hash: HashBytes(wasm), compiled: compiled}, nil
}

// Exports reports whether the module exports a function of that name.
func (m *Module) Exports(name string) bool {
	_, ok := m.compiled.ExportedFunctions()[name]
	return ok
}

// Close releases the compiled module.
func (m *Module) Close(ctx context.Context) error { return m.compiled.Close(ctx) }

func sortedKeys(m map[string]signature) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// errAborted is what host functions panic with to stop the guest; the real
// cause is stored on the Instance.
var errAborted = errors.New("wmr host aborted the call")
