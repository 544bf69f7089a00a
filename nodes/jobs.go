package nodes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wmr-dev/wmr/engine"
	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/sampling"
	"github.com/wmr-dev/wmr/engine/task"
)

// JobRequest is what a client submits.
type JobRequest struct {
	ModuleHash string            `json:"module_hash"` // staged with PUT /v1/modules
	ModuleName string            `json:"module_name"`
	Input      string            `json:"input"`
	Output     string            `json:"output"`
	Reducers   int               `json:"reducers"`
	Replicas   int               `json:"replicas"` // of the output dataset
	Params     map[string]string `json:"params"`
	// TaskMemory and TaskTime lower the per-task module memory cap and
	// wall-clock limit (0: the tenant's quota, else the node's default).
	TaskMemory int64    `json:"task_memory,omitempty"`
	TaskTime   Duration `json:"task_time,omitempty"`
	// Attempts is how many charged failures a task may have (default 3);
	// SkipBadRecords how many bad input records the job may skip.
	Attempts       int `json:"attempts,omitempty"`
	SkipBadRecords int `json:"skip_bad_records,omitempty"`
	// NoBackups turns backup attempts for stragglers off for this job.
	NoBackups bool `json:"no_backups,omitempty"`
	// Partitioner is "hash" (default) or "range"; Bounds are the range
	// partitioner's split points, which the coordinator samples at submit
	// (a successor reuses them, so map outputs agree).
	Partitioner string   `json:"partitioner,omitempty"`
	Bounds      [][]byte `json:"bounds,omitempty"`
	// InputFormat, if set, must be the input dataset's own (its shards
	// were cut for the format they were put with); OutputFormat is "text"
	// (default) or "kv".
	InputFormat  string `json:"input_format,omitempty"`
	OutputFormat string `json:"output_format,omitempty"`
	// FanIn is the reduce tree's fan-in (engine.Job.FanIn): 0 the
	// default, negative no tree.
	FanIn int `json:"fan_in,omitempty"`
}

// Attempt is one try of one task, as shown by status.
type Attempt struct {
	Task       string    `json:"task"`
	Kind       string    `json:"kind"`
	Node       string    `json:"node"`
	Input      string    `json:"input"`            // map: the shard; reduce: the partition; combine: the outputs it combines
	Inputs     int       `json:"inputs,omitempty"` // combine, reduce: how many outputs it reads
	Local      bool      `json:"local"`            // map: ran on a holder of its shard
	Attempt    int       `json:"attempt"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end,omitzero"`
	RecordsIn  int64     `json:"records_in"`
	BytesIn    int64     `json:"bytes_in"`
	RecordsOut int64     `json:"records_out"`
	BytesOut   int64     `json:"bytes_out"`
	PeakRSS    int64     `json:"peak_rss,omitempty"` // the most memory its worker process held (bytes), once it ended
	Backup     bool      `json:"backup,omitempty"`   // started as a backup of a straggler
	Outcome    string    `json:"outcome"`            // running, succeeded, failed: ..., lost: ..., cancelled: ..., output lost: ...
}

