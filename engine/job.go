package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/task"
	"github.com/wmr-dev/wmr/engine/wasmhost"
	"github.com/wmr-dev/wmr/engine/worker"
)

// Job describes one MapReduce job.
type Job struct {
	// ID names the job in task contexts and logs; default: random.
	ID string
	// Module is the path of the .wasm file.
	Module string
	// Inputs are files, directories or glob patterns.
	Inputs []string
	// Output is the directory to write part-r-NNNNN files into.
	Output string
	// Overwrite allows an Output that holds an earlier job's output (only
	// part-r-* files, _SUCCESS and _temporary); its files are replaced.
	Overwrite bool
	// Reducers is the number of reduce tasks (and output files). Default 1.
	Reducers int
	// Params reach the module at init.
	Params map[string]string
}

// Progress is a snapshot of a running job.
type Progress struct {
	Phase       string // "map", "reduce" or "commit"
	Maps        int
	MapsDone    int
	Reduces     int
	ReducesDone int
	BytesIn     int64 // input bytes read so far by map tasks
	InputBytes  int64 // total input bytes
	RecordsIn   int64
	RecordsOut  int64 // reduce output records so far
	Elapsed     time.Duration
}

// Summary describes a finished job.
type Summary struct {
	JobID         string
	Module        string
	Maps, Reduces int
	Attempts      int // task attempts, including retries
	InputFiles    int
	BytesIn       int64
	RecordsIn     int64
	MapRecordsOut int64 // records emitted by map (before combining)
	ShuffleBytes  int64 // map output bytes after combining
	Spills        int
	RecordsOut    int64
	BytesOut      int64
	Wall          time.Duration
	Counters      map[string]int64
	Outputs       []string
}

// Engine runs jobs. It is safe for concurrent use; concurrent jobs share
// its worker processes.
type Engine struct {
	cfg  Config
	exec executor
	host *wasmhost.Host // validates modules in this process
}

// executor runs one task attempt somewhere.
type executor interface {
	Run(ctx context.Context, spec *task.Spec, limit time.Duration, progress task.Progress) (*task.Result, error)
	Close()
}

// New creates an engine.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache directory: %w", err)
	}
	host, err := wasmhost.New(ctx, wasmhost.Config{CacheDir: filepath.Join(cfg.CacheDir, "compiled"), MemoryLimitBytes: cfg.TaskMemory})
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, host: host}
	if cfg.InProcess {
		e.exec = newInProcess(cfg.Logger)
	} else {
		pool, err := worker.NewPool(worker.PoolConfig{Command: cfg.WorkerCommand, Logger: cfg.Logger, DataLimit: cfg.workerDataLimit()})
		if err != nil {
			host.Close(ctx)
			return nil, err
		}
		e.exec = pool
	}
	return e, nil
}

// Close stops the engine's workers.
func (e *Engine) Close() {
	e.exec.Close()
	e.host.Close(context.Background())
}

// Config returns the engine's configuration with defaults applied.
func (e *Engine) Config() Config { return e.cfg }

func newJobID() string {
	var b [6]byte
	rand.Read(b[:])
	return "job-" + hex.EncodeToString(b[:])
}

