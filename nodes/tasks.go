package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/wmr-dev/wmr/engine"
	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/sampling"
	"github.com/wmr-dev/wmr/engine/task"
)

// taskRequest asks a node to run one task attempt of a job it may not
// coordinate.
type taskRequest struct {
	JobID       string            `json:"job_id"`
	TaskID      string            `json:"task_id"`
	Kind        string            `json:"kind"`
	Attempt     int               `json:"attempt"`
	ModuleHash  string            `json:"module_hash"`
	ModuleName  string            `json:"module_name"`
	Coordinator string            `json:"coordinator"` // HTTP address to fetch the module from
	Params      map[string]string `json:"params"`
	Partitions  int               `json:"partitions"`
	// Tenant owns the job; its quotas and fair share apply here.
	Tenant     string   `json:"tenant"`
	TaskMemory int64    `json:"task_memory,omitempty"`
	TaskTime   Duration `json:"task_time,omitempty"`
	// Map tasks.
	Dataset   string  `json:"dataset,omitempty"`
	Shard     string  `json:"shard,omitempty"`
	InputName string  `json:"input_name,omitempty"`
	Skip      []int64 `json:"skip,omitempty"` // offsets of bad records to pass over, in the shard
	// Base is the shard's offset in the file it was cut from, so errors
	// name the user's file and offset.
	Base int64 `json:"base,omitempty"`
	// The range partitioner's split points (maps), and the windows of the
	// shard a sample task reads (offsets within the shard).
	Partitioner string        `json:"partitioner,omitempty"`
	Bounds      [][]byte      `json:"bounds,omitempty"`
	Windows     []task.Window `json:"windows,omitempty"`
	// How the shard is read (Shard.Format) and how a reduce writes.
	InputFormat  string `json:"input_format,omitempty"`
	OutputFormat string `json:"output_format,omitempty"`
	// Reduce tasks.
	Partition int         `json:"partition"`
	Inputs    []mapOutput `json:"inputs,omitempty"`
	Output    string      `json:"output,omitempty"`
	Replicas  int         `json:"replicas,omitempty"`
}

// taskResponse is a task attempt's outcome.
type taskResponse struct {
	Result  *task.Result `json:"result,omitempty"`
	File    string       `json:"file,omitempty"`    // map: the output file name on the node
	Holders []string     `json:"holders,omitempty"` // reduce: where the output shard went
	Error   string       `json:"error,omitempty"`
	// Class says whose fault the failure was (see classOf).
	Class string `json:"class,omitempty"`
	// Record is the input record the module failed on, if any.
	Record *coord.Record `json:"record,omitempty"`
	// LostMaps names map tasks whose output could not be fetched.
	LostMaps []string `json:"lost_maps,omitempty"`
	// Logs are a failed attempt's module log lines (a successful one's
	// are in its Result).
	Logs []task.LogLine `json:"logs,omitempty"`
}

// Failure classes on the wire: the names of coord.Class values.
var classNames = map[coord.Class]string{coord.ModuleFault: "module", coord.LocalFault: "local", coord.Invalid: "invalid",
	coord.Lost: "lost", coord.FetchFailed: "fetch"}

// classOf reads a failure class from the wire; an unknown one is the
// executing node's fault (charged).
func classOf(name string) coord.Class {
	for c, n := range classNames {
		if n == name {
			return c
		}
	}
	return coord.LocalFault
}

// failedResponse describes a failed attempt for its coordinator.
func failedResponse(err error) *taskResponse {
	class, rec := engine.FailureOf(err)
	resp := &taskResponse{Error: err.Error(), Class: classNames[class], Record: rec, Logs: task.ModuleLogs(err)}
	for _, m := range engine.CorruptMaps(err) {
		resp.LostMaps = append(resp.LostMaps, m.String())
	}
	return resp
}

var safeFile = regexp.MustCompile(`^(m|c[0-9]+)-[0-9]{5}\.a[0-9]+\.out$`)

func (n *Node) jobDir(job string) string { return filepath.Join(n.cfg.DataDir, "jobs", job) }

