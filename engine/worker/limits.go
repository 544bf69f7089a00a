package worker

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"

	"golang.org/x/sys/unix"
)

// OS limits are the sandbox's second wall, behind wazero's: a worker runs
// untrusted modules, so before it runs any it takes away what it never
// needs. Guest code has no system calls of its own, but a bug in the host
// side (ours or wazero's) then still meets these limits.
//
//   - no new privileges (PR_SET_NO_NEW_PRIVS): no setuid binary can raise
//     it, and it is inherited by anything it could start;
//   - no core dumps (RLIMIT_CORE 0): they would hold tenants' data;
//   - open files capped (RLIMIT_NOFILE);
//   - data memory capped (RLIMIT_DATA), from the parent's memory budget
//     (EnvDataLimit): past it the Go runtime cannot get memory and the
//     worker dies, which the parent reports as a failed attempt.
//
// cgroups are not used yet: the parent would need a delegated cgroup v2
// subtree, which these machines (cgroup v1) do not have.

// EnvDataLimit carries the worker's RLIMIT_DATA in bytes from the parent.
const EnvDataLimit = "WMR_WORKER_DATA_LIMIT"

// dataLimit is the worker's RLIMIT_DATA from the parent, or 0.
func dataLimit() int64 {
	n, err := strconv.ParseInt(os.Getenv(EnvDataLimit), 10, 64)
	if err != nil || raceEnabled {
		return 0
	}
	return n
}

// maxOpenFiles caps a worker's file descriptors: a reduce task opens one
// file per map output it merges, so this is generous, but bounded.
const maxOpenFiles = 4096

// applyLimits restricts this worker process. It fails only if a limit
// cannot be set at all.
func applyLimits() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	set := func(what string, res int, v uint64) error {
		var cur unix.Rlimit
		if err := unix.Getrlimit(res, &cur); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if v > cur.Max {
			v = cur.Max // an unprivileged process cannot raise its hard limit
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if err := set("RLIMIT_CORE", unix.RLIMIT_CORE, 0); err != nil {
		return err
	}
	if err := set("RLIMIT_NOFILE", unix.RLIMIT_NOFILE, maxOpenFiles); err != nil {
		return err
	}
	if s := os.Getenv(EnvDataLimit); s != "" && !raceEnabled {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("%s=%q is not a byte count", EnvDataLimit, s)
		}
		if err := set("RLIMIT_DATA", unix.RLIMIT_DATA, n); err != nil {
			return err
		}
		// Let the garbage collector work harder well before the wall, so
		// the limit is met by a clean failure, not a runtime crash (tasks
		// lower it further: heapLimit).
		debug.SetMemoryLimit(int64(n / 10 * 8))
	}
	return nil
}
