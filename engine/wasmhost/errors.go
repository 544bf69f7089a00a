package wasmhost

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by *ModuleError. Check them with errors.Is.
var (
	// ErrInvalidModule: the bytes are not a WebAssembly module wmr can run
	// (not wasm, missing or mistyped exports, imports wmr does not provide).
	ErrInvalidModule = errors.New("invalid module")
	// ErrABIVersion: the module was built for an ABI version this host
	// does not implement.
	ErrABIVersion = errors.New("unsupported ABI version")
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access,
	// division by zero, stack overflow, ...) or exited.
	ErrTrap = errors.New("module trapped")
	// ErrModuleFailed: the guest reported an error through the fail import.
	ErrModuleFailed = errors.New("module reported an error")
	// ErrMalformedOutput: the guest passed bytes that are not the ABI's
	// wire format, or pointers outside its memory.
	ErrMalformedOutput = errors.New("module emitted malformed data")
	// ErrMemoryLimit: the guest needed more memory than its cap.
	ErrMemoryLimit = errors.New("module exceeded its memory limit")
	// ErrOutputLimit: the guest emitted more than the task's output cap.
	ErrOutputLimit = errors.New("module exceeded its output limit")
	// ErrInterrupted: the call was stopped because its context ended
	// (only with Config.CloseOnContextDone).
	ErrInterrupted = errors.New("module call interrupted")
)

// ModuleError is an error caused by a module. Its message names the module
// and, where it applies, the record; the engine adds the task.
type ModuleError struct {
	Module string // the module's name, e.g. wordcount-go.wasm
	Call   string // the export being called, e.g. wmr_map
	Record int    // index of the failing record or group in the batch, or -1
	Msg    string // what happened, for people
	Kind   error  // one of the sentinel errors
	Cause  error  // the underlying error, if any
}

// Error reads "module NAME <what happened>" for host-detected problems
// (every Msg is a verb phrase: "trapped: ...", "does not export ...") and
// "module NAME failed: <its message>" for errors the module reported.
func (e *ModuleError) Error() string {
	s := fmt.Sprintf("module %s %s", e.Module, e.Msg)
	if e.Kind == ErrModuleFailed {
		s = fmt.Sprintf("module %s failed: %s", e.Module, e.Msg)
	}
	if e.Call != "" {
		s += " (in " + e.Call + ")"
	}
	return s
}

// Unwrap returns the sentinel kind and the cause.
func (e *ModuleError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}