// Run runs job to completion. progress, if not nil, is called about every
// 100ms from another goroutine (not concurrently with itself).
func (e *Engine) Run(ctx context.Context, job Job, progress func(Progress)) (*Summary, error) {
	start := time.Now()
	if job.ID == "" {
		job.ID = newJobID()
	}
	if job.Reducers == 0 {
		job.Reducers = 1
	}
	if err := validateJob(&job); err != nil {
		return nil, err
	}
	if err := prepareOutput(job.Output, job.Overwrite); err != nil {
		return nil, err
	}
	mod, err := e.stageModule(ctx, job.Module)
	if err != nil {
		return nil, err
	}
	files, err := input.Expand(job.Inputs)
	if err != nil {
		return nil, err
	}
	splits := input.Plan(files, e.cfg.BlockSize)
	workDir, err := os.MkdirTemp(e.cfg.WorkDir, "wmr-"+job.ID+"-")
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(workDir)
	tmpOut := filepath.Join(job.Output, "_temporary")
	if err := os.MkdirAll(tmpOut, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	succeeded := false
	defer func() {
		if !succeeded {
			// Leave no attempt files behind; committed parts stay, but
			// without _SUCCESS nobody should take them for a result.
			os.RemoveAll(tmpOut)
		}
	}()

	r := &jobRun{e: e, job: job, mod: mod, workDir: workDir, tmpOut: tmpOut, start: start,
		sum: &Summary{JobID: job.ID, Module: mod.name, Maps: len(splits), Reduces: job.Reducers, InputFiles: len(files), Counters: map[string]int64{}}}
	for _, f := range files {
		r.prog.InputBytes += f.Size
	}
	r.prog.Maps, r.prog.Reduces, r.prog.Phase = len(splits), job.Reducers, "map"
	stopProgress := r.reportProgress(progress)
	defer stopProgress()

	mapOut, err := r.runMaps(ctx, splits)
	if err != nil {
		return nil, err
	}
	if err := r.runReduces(ctx, mapOut); err != nil {
		return nil, err
	}
	r.setPhase("commit")
	if err := os.RemoveAll(tmpOut); err != nil {
		return nil, fmt.Errorf("clean output: %w", err)
	}
	if err := os.WriteFile(filepath.Join(job.Output, "_SUCCESS"), nil, 0o644); err != nil {
		return nil, fmt.Errorf("write _SUCCESS: %w", err)
	}
	succeeded = true
	r.sum.Wall = time.Since(start)
	stopProgress()
	return r.sum, nil
}

func validateJob(job *Job) error {
	var problems []string
	if job.Module == "" {
		problems = append(problems, "no module (--wasm)")
	}
	if len(job.Inputs) == 0 {
		problems = append(problems, "no input (--input)")
	}
	if job.Output == "" {
		problems = append(problems, "no output directory (--output)")
	}
	if job.Reducers < 1 || job.Reducers > 100000 {
		problems = append(problems, fmt.Sprintf("reducers must be between 1 and 100000, not %d", job.Reducers))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrBadJob, strings.Join(problems, "; "))
	}
	return nil
}

// prepareOutput checks that dir may be written, emptying an earlier job's
// output when overwrite is set.
func prepareOutput(dir string, overwrite bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("output directory %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if !overwrite {
		return fmt.Errorf("%w: %s holds %d entries; choose another directory or pass --overwrite to replace an earlier job's output", ErrOutputExists, dir, len(entries))
	}
	var foreign []string
	for _, en := range entries {
		n := en.Name()
		if !(strings.HasPrefix(n, "part-r-") || n == "_SUCCESS" || n == "_temporary") {
			foreign = append(foreign, n)
		}
	}
	if len(foreign) > 0 {
		sort.Strings(foreign)
		return fmt.Errorf("%w: %s holds files wmr did not write (%s); refusing to delete them", ErrOutputExists, dir, strings.Join(foreign[:min(5, len(foreign))], ", "))
	}
	for _, en := range entries {
		if err := os.RemoveAll(filepath.Join(dir, en.Name())); err != nil {
			return fmt.Errorf("clear output directory: %w", err)
		}
	}
	return nil
}

// stagedModule is a validated module copied into the cache by hash.
type stagedModule struct {
	path, name, hash string
}

func (e *Engine) stageModule(ctx context.Context, path string) (*stagedModule, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	return e.stageBytes(ctx, filepath.Base(path), wasm)
}

func (e *Engine) stageBytes(ctx context.Context, name string, wasm []byte) (*stagedModule, error) {
	m, err := e.host.Compile(ctx, name, wasm)
	if err != nil {
		return nil, err
	}
	m.Close(ctx)
	hash := wasmhost.HashBytes(wasm)
	dir := filepath.Join(e.cfg.CacheDir, "modules")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create module cache: %w", err)
	}
	staged := filepath.Join(dir, hash+".wasm")
	if _, err := os.Stat(staged); err != nil {
		tmp, err := os.CreateTemp(dir, "incoming-*")
		if err != nil {
			return nil, fmt.Errorf("stage module: %w", err)
		}
		_, werr := tmp.Write(wasm)
		cerr := tmp.Close()
		if werr != nil || cerr != nil {
			os.Remove(tmp.Name())
			return nil, fmt.Errorf("stage module: %w", errors.Join(werr, cerr))
		}
		if err := os.Rename(tmp.Name(), staged); err != nil {
			return nil, fmt.Errorf("stage module: %w", err)
		}
	}
	return &stagedModule{path: staged, name: name, hash: hash}, nil
}

// jobRun is the state of one Run.
type jobRun struct {
	e       *Engine
	job     Job
	mod     *stagedModule
	workDir string
	tmpOut  string
	start   time.Time

	mu   sync.Mutex
	sum  *Summary
	prog Progress
	// live holds the latest stats of running attempts, by task ID.
	live map[string]task.Stats
}

func (r *jobRun) setPhase(p string) {
	r.mu.Lock()
	r.prog.Phase = p
	r.mu.Unlock()
}

func (r *jobRun) reportProgress(fn func(Progress)) (stop func()) {
	if fn == nil {
		return func() {}
	}
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fn(r.snapshot())
				return
			case <-t.C:
				fn(r.snapshot())
			}
		}
	}()
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