// JobStatus is a job as its coordinator sees it.
type JobStatus struct {
	ID          string     `json:"id"`
	Tenant      string     `json:"tenant"`
	Coordinator string     `json:"coordinator"`
	State       string     `json:"state"` // running, succeeded, failed, cancelled
	Error       string     `json:"error,omitempty"`
	Request     JobRequest `json:"request"`
	Created     time.Time  `json:"created"`
	Finished    time.Time  `json:"finished,omitzero"`
	Maps        int        `json:"maps"`
	MapsDone    int        `json:"maps_done"`
	Reduces     int        `json:"reduces"`
	ReducesDone int        `json:"reduces_done"`
	// Combines counts the reduce tree's combine tasks, Tree describes its
	// levels; ShuffleBytes is what the maps wrote for the reduces and
	// ReduceBytesIn what the reduces read (less where the tree combined).
	Combines      int         `json:"combines,omitempty"`
	CombinesDone  int         `json:"combines_done,omitempty"`
	Tree          []TreeLevel `json:"tree,omitempty"`
	ShuffleBytes  int64       `json:"shuffle_bytes"`
	ReduceBytesIn int64       `json:"reduce_bytes_in"`
	// Phase is map, combine, reduce, commit, succeeded or failed.
	Phase string `json:"phase"`
	// Progress, committed work plus what running attempts have done.
	InputBytes int64 `json:"input_bytes"`
	BytesIn    int64 `json:"bytes_in"`
	RecordsIn  int64 `json:"records_in"`
	RecordsOut int64 `json:"records_out"`
	// Started counts every attempt; Attempts lists each task's latest
	// (older ones: AttemptsDropped).
	Started         int              `json:"started"`
	Attempts        []Attempt        `json:"attempts"`
	AttemptsDropped int              `json:"attempts_dropped,omitempty"`
	Skipped         []coord.Record   `json:"skipped,omitempty"`
	Counters        map[string]int64 `json:"counters"`
}

// TreeLevel is one level of a job's reduce tree, as status shows it.
type TreeLevel struct {
	Level     int   `json:"level"`
	Tasks     int   `json:"tasks"`
	Done      int   `json:"done"`
	MaxInputs int   `json:"max_inputs"` // the most outputs one of its tasks reads
	BytesIn   int64 `json:"bytes_in"`
	BytesOut  int64 `json:"bytes_out"`
}

// job is a job this node coordinates.
type job struct {
	tenant        string
	inKey, outKey string // TENANT/NAME
	driver        *coord.Driver
	rec           *jobRecord // kept on every holder; see jobrecords.go
	recMu         sync.Mutex // rec changes while attempts run (Reduces, Seq)
	mu            sync.Mutex
	status        JobStatus // what the driver does not know: ids, request, times, outcome
	done          chan struct{}
	// logs are the module's log lines of every attempt, as they ended
	// (at most maxJobLogs; logsDropped counts the rest).
	logs        []JobLog
	logsDropped int
}

// JobLog is one module log line of a job's attempt.
type JobLog struct {
	Attempt string `json:"attempt"` // m-00003.a1
	Node    string `json:"node"`
	Level   string `json:"level"`
	Msg     string `json:"msg"`
}

// JobLogs is a job's module log lines, as GET /v1/jobs/ID/logs answers.
type JobLogs struct {
	State   string   `json:"state"`
	Logs    []JobLog `json:"logs"`
	Dropped int      `json:"dropped,omitempty"`
}

// maxJobLogs bounds the module log lines a job keeps.
const maxJobLogs = 10000

func (j *job) addLogs(attempt, node string, lines []task.LogLine) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, l := range lines {
		if len(j.logs) >= maxJobLogs {
			j.logsDropped++
			continue
		}
		j.logs = append(j.logs, JobLog{Attempt: attempt, Node: node, Level: l.LevelName(), Msg: l.Msg})
	}
}

// jobLogs returns the job's lines of the attempts of task ("" for all).
func (j *job) jobLogs(taskID string) JobLogs {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := JobLogs{State: j.status.State, Dropped: j.logsDropped, Logs: []JobLog{}}
	for _, l := range j.logs {
		if taskID == "" || strings.HasPrefix(l.Attempt, taskID+".") {
			out.Logs = append(out.Logs, l)
		}
	}
	return out
}

// updateRecord changes the job's record under its lock and returns a copy
// to push.
func (j *job) updateRecord(change func(r *jobRecord)) *jobRecord {
	j.recMu.Lock()
	defer j.recMu.Unlock()
	change(j.rec)
	return j.rec.clone()
}

// recordNow returns a copy of the job's record as it is.
func (j *job) recordNow() *jobRecord { return j.updateRecord(func(*jobRecord) {}) }

