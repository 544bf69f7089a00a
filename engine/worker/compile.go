package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/wmr-dev/wmr/abi"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// A compile process validates and compiles one module into the shared
// compilation cache, for a node that must do that work in a tenant's
// cgroup. In a thread of the node it cost the whole node: a goroutine
// cannot be stopped for a garbage collection until its thread runs, and
// a thread at a light tenant's CPU weight on a busy machine waited for
// its turn, so the node's stop-the-world pauses reached 280 ms while
// another tenant's shuffle waited (its reduce phase took 170 ms instead
// of 50). A process of its own stops only itself.
//
// The process is the worker command with EnvWorker=compile. It reads the
// module on stdin (so nothing of it runs before the parent has placed
// it), takes the cache directory, memory limit and module name from
// EnvCompileConfig, and exits 0 when the module compiled, or
// exitInvalidModule with the reason on stdout.
const compileMode = "compile"

// EnvCompileConfig carries a compile process's settings:
// "MEMORY_LIMIT_BYTES CACHE_DIR NAME" (the name last: it may hold spaces).
const EnvCompileConfig = "WMR_COMPILE"

const exitInvalidModule = 3

// CompileRequest is one module to compile in a process of its own.
type CompileRequest struct {
	// Command starts the process (default: this executable with the
	// argument "worker", as a worker).
	Command []string
	// CacheDir and MemoryLimitBytes configure the compile as the
	// engine's host is configured, so workers find what it compiled.
	CacheDir         string
	MemoryLimitBytes int64
	Name             string
	Wasm             []byte
	// Place puts the process into the group whose CPU the compile is
	// charged to, before it reads the module.
	Place func(pid int) error
}

// CompileInProcess validates and compiles r.Wasm in a process of its own
// placed with r.Place, and returns the module's error as Host.Compile
// would (a *wasmhost.ModuleError for an invalid module).
func CompileInProcess(ctx context.Context, r CompileRequest) error {
	command := r.Command
	if len(command) == 0 {
		var err error
		if command, err = defaultCommand(); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = append(os.Environ(), EnvWorker+"="+compileMode,
		fmt.Sprintf("%s=%d %s %s", EnvCompileConfig, r.MemoryLimitBytes, r.CacheDir, r.Name))
	cmd.SysProcAttr = childAttr(nil) // the node's user: it writes the cache
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := startFromSpawner(cmd); err != nil {
		return fmt.Errorf("start a process to compile module %s: %w", r.Name, err)
	}
	if r.Place != nil {
		if err := r.Place(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
	}
	_, werr := in.Write(r.Wasm)
	in.Close()
	err = cmd.Wait()
	if err == nil && werr != nil {
		err = werr
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() == exitInvalidModule:
		return &wasmhost.ModuleError{Module: r.Name, Record: abi.NoRecord, Msg: strings.TrimSpace(out.String()), Kind: wasmhost.ErrInvalidModule}
	case ctx.Err() != nil:
		return context.Cause(ctx)
	default:
		return fmt.Errorf("compiling module %s in a process of its own failed: %v: %s", r.Name, err, strings.TrimSpace(stderr.String()))
	}
}

// compileMain is a compile process's main.
func compileMain() int {
	memory, rest, _ := strings.Cut(os.Getenv(EnvCompileConfig), " ")
	cacheDir, name, _ := strings.Cut(rest, " ")
	limit, err := strconv.ParseInt(memory, 10, 64)
	if err != nil || cacheDir == "" {
		fmt.Fprintf(os.Stderr, "%s is not \"MEMORY CACHE_DIR NAME\": %q\n", EnvCompileConfig, os.Getenv(EnvCompileConfig))
		return 1
	}
	wasm, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read the module:", err)
		return 1
	}
	ctx := context.Background()
	host, err := wasmhost.New(ctx, wasmhost.Config{CacheDir: cacheDir, MemoryLimitBytes: limit})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m, err := host.Compile(ctx, name, wasm)
	if err != nil {
		var me *wasmhost.ModuleError
		if errors.As(err, &me) && errors.Is(err, wasmhost.ErrInvalidModule) {
			fmt.Print(me.Msg)
			return exitInvalidModule
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m.Close(ctx)
	host.Close(ctx) // the compiled code stays in the cache
	return 0
}