// moduleFor makes the job's module available here: from the cache, or
// fetched once from the coordinator.
func (n *Node) moduleFor(ctx context.Context, req *taskRequest) (string, error) {
	if ref, ok := n.engine.CachedModule(req.ModuleHash); ok {
		n.metrics.moduleCache("hit")
		return ref.Path, nil
	}
	// One fetch per module at a time; a fetch of another module (a cold
	// compile of another tenant's, seconds long) holds nobody else up.
	unlock := n.moduleLocks.lock(req.ModuleHash)
	defer unlock()
	if ref, ok := n.engine.CachedModule(req.ModuleHash); ok {
		n.metrics.moduleCache("hit")
		return ref.Path, nil
	}
	n.metrics.moduleCache("miss")
	u := n.addrURL(req.Coordinator, "/v1/internal/modules/"+url.PathEscape(req.ModuleHash))
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a hung coordinator must not hold the task
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := n.client.Do(hreq)
	if err != nil {
		return "", fmt.Errorf("fetch module %s from the coordinator: %w", req.ModuleName, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch module %s from the coordinator: %s", req.ModuleName, responseError(resp))
	}
	wasm, err := io.ReadAll(io.LimitReader(resp.Body, maxModule+1))
	if err != nil {
		return "", err
	}
	var ref engine.ModuleRef
	ref, err = n.stageAsTenant(ctx, req.Tenant, req.ModuleName, wasm)
	if err != nil {
		return "", err
	}
	if ref.Hash != req.ModuleHash {
		return "", fmt.Errorf("module %s fetched from the coordinator has hash %s, not %s", req.ModuleName, ref.Hash[:12], req.ModuleHash[:12])
	}
	return ref.Path, nil
}

// keyLocks serialises work per key (a module hash), not across keys.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu    sync.Mutex
	users int
}

func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// maxModule bounds an uploaded module.
const maxModule = 256 << 20

func (n *Node) handleTask(w http.ResponseWriter, r *http.Request) {
	var req taskRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if err := errors.Join(ValidName("job", req.JobID), ValidName("task", req.TaskID)); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	t, err := n.tenantFor(req.Tenant)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	// Fair share: wait for a slot here, then run.
	release, err := n.share.acquire(r.Context(), t.Name, t.Quotas.ConcurrentTasks)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	defer release()
	kind, start := knownKind(req.Kind), time.Now()
	defer n.running.add(RunningTask{Job: req.JobID, Task: req.TaskID, Kind: req.Kind, Attempt: req.Attempt, Tenant: t.Name, Start: start})()
	n.metrics.taskStarted(kind)
	resp := n.runTask(r.Context(), t, &req)
	n.metrics.taskFinished(kind, start, resp)
	writeJSON(w, resp)
}