// noteReduce adds a reduce that succeeded to the job's record, on every
// holder: a successor reuses its output instead of running it again.
func (n *Node) noteReduce(ctx context.Context, j *job, d reduceDone) {
	rec := j.updateRecord(func(r *jobRecord) {
		r.Reduces = slices.DeleteFunc(r.Reduces, func(o reduceDone) bool { return o.Partition == d.Partition })
		r.Reduces = append(r.Reduces, d)
		r.Seq++
	})
	n.record(ctx, rec)
}

// running reports whether the job has not ended yet.
func (j *job) running() bool {
	select {
	case <-j.done:
		return false
	default:
		return true
	}
}

func (j *job) snapshot() JobStatus {
	j.mu.Lock()
	s := j.status
	j.mu.Unlock()
	st := j.driver.Status()
	s.Phase, s.Maps, s.MapsDone, s.Reduces, s.ReducesDone = st.Phase, st.Maps, st.MapsDone, st.Reduces, st.ReducesDone
	s.Combines, s.CombinesDone = st.Combines, st.CombinesDone
	s.ShuffleBytes, s.ReduceBytesIn = st.Committed.ShuffleBytes, st.Committed.ReduceBytesIn
	s.Tree = nil
	for _, l := range st.Levels {
		s.Tree = append(s.Tree, TreeLevel{Level: l.Level, Tasks: l.Tasks, Done: l.Done, MaxInputs: l.MaxInputs, BytesIn: l.BytesIn, BytesOut: l.BytesOut})
	}
	s.BytesIn, s.RecordsIn = st.Committed.BytesIn+st.Live.BytesIn, st.Committed.RecordsIn+st.Live.RecordsIn
	s.RecordsOut = st.Committed.RecordsOut + st.Live.RecordsOut
	s.Started, s.AttemptsDropped, s.Skipped, s.Counters = st.Attempts, st.Dropped, st.Skipped, st.Counters
	s.Attempts = make([]Attempt, 0, len(st.History))
	for _, a := range st.History {
		s.Attempts = append(s.Attempts, Attempt{Task: a.Attempt.Task.String(), Kind: a.Attempt.Task.Kind.String(), Node: a.Node,
			Input: a.Input, Inputs: a.Inputs, Local: a.Local, Attempt: a.Attempt.N, Start: a.Start, End: a.End, RecordsIn: a.Stats.RecordsIn,
			BytesIn: a.Stats.BytesIn, RecordsOut: a.Stats.RecordsOut, BytesOut: a.Stats.BytesOut, PeakRSS: a.Stats.PeakRSS, Backup: a.Backup, Outcome: a.Outcome})
	}
	return s
}

func newJobID(coordinator string) string {
	var b [4]byte
	rand.Read(b[:])
	return "job-" + coordinator + "-" + hex.EncodeToString(b[:])
}

// coordinatorOf reads the coordinator's name out of a job ID.
func coordinatorOf(id string) string {
	rest, ok := strings.CutPrefix(id, "job-")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(rest, '-'); i > 0 {
		return rest[:i]
	}
	return ""
}

func (n *Node) handlePutModule(w http.ResponseWriter, r *http.Request) {
	t := tenantOf(r)
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "module.wasm"
	}
	limit := int64(maxModule)
	if q := int64(t.Quotas.ModuleSize); q > 0 && q < limit {
		limit = q
	}
	wasm, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		err = fmt.Errorf("%w: module %s is larger than %d bytes, the module size limit for tenant %s", errQuota, name, limit, t.Name)
		n.audit(r, "module.upload", name, err)
		writeError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	var ref engine.ModuleRef
	ref, err = n.stageAsTenant(r.Context(), t.Name, name, wasm)
	if err == nil {
		err = n.modules.add(t.Name, ref.Hash)
	}
	n.audit(r, "module.upload", name+"@"+ref.Hash, err)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, map[string]string{"hash": ref.Hash})
}

func (n *Node) handleSubmit(w http.ResponseWriter, r *http.Request) {
	var req JobRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	st, err := n.submit(r.Context(), tenantOf(r), &req)
	target := req.Input + " -> " + req.Output
	if st != nil {
		target = st.ID + " " + target
	}
	n.audit(r, "job.submit", target, err)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, st)
}

