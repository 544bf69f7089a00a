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

	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/sampling"
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
	// SkipBadRecords is how many input records the job may skip when a map
	// attempt fails in the module on one (0: a bad record fails the job).
	SkipBadRecords int
	// Partitioner is "hash" (the default) or "range": split points
	// sampled from the input, so the part files read in order are sorted
	// (see engine/sampling).
	Partitioner string
	// InputFormat is how inputs are read (input.ParseFormat): "" or
	// "auto" decides per file by its name and first bytes.
	InputFormat string
	// OutputFormat is "text" (the default: key<TAB>value lines) or "kv"
	// (abi/kv: any bytes, read back by a later job as the same pairs).
	OutputFormat string
	// FanIn is the reduce tree's fan-in for a module with a combiner: the
	// most map outputs one combine or reduce task reads, with combine
	// tasks level after level beyond it (coord.Plan.FanIn). 0: the
	// default, coord.DefaultFanIn; negative: no tree.
	FanIn int
}

// Progress is a snapshot of a running job.
type Progress struct {
	Phase        string // "map", "combine", "reduce" or "commit"
	Maps         int
	MapsDone     int
	Combines     int // the reduce tree's combine tasks
	CombinesDone int
	Reduces      int
	ReducesDone  int
	BytesIn      int64 // input bytes read so far by map tasks
	InputBytes   int64 // total input bytes
	RecordsIn    int64
	RecordsOut   int64 // reduce output records so far
	Elapsed      time.Duration
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
	MapRecordsOut int64 // records map tasks passed to the host (after the module's own combining, before the host's)
	ShuffleBytes  int64 // map output bytes after combining
	// Combines counts the reduce tree's combine tasks, TreeLevels its
	// levels; ReduceBytesIn is what the reduce tasks read (less than
	// ShuffleBytes where the tree combined).
	Combines      int
	TreeLevels    int
	ReduceBytesIn int64
	Spills        int
	RecordsOut    int64
	BytesOut      int64
	Wall          time.Duration
	Counters      map[string]int64
	Outputs       []string
	// Skipped lists the bad input records the job passed over
	// (Job.SkipBadRecords).
	Skipped []coord.Record
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
	if cfg.WorkerCredential != nil { // what an earlier run compiled, too
		if err := shareWithWorkers(cfg.CacheDir); err != nil {
			host.Close(ctx)
			return nil, fmt.Errorf("let worker processes read the module cache: %w", err)
		}
	}
	e := &Engine{cfg: cfg, host: host}
	if cfg.InProcess {
		e.exec = newInProcess(cfg.Logger)
	} else {
		pool, err := worker.NewPool(worker.PoolConfig{Command: cfg.WorkerCommand, Logger: cfg.Logger, DataLimit: cfg.workerDataLimit(),
			Placer: cfg.Placer, MaxIdle: 2 * cfg.Parallelism, Credential: cfg.WorkerCredential})
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

// WorkerStats reports the engine's worker processes: how many run, how
// many were started and why they ended. An in-process engine has none.
func (e *Engine) WorkerStats() worker.Stats {
	if p, ok := e.exec.(*worker.Pool); ok {
		return p.Stats()
	}
	return worker.Stats{Ended: map[string]int64{}}
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
	if p, ok := e.exec.(*worker.Pool); ok {
		// The workers start while the module is staged and the input
		// planned. A failure to start shows again at the first task.
		_ = p.Warm("", e.cfg.Parallelism)
	}
	mod, err := e.stageModule(ctx, job.Module)
	if err != nil {
		return nil, err
	}
	files, err := input.Expand(job.Inputs)
	if err != nil {
		return nil, err
	}
	asked, err := input.ParseFormat(job.InputFormat)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadJob, err)
	}
	for i := range files {
		if files[i].Format, err = input.Resolve(files[i].Path, files[i].Path, asked); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadJob, err)
		}
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

	r := &jobRun{e: e, job: job, mod: mod, splits: splits, workDir: workDir, tmpOut: tmpOut}
	if p, ok := e.exec.(*worker.Pool); ok {
		spec := r.baseSpec(coord.Map.String(), "load")
		p.Load("", &spec)
	}
	if job.Partitioner == sampling.Range {
		if progress != nil {
			progress(Progress{Phase: "sample", Maps: len(splits), Reduces: job.Reducers, Elapsed: time.Since(start)})
		}
		if r.bounds, err = r.sample(ctx); err != nil {
			return nil, err
		}
	}
	var inputBytes int64
	for _, f := range files {
		inputBytes += f.Size
	}
	d := coord.NewDriver(coord.New(r.plan()), r, nil)
	stopProgress := reportProgress(d, start, inputBytes, progress)
	defer stopProgress()
	err = d.Run(ctx)
	stopProgress()
	st := d.Status()
	if err != nil {
		return nil, err
	}
	succeeded = true
	sum := &Summary{JobID: job.ID, Module: mod.name, Maps: len(splits), Reduces: job.Reducers, InputFiles: len(files),
		Attempts: st.Attempts, BytesIn: st.Committed.BytesIn, RecordsIn: st.Committed.RecordsIn, MapRecordsOut: st.Committed.MapRecordsOut,
		ShuffleBytes: st.Committed.ShuffleBytes, Spills: st.Committed.Spills, RecordsOut: st.Committed.RecordsOut,
		Combines: st.Combines, TreeLevels: len(st.Levels), ReduceBytesIn: st.Committed.ReduceBytesIn,
		BytesOut: st.Committed.BytesOut, Counters: st.Counters, Skipped: st.Skipped, Wall: time.Since(start)}
	for p := 0; p < job.Reducers; p++ {
		sum.Outputs = append(sum.Outputs, filepath.Join(job.Output, fmt.Sprintf("part-r-%05d", p)))
	}
	return sum, nil
}