func (n *Node) runTask(ctx context.Context, t *Tenant, req *taskRequest) *taskResponse {
	fail := failedResponse
	if !n.isMemberHTTP(req.Coordinator) { // modules come from members only
		return &taskResponse{Error: fmt.Sprintf("coordinator %q is not a live member", req.Coordinator), Class: classNames[coord.Lost]}
	}
	modPath, err := n.moduleFor(ctx, req)
	if err != nil {
		return fail(err)
	}
	dir := n.jobDir(req.JobID)
	for _, sub := range []string{"work", "maps", "shuffle", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fail(err)
		}
	}
	// The worker writes spills, map and combine outputs and reduce output;
	// the node alone writes what it fetches (shuffle).
	if err := n.forWorkers(filepath.Join(dir, "work"), filepath.Join(dir, "maps"), filepath.Join(dir, "out")); err != nil {
		return fail(fmt.Errorf("give the job's directories to the worker user: %w", err))
	}
	spec := task.Spec{JobID: req.JobID, TaskID: req.TaskID, Kind: req.Kind, Attempt: req.Attempt,
		ModulePath: modPath, ModuleName: req.ModuleName, ModuleHash: req.ModuleHash,
		Params: req.Params, Partitions: req.Partitions, WorkDir: filepath.Join(dir, "work")}
	n.engine.TaskDefaults(&spec)
	if b := n.share.burst; b > 0 {
		// Burst slots run more tasks than slots: the node's --memory is
		// shared by all that may run at once.
		spec.SortBufferBytes = n.engine.Config().MemoryBudget / int64(n.cfg.SlotsPerNode+b)
	}
	if n.groups != nil {
		spec.Group = t.Name // its worker runs in the tenant's cgroup
	}
	if q := int64(t.Quotas.TaskOutput); q > 0 && q < spec.MaxOutputBytes {
		spec.MaxOutputBytes = q
	}
	if req.TaskMemory > 0 && req.TaskMemory < spec.MemoryLimitBytes {
		spec.MemoryLimitBytes = req.TaskMemory
	}
	spec.TimeLimit = time.Duration(req.TaskTime)
	spec.Partitioner, spec.Bounds = req.Partitioner, req.Bounds
	spec.InputFormat, spec.OutputFormat = req.InputFormat, req.OutputFormat
	if err := sampling.Check(req.Partitioner); err != nil {
		return &taskResponse{Error: err.Error(), Class: classNames[coord.Invalid]}
	}
	if err := sampling.CheckBounds(req.Bounds, req.Partitions); err != nil {
		return &taskResponse{Error: "the job's range partitioner: " + err.Error(), Class: classNames[coord.Invalid]}
	}
	switch req.Kind {
	case task.KindSample:
		path, off, length, err := n.inputRange(ctx, req.Dataset, req.Shard)
		if err != nil {
			return fail(err)
		}
		spec.InputPath, spec.InputName, spec.SplitOffset, spec.SplitLength = path, req.InputName, off, length
		for _, w := range req.Windows {
			if w.Offset < 0 || w.Length < 0 || w.Offset+w.Length > length {
				return &taskResponse{Error: fmt.Sprintf("sample window %d+%d is outside shard %s of %d bytes", w.Offset, w.Length, req.Shard, length), Class: classNames[coord.Invalid]}
			}
			spec.Windows = append(spec.Windows, task.Window{Offset: off + w.Offset, Length: w.Length})
		}
		res, err := n.engine.RunTask(ctx, &spec, nil)
		if err != nil {
			return fail(err)
		}
		return &taskResponse{Result: res}
	case task.KindMap:
		path, off, length, err := n.inputRange(ctx, req.Dataset, req.Shard)
		if err != nil {
			return fail(err)
		}
		spec.InputPath, spec.InputName, spec.SplitOffset, spec.SplitLength = path, req.InputName, off, length
		spec.InputDisplay, spec.InputBase = req.InputName, req.Base-off // offsets in path count from the file's start
		spec.SkipOffsets = req.Skip
		file := fmt.Sprintf("%s.a%d.out", req.TaskID, req.Attempt)
		spec.OutputPath = filepath.Join(dir, "maps", file)
		res, err := n.engine.RunTask(ctx, &spec, nil)
		if err == nil {
			err = writeMapResult(spec.OutputPath, res)
		}
		if err != nil {
			return fail(err)
		}
		return &taskResponse{Result: res, File: file}
	case task.KindCombine:
		shuffle := filepath.Join(dir, "shuffle", fmt.Sprintf("%s.a%d", req.TaskID, req.Attempt))
		defer os.RemoveAll(shuffle)
		segs, lost, err := n.fetchPartition(ctx, req, shuffle)
		if err != nil {
			if len(lost) == 0 {
				return &taskResponse{Error: err.Error(), Class: classNames[coord.LocalFault]}
			}
			return &taskResponse{Error: err.Error(), Class: classNames[coord.FetchFailed], LostMaps: lost}
		}
		spec.Inputs = segs
		file := fmt.Sprintf("%s.a%d.out", req.TaskID, req.Attempt)
		spec.OutputPath = filepath.Join(dir, "maps", file) // served as map outputs are
		res, err := n.engine.RunTask(ctx, &spec, nil)
		if err != nil {
			return fail(err)
		}
		return &taskResponse{Result: res, File: file}
	case task.KindReduce:
		segs, lost, err := n.fetchPartition(ctx, req, filepath.Join(dir, "shuffle", fmt.Sprintf("%s.a%d", req.TaskID, req.Attempt)))
		if err != nil {
			os.RemoveAll(filepath.Join(dir, "shuffle", fmt.Sprintf("%s.a%d", req.TaskID, req.Attempt)))
			if len(lost) == 0 { // this node's own fault: a full disk, say
				return &taskResponse{Error: err.Error(), Class: classNames[coord.LocalFault]}
			}
			return &taskResponse{Error: err.Error(), Class: classNames[coord.FetchFailed], LostMaps: lost}
		}
		spec.Partition, spec.Inputs = req.Partition, segs
		spec.OutputPath = filepath.Join(dir, "out", fmt.Sprintf("%s.a%d", req.TaskID, req.Attempt))
		res, err := n.engine.RunTask(ctx, &spec, nil)
		os.RemoveAll(filepath.Join(dir, "shuffle", fmt.Sprintf("%s.a%d", req.TaskID, req.Attempt)))
		if err != nil {
			return fail(err)
		}
		defer os.Remove(spec.OutputPath)
		shard := fmt.Sprintf("part-r-%05d", req.Partition)
		holders, err := n.holdersFor(req.Output+"/"+shard, req.Replicas)
		if err == nil {
			_, err = n.replicate(ctx, req.Output, shard, spec.OutputPath, holders)
		}
		if err != nil {
			// A replica holder that is gone or failing is not the task's fault.
			return &taskResponse{Error: fmt.Sprintf("store output %s: %v", shard, err), Class: classNames[coord.Lost]}
		}
		resp := &taskResponse{Result: res}
		for _, h := range holders {
			resp.Holders = append(resp.Holders, h.Name)
		}
		return resp
	}
	return fail(fmt.Errorf("unknown task kind %q", req.Kind))
}