// errBadJob marks a job request that cannot run.
var errBadJob = errors.New("invalid job")

// limits settles a job's per-task memory and time: what it asks for, at
// most the tenant's quota, by default the quota or the node's default.
func (n *Node) limits(t *Tenant, req *JobRequest) error {
	ecfg := n.engine.Config()
	qm, qt := int64(t.Quotas.TaskMemory), time.Duration(t.Quotas.TaskTime)
	if req.TaskMemory < 0 || req.TaskTime < 0 {
		return fmt.Errorf("%w: task memory and time must not be negative", errBadJob)
	}
	if qm > 0 && req.TaskMemory > qm {
		return fmt.Errorf("%w: the job asks for %d bytes of task memory; tenant %s may use at most %d", errQuota, req.TaskMemory, t.Name, qm)
	}
	if qt > 0 && time.Duration(req.TaskTime) > qt {
		return fmt.Errorf("%w: the job asks for a task time limit of %v; tenant %s may use at most %v", errQuota, time.Duration(req.TaskTime), t.Name, qt)
	}
	if req.TaskMemory == 0 {
		req.TaskMemory = ecfg.TaskMemory
		if qm > 0 && qm < req.TaskMemory {
			req.TaskMemory = qm
		}
	}
	if req.TaskTime == 0 {
		req.TaskTime = Duration(ecfg.TaskTimeout)
		if qt > 0 && qt < ecfg.TaskTimeout {
			req.TaskTime = Duration(qt)
		}
	}
	return nil
}