// reportProgress calls fn with the job's progress about every 100ms from
// another goroutine, and once more when stopped.
func reportProgress(d *coord.Driver, start time.Time, inputBytes int64, fn func(Progress)) (stop func()) {
	if fn == nil {
		return func() {}
	}
	snapshot := func() Progress {
		st := d.Status()
		return Progress{Phase: st.Phase, Maps: st.Maps, MapsDone: st.MapsDone, Reduces: st.Reduces, ReducesDone: st.ReducesDone,
			Combines: st.Combines, CombinesDone: st.CombinesDone,
			BytesIn: st.Committed.BytesIn + st.Live.BytesIn, InputBytes: inputBytes, RecordsIn: st.Committed.RecordsIn + st.Live.RecordsIn,
			RecordsOut: st.Committed.RecordsOut + st.Live.RecordsOut, Elapsed: time.Since(start)}
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
				fn(snapshot())
				return
			case <-t.C:
				fn(snapshot())
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
	if err := coord.CheckReducers(job.Reducers); err != nil {
		problems = append(problems, err.Error())
	}
	if err := sampling.Check(job.Partitioner); err != nil {
		problems = append(problems, err.Error())
	}
	if err := task.CheckOutputFormat(job.OutputFormat); err != nil {
		problems = append(problems, err.Error())
	}
	if job.SkipBadRecords < 0 {
		problems = append(problems, "the number of bad records to skip must not be negative")
	}
	if job.FanIn == 1 {
		problems = append(problems, fmt.Sprintf("the reduce tree's fan-in must be 0 (the default, %d), negative (no tree) or at least 2", coord.DefaultFanIn))
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
	return e.stageBytes(ctx, nil, filepath.Base(path), wasm)
}

func (e *Engine) stageBytes(ctx context.Context, place func(pid int) error, name string, wasm []byte) (*stagedModule, error) {
	hash := wasmhost.HashBytes(wasm)
	dir := filepath.Join(e.cfg.CacheDir, "modules")
	// Only validated modules are staged: the same bytes again (a job
	// submitted anew) need no second compile, which takes seconds of this
	// process's CPU for a large Go module.
	if _, err := os.Stat(filepath.Join(dir, hash+".wasm")); err == nil {
		return &stagedModule{path: filepath.Join(dir, hash+".wasm"), name: name, hash: hash}, nil
	}
	if place != nil {
		err := worker.CompileInProcess(ctx, worker.CompileRequest{Command: e.cfg.WorkerCommand,
			CacheDir: filepath.Join(e.cfg.CacheDir, "compiled"), MemoryLimitBytes: e.cfg.TaskMemory, Name: name, Wasm: wasm, Place: place})
		if err != nil {
			return nil, err
		}
	} else {
		m, err := e.host.Compile(ctx, name, wasm)
		if err != nil {
			return nil, err
		}
		m.Close(ctx)
	}
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
	if e.cfg.WorkerCredential != nil {
		if err := shareWithWorkers(e.cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("let worker processes read the module cache: %w", err)
		}
	}
	return &stagedModule{path: staged, name: name, hash: hash}, nil
}

// jobRun is one Run: the executor the job core drives on this machine.
type jobRun struct {
	e       *Engine
	job     Job
	mod     *stagedModule
	splits  []input.Split
	workDir string
	tmpOut  string
	bounds  [][]byte // the range partitioner's split points
}

var _ coord.Executor = (*jobRun)(nil)

// sample runs the range partitioner's sample tasks on this machine.
func (r *jobRun) sample(ctx context.Context) ([][]byte, error) {
	lengths := make([]int64, len(r.splits))
	for i, s := range r.splits {
		lengths[i] = s.Length
	}
	return SampleBounds(ctx, lengths, r.job.Reducers, r.e.cfg.Parallelism, func(ctx context.Context, i int, windows []task.Window) ([][]byte, error) {
		s := r.splits[i]
		spec := r.baseSpec(task.KindSample, fmt.Sprintf("s-%05d", i))
		spec.Attempt = 1
		spec.InputPath, spec.InputName, spec.InputFormat = s.File.Path, s.File.Name, s.File.Format.String()
		spec.SplitOffset, spec.SplitLength = s.Offset, s.Length
		for _, w := range windows {
			spec.Windows = append(spec.Windows, task.Window{Offset: s.Offset + w.Offset, Length: w.Length})
		}
		res, err := r.e.RunTask(ctx, &spec, nil)
		if err != nil {
			return nil, err
		}
		return res.Sample, nil
	})
}

// localNode is the one node of wmr run.
const localNode = "local"

func (r *jobRun) plan() coord.Plan {
	p := coord.Plan{Reduces: r.job.Reducers, Nodes: []coord.NodeUp{{Node: localNode, Slots: r.e.cfg.Parallelism}},
		// One node: a backup would compete with its original for the same
		// cores, so backups are for clusters.
		Policy: coord.Policy{MaxAttempts: r.e.cfg.MaxAttempts, SkipBadRecords: r.job.SkipBadRecords, NoBackups: true},
		FanIn:  TreeFanIn(r.job.FanIn)}
	for _, s := range r.splits {
		p.Maps = append(p.Maps, coord.MapInput{Name: s.String()})
	}
	return p
}

// TreeFanIn is the plan's fan-in for a job's FanIn (0: the default,
// negative: no tree).
func TreeFanIn(asked int) int {
	switch {
	case asked == 0:
		return coord.DefaultFanIn
	case asked < 0:
		return 0
	}
	return asked
}

// CombineInputs turns a combine task's inputs into its spec's segments:
// every partition of each input, input after input.
func CombineInputs(ins []coord.MapOutput, partitions int) []runs.Segment {
	segs := make([]runs.Segment, 0, len(ins)*partitions)
	for _, in := range ins {
		for p := range partitions {
			off, n := in.Index.Segment(p)
			segs = append(segs, runs.Segment{Path: in.Output, Offset: off, Length: n, Sums: in.Index.Checksums(p), Source: in.Task.String()})
		}
	}
	return segs
}

func (r *jobRun) baseSpec(kind, id string) task.Spec {
	spec := task.Spec{
		JobID: r.job.ID, TaskID: id, Kind: kind,
		ModulePath: r.mod.path, ModuleName: r.mod.name, ModuleHash: r.mod.hash,
		Params: r.job.Params, Partitions: r.job.Reducers,
		WorkDir: r.workDir, Partitioner: r.job.Partitioner, Bounds: r.bounds, OutputFormat: r.job.OutputFormat,
	}
	r.e.TaskDefaults(&spec)
	return spec
}

// Run runs one attempt on this machine's workers.
func (r *jobRun) Run(ctx context.Context, st coord.Start, progress func(task.Stats)) coord.Event {
	id := st.Attempt.Task
	spec := r.baseSpec(id.Kind.String(), id.String())
	spec.Attempt = st.Attempt.N
	if id.Kind == coord.Map {
		s := r.splits[id.Index]
		spec.InputPath, spec.InputName, spec.InputFormat = s.File.Path, s.File.Name, s.File.Format.String()
		spec.SplitOffset, spec.SplitLength = s.Offset, s.Length
		spec.SkipOffsets = SkipOffsets(st.Skip)
		spec.OutputPath = filepath.Join(r.workDir, st.Attempt.String()+".out")
	} else if id.Kind == coord.Combine {
		spec.Inputs = CombineInputs(st.Inputs, r.job.Reducers)
		spec.OutputPath = filepath.Join(r.workDir, st.Attempt.String()+".out")
	} else {
		spec.Partition = id.Index
		for _, in := range st.Inputs {
			off, n := in.Index.Segment(id.Index)
			spec.Inputs = append(spec.Inputs, runs.Segment{Path: in.Output, Offset: off, Length: n, Sums: in.Index.Checksums(id.Index), Source: in.Task.String()})
		}
		spec.OutputPath = filepath.Join(r.tmpOut, fmt.Sprintf("part-r-%05d.a%d", id.Index, st.Attempt.N))
	}
	res, err := r.e.RunTask(ctx, &spec, progress)
	if f := r.e.cfg.ModuleLog; f != nil {
		logs := task.ModuleLogs(err)
		if res != nil {
			logs = res.Logs
		}
		for _, l := range logs {
			f(st.Attempt.String(), l)
		}
	}
	if err != nil {
		os.Remove(spec.OutputPath)
		if ctx.Err() == nil {
			r.e.cfg.Logger.Warn("task attempt failed", "job", r.job.ID, "attempt", st.Attempt.String(), "err", err)
		}
		return FailedEvent(st.Attempt, err)
	}
	return coord.Succeeded{Attempt: st.Attempt, Result: res, Output: spec.OutputPath, Holders: []string{localNode}}
}

// Commit moves every reduce output into place and writes _SUCCESS last.
func (r *jobRun) Commit(ctx context.Context, c coord.Commit) error {
	for _, o := range c.Outputs {
		final := filepath.Join(r.job.Output, fmt.Sprintf("part-r-%05d", o.Partition))
		if err := os.Rename(o.Output, final); err != nil {
			return fmt.Errorf("commit output of reduce task %d: %w", o.Partition, err)
		}
	}
	if err := os.RemoveAll(r.tmpOut); err != nil {
		return fmt.Errorf("clean output: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.job.Output, "_SUCCESS"), nil, 0o644); err != nil {
		return fmt.Errorf("write _SUCCESS: %w", err)
	}
	return nil
}

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
	return e.StageModuleIn(ctx, nil, name, wasm)
}

// StageModuleIn is StageModule, with the validation and compile done by a
// process of its own that place puts into a resource group (a tenant's
// CPU group) before it starts: a node charges a tenant for its modules'
// compiles without ever running its own threads at the tenant's weight
// (see worker.CompileInProcess). nil place compiles in this process.
func (e *Engine) StageModuleIn(ctx context.Context, place func(pid int) error, name string, wasm []byte) (ModuleRef, error) {
	m, err := e.stageBytes(ctx, place, name, wasm)
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
	spec.MergeFanIn = cfg.MergeFanIn
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

// jobError is an error with a message of its own that still unwraps to
// the sentinels and causes it was made from.
type jobError struct {
	msg  string
	errs []error
}

func (e *jobError) Error() string   { return e.msg }
func (e *jobError) Unwrap() []error { return e.errs }

// shareWithWorkers makes the module cache under dir readable, and no more,
// by worker processes that run as another user: wazero writes its
// compiled modules for its own user only (0700 directories, 0600 files).
// Workers find what the engine compiled there and never write: one
// tenant's worker that could write the cache could plant code in
// another's.
func shareWithWorkers(dir string) error {
	// A file may vanish under the walk (another compile's temporary file,
	// renamed): that is no error.
	gone := func(err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return gone(err)
		}
		info, err := d.Info()
		if err != nil {
			return gone(err)
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		if info.Mode().Perm() != mode {
			return gone(os.Chmod(path, mode))
		}
		return nil
	})
}
