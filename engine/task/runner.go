package task

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/wmr-dev/wmr/abi"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// Progress reports a running task's counts so far.
type Progress func(Stats)

// Runner runs tasks one at a time, keeping compiled modules and one warm
// instance (for the last job it ran) between tasks. It is not safe for
// concurrent use.
type Runner struct {
	// CloseOnContextDone makes guest calls stop when the context ends (slow;
	// for in-process runs only).
	CloseOnContextDone bool
	Logger             *slog.Logger
	// Memory, if set, is told at the start of a task and at every
	// progress report how much linear memory the module holds, so a
	// worker can keep its heap near what the task may use.
	Memory func(spec *Spec, guestBytes int64)
	// OwnProcess says the runner has its process to itself (a worker):
	// garbage collection is then held off while guest code runs (see
	// wasmhost.Config.PauseGCDuringCalls).
	OwnProcess bool

	hosts   map[hostKey]*wasmhost.Host
	modules map[moduleKey]*wasmhost.Module
	warm    *wasmhost.Instance
	warmKey warmKey
}

type hostKey struct {
	memory, output int64
	cacheDir       string
}

type moduleKey struct {
	host hostKey
	hash string
}

type warmKey struct {
	module moduleKey
	job    string
}

// Close releases every instance, module and runtime.
func (r *Runner) Close(ctx context.Context) {
	r.dropWarm(ctx)
	for _, h := range r.hosts {
		h.Close(ctx)
	}
	r.hosts, r.modules = nil, nil
}

func (r *Runner) dropWarm(ctx context.Context) {
	if r.warm != nil {
		r.warm.Close(ctx)
		r.warm = nil
	}
}

// instance returns an initialised instance for spec: the warm one when it
// belongs to the same job and module, else a fresh one.
func (r *Runner) instance(ctx context.Context, spec *Spec) (*wasmhost.Instance, error) {
	hk := hostKey{memory: spec.MemoryLimitBytes, output: spec.MaxOutputBytes, cacheDir: spec.CacheDir}
	mk := moduleKey{host: hk, hash: spec.ModuleHash}
	wk := warmKey{module: mk, job: spec.JobID}
	if r.warm != nil && (r.warmKey != wk || r.warm.Broken()) {
		r.dropWarm(ctx)
	}
	if r.warm == nil {
		mod, err := r.module(ctx, spec, hk, mk)
		if err != nil {
			return nil, err
		}
		inst, err := mod.Instantiate(ctx)
		if err != nil {
			return nil, err
		}
		r.warm, r.warmKey = inst, wk
	}
	return r.warm, nil
}

func (r *Runner) module(ctx context.Context, spec *Spec, hk hostKey, mk moduleKey) (*wasmhost.Module, error) {
	if m, ok := r.modules[mk]; ok {
		return m, nil
	}
	if r.hosts == nil {
		r.hosts = map[hostKey]*wasmhost.Host{}
		r.modules = map[moduleKey]*wasmhost.Module{}
	}
	h, ok := r.hosts[hk]
	if !ok {
		var err error
		h, err = wasmhost.New(ctx, wasmhost.Config{CacheDir: spec.CacheDir, MemoryLimitBytes: hk.memory,
			MaxOutputBytes: hk.output, CloseOnContextDone: r.CloseOnContextDone, PauseGCDuringCalls: r.OwnProcess, Logger: r.Logger})
		if err != nil {
			return nil, err
		}
		r.hosts[hk] = h
	}
	wasm, err := os.ReadFile(spec.ModulePath)
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	if got := wasmhost.HashBytes(wasm); spec.ModuleHash != "" && got != spec.ModuleHash {
		return nil, fmt.Errorf("module file %s changed while the job ran (hash %s, expected %s)", spec.ModulePath, got[:12], spec.ModuleHash[:12])
	}
	m, err := h.Compile(ctx, spec.ModuleName, wasm)
	if err != nil {
		return nil, err
	}
	r.modules[mk] = m
	return m, nil
}

// Load makes ready the instance spec's task would run in (compiling or
// loading its module, instantiating it) ahead of the task, so that a
// worker idle at a job's start is ready when its first task comes.
func (r *Runner) Load(ctx context.Context, spec *Spec) error {
	_, err := r.instance(ctx, spec)
	return err
}

// Run runs one task attempt. progress, if not nil, is called now and then
// from the calling goroutine.
func (r *Runner) Run(ctx context.Context, spec *Spec, progress Progress) (*Result, error) {
	if progress == nil {
		progress = func(Stats) {}
	}
	inst, err := r.instance(ctx, spec)
	if err != nil {
		return nil, err
	}
	inst.SetLogAttrs("job", spec.JobID, "task", spec.TaskID, "attempt", spec.Attempt)
	var logs []LogLine
	inst.SetLogSink(func(level int, msg string) { logs = append(logs, LogLine{level, msg}) })
	defer inst.SetLogSink(nil)
	kind := spec.Kind
	if kind == KindSample { // the module runs its map
		kind = KindMap
	}
	init := &abi.Init{ABI: abi.Version, JobID: spec.JobID, TaskID: spec.TaskID, TaskKind: kind,
		Attempt: spec.Attempt, Params: spec.Params, NumPartitions: spec.Partitions, MemoryLimit: spec.MemoryLimitBytes, Finish: true}
	if kind == KindMap {
		init.InputFile, init.SplitOffset, init.SplitLength = spec.InputName, spec.SplitOffset, spec.SplitLength
		init.InputFormat = input.Text
		if f, err := input.ParseFormat(spec.InputFormat); err == nil {
			if f.Kind != "" {
				init.InputFormat = f.RecordKind().String()
			}
			init.TextBlocks = spec.Kind == KindMap && offersTextBlocks(spec, f)
		}
	} else {
		init.Partition = spec.Partition
	}
	if err := inst.Init(ctx, init); err != nil {
		return nil, err
	}
	if r.Memory != nil {
		r.Memory(spec, inst.MemorySize())
		report := progress
		progress = func(s Stats) {
			r.Memory(spec, inst.MemorySize())
			report(s)
		}
	}
	var res *Result
	switch spec.Kind {
	case KindMap:
		res, err = runMap(ctx, inst, spec, progress)
	case KindReduce:
		res, err = runReduce(ctx, inst, spec, progress)
	case KindCombine:
		res, err = runCombine(ctx, inst, spec, progress)
	case KindSample:
		res, err = runSample(ctx, inst, spec, progress)
	default:
		err = fmt.Errorf("unknown task kind %q", spec.Kind)
	}
	if err != nil {
		if len(logs) > 0 {
			err = &logsError{err, logs}
		}
		return nil, err
	}
	res.Counters = inst.TakeCounters()
	res.Logs = logs
	return res, nil
}
