package wasmhost

import (
	"errors"
	"fmt"

	"github.com/wmr-dev/wmr/abi"
)

// Import is one import of a module, as its binary declares it.
type Import struct {
	Module, Name string
	Kind         byte // 0 function, 1 table, 2 memory, 3 global
}

// errTruncated: the binary ends inside a structure.
var errTruncated = errors.New("truncated")

// ScanImports reads a module's import section without compiling it, so a
// module that imports what the sandbox refuses is turned away before any
// compilation work (and before a huge module costs compile time).
func ScanImports(wasm []byte) ([]Import, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("no \\0asm header")
	}
	if v := uint32(wasm[4]) | uint32(wasm[5])<<8 | uint32(wasm[6])<<16 | uint32(wasm[7])<<24; v != 1 {
		return nil, fmt.Errorf("binary format version %d; wmr runs version 1", v)
	}
	r := &reader{b: wasm[8:]}
	for r.more() {
		id := r.byte()
		size := r.u32()
		body := r.take(size)
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, r.err)
		}
		if id != 2 { // the import section
			continue
		}
		s := &reader{b: body}
		n := s.u32()
		var out []Import
		for i := uint32(0); i < n && s.err == nil; i++ {
			imp := Import{Module: s.name(), Name: s.name(), Kind: s.byte()}
			switch imp.Kind {
			case 0: // function: type index
				s.u32()
			case 1: // table: reference type, limits
				s.byte()
				s.limits()
			case 2: // memory: limits
				s.limits()
			case 3: // global: value type, mutability
				s.byte()
				s.byte()
			default:
				s.err = fmt.Errorf("import %d has unknown kind %d", i, imp.Kind)
			}
			out = append(out, imp)
		}
		if s.err != nil {
			return nil, fmt.Errorf("import section: %w", s.err)
		}
		return out, nil
	}
	return nil, nil
}

// allowedWASI are the WASI preview 1 functions modules may import: what
// the Go, TinyGo, Rust and wasi-libc runtimes import at start-up. The
// sandbox answers them without reaching the host: no preopened
// directories (so no files), an empty environment, a fixed clock and
// seeded randomness. Sockets and calls that create, change or remove
// paths are refused outright.
var allowedWASI = map[string]bool{
	"args_get": true, "args_sizes_get": true, "environ_get": true, "environ_sizes_get": true,
	"clock_res_get": true, "clock_time_get": true, "random_get": true, "sched_yield": true,
	"poll_oneoff": true, "proc_exit": true, "proc_raise": true,
	"fd_write": true, "fd_read": true, "fd_close": true, "fd_seek": true, "fd_tell": true, "fd_sync": true,
	"fd_fdstat_get": true, "fd_fdstat_set_flags": true, "fd_filestat_get": true,
	"fd_prestat_get": true, "fd_prestat_dir_name": true, "fd_readdir": true, "fd_pread": true,
	"path_open": true, "path_filestat_get": true,
}

// CheckImports refuses a module whose imports the sandbox does not allow:
// the ABI's functions, AssemblyScript's env.abort and the WASI subset
// above. Signatures are checked at compilation (checkImportSignature).
func CheckImports(wasm []byte) error {
	imps, err := ScanImports(wasm)
	if err != nil {
		return err
	}
	for _, imp := range imps {
		if imp.Kind != 0 {
			return fmt.Errorf("imports %s.%s, which is not a function; wmr provides only functions (the module must define its own memory)", imp.Module, imp.Name)
		}
		switch imp.Module {
		case abi.ImportModule:
			if _, ok := wmrImports[imp.Name]; !ok {
				return fmt.Errorf("imports %s.%s, which ABI v%d does not define", imp.Module, imp.Name, abi.Version)
			}
		case "wasi_snapshot_preview1":
			if !allowedWASI[imp.Name] {
				return fmt.Errorf("imports %s.%s, which the sandbox refuses (no sockets, no changes to files or directories)", imp.Module, imp.Name)
			}
		case "env":
			if imp.Name != "abort" {
				return fmt.Errorf("imports env.%s; the only env import wmr provides is AssemblyScript's abort", imp.Name)
			}
		default:
			return fmt.Errorf("imports %s.%s; wmr provides only the %q ABI functions, env.abort and a WASI preview 1 subset", imp.Module, imp.Name, abi.ImportModule)
		}
	}
	return nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) more() bool { return r.err == nil && len(r.b) > 0 }

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// u32 reads an unsigned LEB128 number of at most 5 bytes.
func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("LEB128 number longer than 5 bytes")
	return 0
}

func (r *reader) take(n uint32) []byte {
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) name() string { return string(r.take(r.u32())) }

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errTruncated
	}
}