func (r *jobRun) snapshot() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.prog
	for id, s := range r.live {
		if strings.HasPrefix(id, "m-") {
			p.BytesIn += s.BytesIn
			p.RecordsIn += s.RecordsIn
		} else {
			p.RecordsOut += s.RecordsOut
		}
	}
	p.Elapsed = time.Since(r.start)
	return p
}

func (r *jobRun) baseSpec(kind, id string) task.Spec {
	spec := task.Spec{
		JobID: r.job.ID, TaskID: id, Kind: kind,
		ModulePath: r.mod.path, ModuleName: r.mod.name, ModuleHash: r.mod.hash,
		Params: r.job.Params, Partitions: r.job.Reducers,
		WorkDir: r.workDir,
	}
	r.e.TaskDefaults(&spec)
	return spec
}

// mapOutput is a committed map task's output.
type mapOutput struct {
	path  string
	index runs.Index
}

func (r *jobRun) runMaps(ctx context.Context, splits []input.Split) ([]mapOutput, error) {
	outs := make([]mapOutput, len(splits))
	err := r.runTasks(ctx, len(splits), func(i int) (task.Spec, string) {
		s := splits[i]
		id := fmt.Sprintf("m-%05d", i)
		spec := r.baseSpec(task.KindMap, id)
		spec.InputPath, spec.InputName = s.File.Path, s.File.Name
		spec.SplitOffset, spec.SplitLength = s.Offset, s.Length
		return spec, fmt.Sprintf("map task %s (%s)", id, s)
	}, func(i int, spec *task.Spec, res *task.Result) error {
		outs[i] = mapOutput{path: spec.OutputPath, index: res.Index}
		r.mu.Lock()
		r.prog.MapsDone++
		r.prog.BytesIn += res.Stats.BytesIn
		r.prog.RecordsIn += res.Stats.RecordsIn
		r.sum.BytesIn += res.Stats.BytesIn
		r.sum.RecordsIn += res.Stats.RecordsIn
		r.sum.MapRecordsOut += res.Stats.RecordsOut
		r.sum.Spills += res.Stats.Spills
		if n := len(res.Index.Offsets); n > 0 {
			r.sum.ShuffleBytes += res.Index.Offsets[n-1]
		}
		r.mu.Unlock()
		return nil
	})
	return outs, err
}

func (r *jobRun) runReduces(ctx context.Context, maps []mapOutput) error {
	r.setPhase("reduce")
	return r.runTasks(ctx, r.job.Reducers, func(p int) (task.Spec, string) {
		id := fmt.Sprintf("r-%05d", p)
		spec := r.baseSpec(task.KindReduce, id)
		spec.Partition = p
		for _, m := range maps {
			off, n := m.index.Segment(p)
			spec.Inputs = append(spec.Inputs, runs.Segment{Path: m.path, Offset: off, Length: n})
		}
		return spec, fmt.Sprintf("reduce task %s (partition %d)", id, p)
	}, func(p int, spec *task.Spec, res *task.Result) error {
		final := filepath.Join(r.job.Output, fmt.Sprintf("part-r-%05d", p))
		if err := os.Rename(spec.OutputPath, final); err != nil {
			return fmt.Errorf("commit output of reduce task %d: %w", p, err)
		}
		r.mu.Lock()
		r.prog.ReducesDone++
		r.prog.RecordsOut += res.Stats.RecordsOut
		r.sum.RecordsOut += res.Stats.RecordsOut
		r.sum.BytesOut += res.Stats.BytesOut
		r.sum.Outputs = append(r.sum.Outputs, final)
		r.mu.Unlock()
		return nil
	})
}

// runTasks runs n tasks with the engine's parallelism, retrying failed
// attempts; the first task that fails on every attempt cancels the rest.
// makeSpec returns a task's spec (without attempt and output path) and a
// description for errors; commit records a successful attempt's result.
func (r *jobRun) runTasks(ctx context.Context, n int, makeSpec func(i int) (task.Spec, string), commit func(i int, spec *task.Spec, res *task.Result) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.e.cfg.Parallelism)
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error { return r.runTask(gctx, i, makeSpec, commit) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Cancelled before any task could fail: not a success.
	return context.Cause(ctx)
}

