package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wmr-dev/wmr/engine/task"
)

// EnvWorker is set in a worker process's environment.
const EnvWorker = "WMR_WORKER"

// IsWorker reports whether this process was started as a worker (or as
// a compile process, which Main runs too).
func IsWorker() bool { v := os.Getenv(EnvWorker); return v == "1" || v == compileMode }

// EnvCPUProfile, when set in the parent's environment, makes each worker
// write a CPU profile to $WMR_WORKER_CPUPROFILE.<pid> (for go tool pprof).
const EnvCPUProfile = "WMR_WORKER_CPUPROFILE"

// Main runs the worker loop on stdin/stdout and returns the exit code.
func Main() int {
	if os.Getenv(EnvWorker) == compileMode {
		return compileMain()
	}
	// A worker's heap is mostly a few large, long-lived buffers; collecting
	// less often matters because the collector cannot stop a goroutine that
	// is running guest code and spins until the call returns.
	debug.SetGCPercent(400)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := applyLimits(); err != nil {
		logger.Error("cannot apply the worker's OS limits; refusing to run modules", "err", err)
		return 1
	}
	if err := installSeccomp(os.Getenv(EnvSeccomp)); err != nil {
		logger.Error("cannot install the worker's seccomp filter; refusing to run modules", "err", err)
		return 1
	}
	if path := os.Getenv(EnvCPUProfile); path != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
			}()
		}
	}
	if err := Serve(context.Background(), os.Stdin, os.Stdout, logger); err != nil {
		logger.Error("worker stopped", "err", err)
		return 1
	}
	return 0
}

// heapLimit keeps the worker's heap near what its task may hold: the
// map-side aggregator of a job with a combiner, up to the sort budget (a
// quarter more, for the spill being written), and the runtime's own share.
// A job without a combiner keeps its sort buffer outside the heap where
// the system allows (runs.Buffer.Map), under the same RLIMIT_DATA. With
// GOGC at 400 alone, a heap of a few large buffers would grow to five times what is live before a collection
// (measured: 400 MB for a 128 MiB sort buffer). The limit is soft: the
// collector runs harder near it, and never past the hard limit of
// RLIMIT_DATA (see applyLimits), which the module's linear memory, mapped
// outside the Go heap, shares.
func heapLimit(spec *task.Spec, guestBytes int64) {
	sort := spec.SortBufferBytes
	if sort <= 0 {
		sort = task.DefaultSortBufferBytes
	}
	limit := sort*5/4 + 48<<20
	if hard := dataLimit(); hard > 0 && hard > guestBytes {
		limit = min(limit, (hard-guestBytes)/10*8)
	}
	debug.SetMemoryLimit(limit)
}

// progressEvery is how often a worker reports progress.
const progressEvery = 200 * time.Millisecond

// Serve runs tasks read from in until in ends, writing progress and results
// to out.
func Serve(ctx context.Context, in io.Reader, out io.Writer, logger *slog.Logger) error {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriter(out)
	runner := &task.Runner{Logger: logger, Memory: heapLimit, OwnProcess: true}
	defer runner.Close(ctx)
	for {
		typ, body, err := readFrame(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if typ != frameRun && typ != frameLoad {
			return fmt.Errorf("unexpected frame type %q", typ)
		}
		var spec task.Spec
		if err := msgpack.Unmarshal(body, &spec); err != nil {
			return fmt.Errorf("decode task: %w", err)
		}
		if typ == frameLoad {
			// A failure here comes back with the first task that needs
			// the module, as that task's error.
			if err := runner.Load(ctx, &spec); err != nil {
				logger.Debug("loading a module ahead of its tasks failed", "module", spec.ModuleName, "err", err)
			}
			continue
		}
		forbiddenSyscallForTest()
		last := time.Now()
		progress := func(s task.Stats) {
			if now := time.Now(); now.Sub(last) >= progressEvery {
				last = now
				writeFrame(w, frameProgress, &s)
			}
		}
		measured := resetPeakRSS()
		res, err := runner.Run(ctx, &spec, progress)
		if err == nil && measured {
			res.Stats.PeakRSS = peakRSS()
		}
		if err != nil {
			if err := writeFrame(w, frameError, newTaskError(err)); err != nil {
				return err
			}
			continue
		}
		if err := writeFrame(w, frameDone, res); err != nil {
			return err
		}
	}
}

// resetPeakRSS starts the process's peak resident set (VmHWM) again from
// what it holds now, so that a reused worker reports each task's own
// peak; false if the kernel would not.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS is the process's peak resident set in bytes since the last
// reset (VmHWM), or 0.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
