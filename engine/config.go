package engine

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/task"
	"github.com/wmr-dev/wmr/engine/worker"
)

// Config configures an Engine. It is plain data; zero fields take the
// defaults documented on each.
type Config struct {
	// Parallelism is how many tasks run at once. Default: the number of CPUs.
	Parallelism int
	// MemoryBudget is the memory for map-side sort buffers, shared by the
	// tasks running at once; a map task spills to disk when its share is
	// full. Default 512 MiB.
	MemoryBudget int64
	// TaskMemory caps each module instance's linear memory. Default 256 MiB.
	TaskMemory int64
	// TaskTimeout is the wall-clock limit of one task attempt; the worker
	// is killed past it. Default 10 minutes.
	TaskTimeout time.Duration
	// MaxAttempts is how many times a task is tried before the job fails.
	// Default 3. Invalid modules fail at once.
	MaxAttempts int
	// BlockSize is the split size. Default 64 MiB.
	BlockSize int64
	// MaxTaskOutput caps what a module may emit in one task. Default 4 GiB.
	MaxTaskOutput int64
	// MergeFanIn bounds how many map outputs a reduce merges at once;
	// more are merged in passes first. Default runs.DefaultFanIn (64).
	MergeFanIn int
	// WorkDir is where jobs keep intermediate files. Default: the system
	// temporary directory.
	WorkDir string
	// CacheDir holds modules and their compiled form, by content hash.
	// Default: $XDG_CACHE_HOME/wmr (or ~/.cache/wmr).
	CacheDir string
	// InProcess runs modules inside this process with wazero's
	// close-on-context-done instead of in worker processes. It is much
	// slower for loop-heavy modules and a crash takes the process down;
	// it exists for comparison (make bench) and debugging.
	InProcess bool
	// WorkerCommand starts a worker process; default: this executable with
	// the argument "worker" (see engine/worker).
	WorkerCommand []string
	// Placer, if set, puts worker processes into the resource group their
	// task names (task.Spec.Group): a cluster node's per-tenant cgroups.
	Placer worker.Placer
	// WorkerCredential, if set, is the unprivileged user worker processes
	// run as (a cluster node running as root; see nodes.Config.WorkerUser).
	// The engine then keeps its module cache readable by that user, never
	// writable: workers only read what the engine compiled.
	WorkerCredential *syscall.Credential
	// Logger receives the engine's and modules' log messages; nil discards.
	Logger *slog.Logger
	// ModuleLog, if set, receives every task attempt's module log lines
	// (wmr.Log), attempt by attempt, when the attempt ends.
	ModuleLog func(attempt string, line task.LogLine)
}

// workerDataLimit is a worker's RLIMIT_DATA: its module's memory, its
// share of the sort budget (taken whole: one worker may run the only
// task), the runtime's own heap and slack for spills and merges.
func (c Config) workerDataLimit() int64 {
	return c.TaskMemory + c.MemoryBudget + 1<<30
}

// Defaults.
const (
	DefaultMemoryBudget  = 512 << 20
	DefaultTaskMemory    = 256 << 20
	DefaultTaskTimeout   = 10 * time.Minute
	DefaultMaxAttempts   = 3
	DefaultMaxTaskOutput = 4 << 30
)

func (c Config) withDefaults() Config {
	if c.Parallelism <= 0 {
		c.Parallelism = runtime.NumCPU()
	}
	if c.MemoryBudget <= 0 {
		c.MemoryBudget = DefaultMemoryBudget
	}
	if c.TaskMemory <= 0 {
		c.TaskMemory = DefaultTaskMemory
	}
	if c.TaskTimeout <= 0 {
		c.TaskTimeout = DefaultTaskTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxTaskOutput <= 0 {
		c.MaxTaskOutput = DefaultMaxTaskOutput
	}
	if c.WorkDir == "" {
		c.WorkDir = os.TempDir()
	}
	if c.CacheDir == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			c.CacheDir = filepath.Join(dir, "wmr")
		} else {
			c.CacheDir = filepath.Join(os.TempDir(), "wmr-cache")
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Sentinel errors of Run, for errors.Is.
var (
	// ErrOutputExists: the output directory is not empty and overwriting
	// was not asked for.
	ErrOutputExists = errors.New("output directory is not empty")
	// ErrBadJob: the job description is invalid (no module, no inputs,
	// reducers < 1, ...).
	ErrBadJob = errors.New("invalid job")
	// ErrTaskFailed: a task failed on every attempt; the error says which
	// and why (it also wraps the last attempt's error).
	ErrTaskFailed = coord.ErrTaskFailed
)