// handleDropJob removes a finished job's intermediate files.
func (n *Node) handleDropJob(w http.ResponseWriter, r *http.Request) {
	job := r.PathValue("job")
	if err := ValidName("job", job); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	// A coordinator cut off by a partition ends its run of a job and drops
	// the job's files; a successor that took the job over at a later
	// epoch still needs the ones here.
	epoch, _ := strconv.Atoi(r.URL.Query().Get("epoch"))
	if rec, ok := n.records.get(job); ok && rec.Final == nil && rec.Epoch > epoch {
		writeError(w, http.StatusConflict, fmt.Errorf("%w: job %s is coordinated by %s at epoch %d, not %d; its files stay", errExists, job, rec.Coordinator, rec.Epoch, epoch))
		return
	}
	os.RemoveAll(n.jobDir(job))
	writeJSON(w, map[string]string{"dropped": job})
}

// prepareRequest asks a node to get a job's module ready (fetched from the
// coordinator, validated, compiled into the cache) before its first task.
type prepareRequest struct {
	ModuleName  string `json:"module_name"`
	Coordinator string `json:"coordinator"`      // HTTP address to fetch it from
	Tenant      string `json:"tenant,omitempty"` // whose job: the compile runs in its CPU group
}

// handlePrepareModule makes a module ready here, so the time that takes is
// not counted as a task's (it would look like a straggler).
func (n *Node) handlePrepareModule(w http.ResponseWriter, r *http.Request) {
	var req prepareRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	hash := r.PathValue("hash")
	if !validHash(hash) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w: %q is not a module hash", errBadRequest, hash))
		return
	}
	if !n.isMemberHTTP(req.Coordinator) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w: %q is not a live member's address", errBadRequest, req.Coordinator))
		return
	}
	if _, err := n.moduleFor(r.Context(), &taskRequest{ModuleHash: hash, ModuleName: req.ModuleName, Coordinator: req.Coordinator, Tenant: req.Tenant}); err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, map[string]string{"hash": hash})
}

// validHash says whether s looks like a module's hex SHA-256.
func validHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// handleGetModule serves a module this node staged (as coordinator).
func (n *Node) handleGetModule(w http.ResponseWriter, r *http.Request) {
	ref, ok := n.engine.CachedModule(r.PathValue("hash"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no module %s here", r.PathValue("hash")))
		return
	}
	http.ServeFile(w, r, ref.Path)
}