func (r *jobRun) runTask(ctx context.Context, i int, makeSpec func(i int) (task.Spec, string), commit func(int, *task.Spec, *task.Result) error) error {
	spec, what := makeSpec(i)
	var errs []string
	for attempt := 1; attempt <= r.e.cfg.MaxAttempts; attempt++ {
		spec.Attempt = attempt
		if spec.Kind == task.KindMap {
			spec.OutputPath = filepath.Join(r.workDir, fmt.Sprintf("%s.a%d.out", spec.TaskID, attempt))
		} else {
			spec.OutputPath = filepath.Join(r.tmpOut, fmt.Sprintf("part-r-%05d.a%d", spec.Partition, attempt))
		}
		r.mu.Lock()
		r.sum.Attempts++
		r.mu.Unlock()
		res, err := r.e.RunTask(ctx, &spec, func(s task.Stats) {
			r.mu.Lock()
			if r.live == nil {
				r.live = map[string]task.Stats{}
			}
			r.live[spec.TaskID] = s
			r.mu.Unlock()
		})
		r.mu.Lock()
		delete(r.live, spec.TaskID)
		r.mu.Unlock()
		if err == nil {
			r.mu.Lock()
			for k, v := range res.Counters {
				r.sum.Counters[k] += v
			}
			r.mu.Unlock()
			return commit(i, &spec, res)
		}
		os.Remove(spec.OutputPath)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		r.e.cfg.Logger.Warn("task attempt failed", "job", r.job.ID, "task", spec.TaskID, "attempt", attempt, "err", err)
		errs = append(errs, err.Error())
		failed := func(format string, args ...any) error {
			return &jobError{msg: fmt.Sprintf(format, args...), errs: []error{ErrTaskFailed, err}}
		}
		if errors.Is(err, wasmhost.ErrInvalidModule) || errors.Is(err, wasmhost.ErrABIVersion) {
			return failed("%s: %v", what, err)
		}
		if attempt == r.e.cfg.MaxAttempts {
			if allSame(errs) {
				return failed("%s failed on all %d attempts: %v", what, attempt, err)
			}
			return failed("%s failed %d attempts; the last: %v", what, attempt, err)
		}
	}
	return nil
}

func allSame(s []string) bool {
	for _, x := range s {
		if x != s[0] {
			return false
		}
	}
	return true
}

// jobError is an error with a message of its own that still unwraps to
// the sentinels and causes it was made from.
type jobError struct {
	msg  string
	errs []error
}

func (e *jobError) Error() string   { return e.msg }
func (e *jobError) Unwrap() []error { return e.errs }

// ModuleRef names a module staged in the engine's cache.
type ModuleRef struct {
	Path string // the cached file, named by its hash
	Name string // display name, e.g. wordcount-go.wasm
	Hash string // hex SHA-256 of its bytes
}

// StageModule validates wasm (exports, imports; see wasmhost) and stores it
// in the cache by content hash, for RunTask. Staging the same bytes again
// is cheap.
func (e *Engine) StageModule(ctx context.Context, name string, wasm []byte) (ModuleRef, error) {
	m, err := e.stageBytes(ctx, name, wasm)
	if err != nil {
		return ModuleRef{}, err
	}
	return ModuleRef{Path: m.path, Name: name, Hash: m.hash}, nil
}

// CachedModule returns the staged module with the given hash, if present.
func (e *Engine) CachedModule(hash string) (ModuleRef, bool) {
	p := filepath.Join(e.cfg.CacheDir, "modules", hash+".wasm")
	if len(hash) != 64 || strings.ContainsAny(hash, "./\\") {
		return ModuleRef{}, false
	}
	if _, err := os.Stat(p); err != nil {
		return ModuleRef{}, false
	}
	return ModuleRef{Path: p, Hash: hash}, true
}

// TaskDefaults fills the limits of spec from the engine's configuration
// (memory caps, output cap, sort buffer, compile cache).
func (e *Engine) TaskDefaults(spec *task.Spec) {
	cfg := e.cfg
	spec.MemoryLimitBytes = cfg.TaskMemory
	spec.MaxOutputBytes = cfg.MaxTaskOutput
	spec.SortBufferBytes = cfg.MemoryBudget / int64(cfg.Parallelism)
	spec.CacheDir = filepath.Join(cfg.CacheDir, "compiled")
}

// RunTask runs one task attempt on this machine's workers with the
// engine's time limit. The caller (a cluster node) owns retries.
func (e *Engine) RunTask(ctx context.Context, spec *task.Spec, progress task.Progress) (*task.Result, error) {
	limit := e.cfg.TaskTimeout
	if spec.TimeLimit > 0 && spec.TimeLimit < limit {
		limit = spec.TimeLimit
	}
	res, err := e.exec.Run(ctx, spec, limit, progress)
	if err != nil && errors.Is(err, worker.ErrTimeLimit) {
		err = &jobError{msg: fmt.Sprintf("module %s exceeded the task time limit of %v, so its worker process was killed", spec.ModuleName, limit), errs: []error{err}}
	}
	return res, err
}