func (n *Node) submit(ctx context.Context, t *Tenant, req *JobRequest) (*JobStatus, error) {
	if req.Reducers == 0 {
		req.Reducers = 1
	}
	if req.Replicas == 0 {
		req.Replicas = 1
	}
	inKey, err1 := qualify(t, req.Input)
	outKey, err2 := qualify(t, req.Output)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	if req.Attempts == 0 {
		req.Attempts = coord.DefaultMaxAttempts
	}
	if err := coord.CheckReducers(req.Reducers); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadJob, err)
	}
	if err := sampling.Check(req.Partitioner); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadJob, err)
	}
	req.Bounds = nil // sampled below, never taken from a client
	if req.Attempts < 1 || req.SkipBadRecords < 0 {
		return nil, fmt.Errorf("%w: attempts must be at least 1 and skipped records not negative", errBadJob)
	}
	if req.FanIn == 1 {
		return nil, fmt.Errorf("%w: fan_in must be 0 (the default, %d), negative (no reduce tree) or at least 2", errBadJob, coord.DefaultFanIn)
	}
	if req.Replicas < 1 || req.Replicas > 16 {
		return nil, fmt.Errorf("%w: output replicas must be 1 to 16", errBadJob)
	}
	if _, ok := n.engine.CachedModule(req.ModuleHash); !ok || !n.modules.owns(t.Name, req.ModuleHash) {
		return nil, fmt.Errorf("%w: module %q was not uploaded to this node by tenant %s", errBadJob, req.ModuleHash, t.Name)
	}
	if err := n.limits(t, req); err != nil {
		return nil, err
	}
	in, err := n.store.manifest(inKey)
	if err != nil {
		return nil, err
	}
	if err := task.CheckOutputFormat(req.OutputFormat); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadJob, err)
	}
	if err := checkInputFormat(req.Input, in, req.InputFormat); err != nil {
		return nil, err
	}
	if _, err := n.store.manifest(outKey); err == nil {
		return nil, fmt.Errorf("%w: dataset %s already exists; choose another --output", errBadJob, req.Output)
	}
	if req.Replicas > len(n.alive()) {
		return nil, fmt.Errorf("%w: %d output replicas asked for, but only %d nodes are alive", errNotEnoughNodes, req.Replicas, len(n.alive()))
	}
	owner := in.Tenant // an admin may run on another tenant's data, as that tenant
	_, outName, _ := splitQualified(outKey)
	if o, _, _ := splitQualified(outKey); o != owner {
		return nil, fmt.Errorf("%w: the output must belong to the input's tenant %s", errBadJob, owner)
	}
	// One look at every live node's jobs: the tenant's running jobs (its
	// quota) and whether another running job will write the same output.
	running := 0
	for _, st := range n.listJobs(ctx, t, false) {
		if st.State != "running" {
			continue
		}
		if st.Tenant == owner && st.Request.Output == outName {
			return nil, errOutputTaken(st.ID, req.Output)
		}
		if st.Tenant == t.Name {
			running++
		}
	}
	if q := t.Quotas.Jobs; q > 0 && running >= q {
		return nil, fmt.Errorf("%w: tenant %s already runs %d jobs, its quota; wait for one to finish", errQuota, t.Name, running)
	}
	req.Output = outName
	j := &job{done: make(chan struct{}), tenant: owner, inKey: inKey, outKey: outKey, status: JobStatus{ID: newJobID(n.name), Tenant: owner,
		Coordinator: n.name, State: "running", Request: *req, Created: time.Now()}}
	for _, sh := range in.Shards {
		j.status.InputBytes += sh.Size
	}
	x := &clusterJob{n: n, j: j, in: in, req: *req}
	plan := x.plan()
	j.rec = &jobRecord{ID: j.status.ID, Tenant: owner, InKey: inKey, OutKey: outKey, Request: *req, Created: j.status.Created, Coordinator: n.name}
	for _, m := range plan.Nodes {
		j.rec.Holders = append(j.rec.Holders, m.Node)
	}
	j.driver = coord.NewDriver(coord.New(plan), x, nil)
	n.jobsMu.Lock()
	for id, other := range n.jobs { // a submit to this node that raced ours
		if other.outKey == outKey && other.running() {
			n.jobsMu.Unlock()
			return nil, errOutputTaken(id, req.Output)
		}
	}
	n.jobs[j.status.ID] = j
	n.jobsMu.Unlock()
	// Before it runs, the job is known to every holder and each has the
	// module: any of them can take it over.
	x.prepareAll(ctx)
	if req.Partitioner == sampling.Range {
		bounds, err := x.sample(ctx)
		if err != nil {
			n.jobsMu.Lock()
			delete(n.jobs, j.status.ID)
			n.jobsMu.Unlock()
			return nil, fmt.Errorf("%w: %w", errBadJob, err)
		}
		x.req.Bounds, j.rec.Request.Bounds = bounds, bounds
		j.mu.Lock()
		j.status.Request.Bounds = bounds
		j.mu.Unlock()
	}
	n.record(ctx, j.rec)
	go n.coordinate(j)
	st := j.snapshot()
	return &st, nil
}

// checkInputFormat says whether a job may read dataset in as format
// (empty or auto: as put): its shards were cut at the record boundaries
// of the format they were put with, and are read that way only.
func checkInputFormat(name string, in *Manifest, format string) error {
	asked, err := input.ParseFormat(format)
	if err != nil {
		return fmt.Errorf("%w: %w", errBadJob, err)
	}
	if asked.Kind == "" {
		return nil
	}
	for _, sh := range in.Shards {
		own, _ := input.ParseFormat(sh.Format)
		if own.Kind == "" {
			own.Kind = input.Text
		}
		if own.RecordKind() != asked.RecordKind() {
			return fmt.Errorf("%w: dataset %s holds %s records (shard %s of %s), which were stored cut for that format and cannot be read as %s; put the files again with --input-format %s",
				errBadJob, name, own.RecordKind(), sh.ID, sh.File, asked.RecordKind(), asked.RecordKind())
		}
	}
	return nil
}

func errOutputTaken(job, output string) error {
	return fmt.Errorf("%w: job %s, still running, writes dataset %s; choose another --output", errBadJob, job, output)
}
