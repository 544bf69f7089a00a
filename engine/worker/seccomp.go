package worker

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
)

// A worker's third wall (after wazero and the OS limits of limits.go) is a
// seccomp-bpf filter, installed before it reads its first task: every
// system call not listed below kills the whole process at once
// (SECCOMP_RET_KILL_PROCESS), so a bug that let a module's code out of
// wazero would still find no socket, no exec, no ptrace, no mount, no new
// namespace, no bpf. The parent sees the worker die of SIGSYS and fails
// the attempt with ErrSeccomp.
//
// The list is what the worker was measured to need (see RATIONALE.md,
// "seccomp"): the Go runtime (threads, signals, memory, timers, its
// poller), wazero's compiler (executable mappings), and files (the task's
// input, spills, output, the compiled-module cache), over every example in
// every language, every input format, spills and merges, the CPU profiler,
// and the hostile modules. A new need shows up as a worker killed by
// SIGSYS; WMR_SECCOMP=log then lets such calls through and the kernel logs
// each (dmesg: "audit: type=1326 ... syscall=N").

// EnvSeccomp chooses the filter's mode in a worker: "" or "on" (the
// default: unlisted calls kill the worker), "log" (they are allowed and
// the kernel logs them; for finding what a new feature needs) or "off".
const EnvSeccomp = "WMR_SECCOMP"

// EnvTestForbiddenSyscall, set to 1, makes a worker attempt a system call
// the filter forbids (socket) when it receives a task: how the tests show
// that a violation kills the worker and is reported as such.
const EnvTestForbiddenSyscall = "WMR_TEST_FORBIDDEN_SYSCALL"

// ErrSeccomp is wrapped by the error of an attempt whose worker made a
// system call its seccomp filter forbids. It is charged like a crash: the
// module (or what it made the host do) is the suspect.
var ErrSeccomp = errors.New("worker process made a forbidden system call")

// allowedSyscalls is the worker's allowlist, by name; names a platform
// does not have are skipped. Measured: every call here but those marked
// "not seen" was made by workers over the whole test suite and every
// example (RATIONALE.md, "seccomp"). The unseen ones are on paths the
// runtime or the standard library take rarely, and are harmless: without
// them a worker would die of SIGSYS instead of reporting its own crash.
var allowedSyscalls = []string{
	// Files: the task's input and output, spills, merges, the module cache.
	"read", "write", "pread64", "pwrite64", "openat", "close", "lseek", "fstat", "newfstatat", "fcntl",
	"fsync", "mkdirat", "unlinkat", "renameat",
	"fdatasync", "ftruncate", "statx", "getdents64", "copy_file_range", "splice", // not seen: os.RemoveAll, io.Copy between files
	// Memory: the Go heap, wazero's linear memories and compiled code.
	"mmap", "munmap", "mprotect", "madvise",
	"brk", "mremap", // not seen: the C library's allocator
	// Threads, scheduling and synchronisation.
	"futex", "clone3", "sched_yield", "sched_getaffinity", "set_robust_list", "rseq", "gettid", "getpid", "exit_group", "restart_syscall",
	"clone", "exit", // not seen: threads of a binary built without cgo; a locked thread's end
	// Signals: goroutine preemption (tgkill, to this process only: see
	// installSeccomp), the runtime's own handlers.
	"rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"rt_sigaction", // not seen: a crashing runtime resets a handler before it dies
	// Time and sleeping; timers for the CPU profiler.
	"clock_gettime", "nanosleep", "timer_create", "timer_settime", "timer_delete", "setitimer",
	"clock_nanosleep", "clock_getres", // not seen
	// The Go runtime's poller (stdin and stdout are pipes) and its wake-ups.
	"epoll_create1", "epoll_ctl", "epoll_pwait", "eventfd2",
	// Read-only facts the runtime may ask for.
	"getrandom", "uname", "getrlimit", // not seen
}

// installSeccomp loads the worker's filter for this platform in mode
// ("", "on", "log", "off").
func installSeccomp(mode string) error {
	action := seccomp.ActionKillProcess
	switch mode {
	case "", "on":
	case "log":
		action = seccomp.ActionLog
	case "off":
		return nil
	default:
		return fmt.Errorf("%s=%q: want on, log or off", EnvSeccomp, mode)
	}
	if !seccomp.Supported() {
		return fmt.Errorf("this kernel does not support seccomp filters (set %s=off to run without)", EnvSeccomp)
	}
	info, err := arch.GetInfo("")
	if err != nil {
		return fmt.Errorf("no system call table for %s (set %s=off to run without): %w", runtime.GOARCH, EnvSeccomp, err)
	}
	names := AllowedSyscalls(info)
	filter := seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync, // every thread the runtime has started, and will
		Policy: seccomp.Policy{
			DefaultAction: action,
			Syscalls: []seccomp.SyscallGroup{
				{Action: seccomp.ActionAllow, Names: names},
				// tgkill only at this process's own threads: with it a root
				// worker could otherwise signal any process (the node).
				{Action: seccomp.ActionAllow, NamesWithCondtions: []seccomp.NameWithConditions{
					{Name: "tgkill", Conditions: []seccomp.Condition{{Argument: 0, Operation: seccomp.Equal, Value: uint64(os.Getpid())}}},
				}},
			},
		},
	}
	if err := seccomp.LoadFilter(filter); err != nil {
		return fmt.Errorf("load the seccomp filter: %w", err)
	}
	return nil
}

// AllowedSyscalls lists the allowlist's calls that platform info has,
// sorted (for the docs and tests).
func AllowedSyscalls(info *arch.Info) []string {
	var out []string
	for _, n := range allowedSyscalls {
		if _, ok := info.SyscallNames[n]; ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// forbiddenSyscallForTest makes the call the tests' hook asks for.
func forbiddenSyscallForTest() {
	if os.Getenv(EnvTestForbiddenSyscall) == "1" {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err == nil {
			unix.Close(fd) // no filter: the call went through
		}
	}
}
