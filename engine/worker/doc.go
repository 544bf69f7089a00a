// Package worker runs tasks in child processes (RATIONALE.md says why):
// guest code runs at full speed (no interruption checks), and the parent
// enforces the time limit by killing the process. A crash, panic or
// out-of-memory in a worker is a failed task attempt, never a dead parent.
//
// The parent (Pool) starts workers by re-executing its own binary with
// WMR_WORKER=1 in the environment; the program's main (cmd/wmr, and the
// TestMain of packages whose tests run jobs) checks IsWorker first and calls
// Main. The two sides talk over the worker's stdin and stdout in frames:
// a 4-byte big-endian length, a type byte, and a msgpack body. The worker's
// stderr carries its log lines, which the parent forwards to its logger and
// keeps the tail of to explain a crash.
package worker
