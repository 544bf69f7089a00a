package nodes

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
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
}

// Attempt is one try of one task, as shown by status.
type Attempt struct {
	Task       string    `json:"task"`
	Kind       string    `json:"kind"`
	Node       string    `json:"node"`
	Input      string    `json:"input"` // map: the shard; reduce: the partition
	Local      bool      `json:"local"` // map: ran on a holder of its shard
	Attempt    int       `json:"attempt"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end,omitzero"`
	RecordsIn  int64     `json:"records_in"`
	BytesIn    int64     `json:"bytes_in"`
	RecordsOut int64     `json:"records_out"`
	BytesOut   int64     `json:"bytes_out"`
	Backup     bool      `json:"backup,omitempty"` // started as a backup of a straggler
	Outcome    string    `json:"outcome"`          // running, succeeded, failed: ..., lost: ..., cancelled: ..., output lost: ...
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
	// Phase is map, reduce, commit, succeeded or failed.
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

// job is a job this node coordinates.
type job struct {
	tenant        string
	inKey, outKey string // TENANT/NAME
	driver        *coord.Driver
	rec           *jobRecord // kept on every holder; see jobrecords.go
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
	s.BytesIn, s.RecordsIn = st.Committed.BytesIn+st.Live.BytesIn, st.Committed.RecordsIn+st.Live.RecordsIn
	s.RecordsOut = st.Committed.RecordsOut + st.Live.RecordsOut
	s.Started, s.AttemptsDropped, s.Skipped, s.Counters = st.Attempts, st.Dropped, st.Skipped, st.Counters
	s.Attempts = make([]Attempt, 0, len(st.History))
	for _, a := range st.History {
		s.Attempts = append(s.Attempts, Attempt{Task: a.Attempt.Task.String(), Kind: a.Attempt.Task.Kind.String(), Node: a.Node,
			Input: a.Input, Local: a.Local, Attempt: a.Attempt.N, Start: a.Start, End: a.End, RecordsIn: a.Stats.RecordsIn,
			BytesIn: a.Stats.BytesIn, RecordsOut: a.Stats.RecordsOut, BytesOut: a.Stats.BytesOut, Backup: a.Backup, Outcome: a.Outcome})
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
	ref, err := n.engine.StageModule(r.Context(), name, wasm)
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

// coordinate runs j to its end, then drops its intermediate files on
// every node.
func (n *Node) coordinate(j *job) {
	err := j.driver.Run(n.ctx)
	if n.ctx.Err() != nil {
		// This node is shutting down: the job is not over, a successor
		// takes it over when this node has left.
		j.mu.Lock()
		j.status.State, j.status.Error = "running", "its coordinator "+n.name+" shut down; a successor takes it over"
		j.mu.Unlock()
		close(j.done)
		return
	}
	if errors.Is(err, errSuperseded) {
		// A successor took the job over while this node was cut off: its
		// record, files and output are the successor's, so this run
		// writes no final status and removes nothing.
		j.mu.Lock()
		j.status.State, j.status.Error = "running", "its coordinator "+n.name+" lost it to a successor: "+err.Error()
		j.mu.Unlock()
		close(j.done)
		n.jobsMu.Lock()
		if n.jobs[j.status.ID] == j {
			delete(n.jobs, j.status.ID)
		}
		n.jobsMu.Unlock()
		n.log.Warn("stopped coordinating a job a successor took over", "job", j.status.ID, "err", err)
		return
	}
	j.mu.Lock()
	j.status.Finished = time.Now()
	if errors.Is(err, errCancelled) {
		j.status.State, j.status.Error = "cancelled", err.Error()
	} else if err != nil {
		j.status.State, j.status.Error = "failed", err.Error()
	} else {
		j.status.State = "succeeded"
	}
	j.mu.Unlock()
	close(j.done)
	final := j.snapshot()
	j.rec.Final = &final
	all := j.jobLogs("")
	j.rec.Logs, j.rec.LogsDropped = all.Logs, all.Dropped
	n.record(n.ctx, j.rec)
	for _, m := range n.alive() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(n.ctx), 10*time.Second)
		r, _ := http.NewRequestWithContext(ctx, http.MethodDelete, n.peerURL(m, "/v1/internal/jobs/"+j.status.ID+"?epoch="+strconv.Itoa(j.rec.Epoch)), nil)
		if r != nil {
			n.do(r, nil)
		}
		cancel()
	}
	if err != nil {
		n.log.Warn("job failed", "job", j.status.ID, "err", err)
	} else {
		n.log.Info("job succeeded", "job", j.status.ID)
	}
}

// membershipChanged tells every running job that a member came or went,
// and takes over the jobs of a coordinator that left where this node is
// the successor.
func (n *Node) membershipChanged(ev coord.Event) {
	// Before the node is ready (memberlist reports members while it
	// starts), Start adopts orphans itself.
	if n.ready.Load() && !n.shuttingDown() {
		go n.adoptOrphans()
		if up, ok := ev.(coord.NodeUp); ok && up.Node != n.name {
			go func() {
				if m, ok := n.aliveMember(up.Node); ok {
					n.shareRecords(n.ctx, m)
				}
			}()
		}
	}
	n.jobsMu.Lock()
	defer n.jobsMu.Unlock()
	for _, j := range n.jobs {
		if j.running() {
			j.driver.Send(ev)
		}
	}
}

// clusterJob carries out the job core's actions on the cluster: attempts
// are calls to the nodes' task API, the commit publishes the manifest.
type clusterJob struct {
	n   *Node
	j   *job
	in  *Manifest
	req JobRequest
	// ready holds the nodes that have the module (see prepare).
	ready sync.Map
}

var _ coord.Executor = (*clusterJob)(nil)

func (x *clusterJob) plan() coord.Plan {
	p := coord.Plan{Reduces: x.req.Reducers, Policy: coord.Policy{MaxAttempts: x.req.Attempts,
		SkipBadRecords: x.req.SkipBadRecords, NoBackups: x.req.NoBackups}}
	for _, sh := range x.in.Shards {
		p.Maps = append(p.Maps, coord.MapInput{Name: fmt.Sprintf("shard %s of %s, from %s", sh.ID, x.req.Input, sh.File), Nodes: sh.Holders})
	}
	for _, m := range x.n.alive() {
		p.Nodes = append(p.Nodes, coord.NodeUp{Node: m.Name, Slots: x.n.cfg.SlotsPerNode})
	}
	return p
}

// prepare gets the module ready on node before its first attempt there:
// fetching and compiling it takes seconds, which must not count as the
// attempt's running time (backups judge that from the first progress).
func (x *clusterJob) prepare(ctx context.Context, node Member) (coord.Class, error) {
	if _, ok := x.ready.Load(node.Name); ok {
		return 0, nil
	}
	b, _ := json.Marshal(prepareRequest{ModuleName: x.req.ModuleName, Coordinator: x.n.httpAddr})
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, x.n.peerURL(node, "/v1/internal/modules/"+x.req.ModuleHash+"/prepare"), bytes.NewReader(b))
	if err == nil {
		err = x.n.do(r, nil)
	}
	var answered *peerError
	switch {
	case errors.As(err, &answered):
		return coord.LocalFault, fmt.Errorf("node %s could not get the module ready: %w", node.Name, err)
	case err != nil:
		return coord.Lost, fmt.Errorf("node %s: %w", node.Name, err)
	}
	x.ready.Store(node.Name, true)
	return 0, nil
}

// prepareAll gets the module ready on every live node at once, for at
// most prepareTimeout (failures are left for the attempts to meet: they
// prepare again, and one stuck there gets a backup; see coord.Policy).
func (x *clusterJob) prepareAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range x.n.alive() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := x.prepare(ctx, m); err != nil {
				x.n.log.Warn("could not get the module ready", "node", m.Name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// prepareTimeout bounds getting a module ready on every node at submit:
// a cold compile of a large Go module takes seconds, a hung node forever.
const prepareTimeout = time.Minute

// Run makes one attempt: a call to the node's task API.
func (x *clusterJob) Run(ctx context.Context, st coord.Start, progress func(task.Stats)) coord.Event {
	id := st.Attempt.Task
	node, ok := x.n.aliveMember(st.Node)
	if !ok {
		return coord.Failed{Attempt: st.Attempt, Class: coord.Lost, Err: fmt.Errorf("node %s is not alive", st.Node)}
	}
	if class, err := x.prepare(ctx, node); err != nil {
		return coord.Failed{Attempt: st.Attempt, Class: class, Err: err}
	}
	progress(task.Stats{}) // running now
	treq := &taskRequest{JobID: x.j.status.ID, TaskID: id.String(), Kind: id.Kind.String(), Attempt: st.Attempt.N,
		ModuleHash: x.req.ModuleHash, ModuleName: x.req.ModuleName, Coordinator: x.n.httpAddr, Params: x.req.Params,
		Partitions: x.req.Reducers, Tenant: x.j.tenant, TaskMemory: x.req.TaskMemory, TaskTime: x.req.TaskTime}
	if id.Kind == coord.Map {
		sh := x.in.Shards[id.Index]
		treq.Dataset, treq.Shard, treq.InputName = x.j.inKey, sh.ID, sh.File
		treq.Base = shardBase(x.in, id.Index)
		for _, off := range engine.SkipOffsets(st.Skip) { // records are named by file offsets
			treq.Skip = append(treq.Skip, off-treq.Base)
		}
		treq.Partitioner, treq.Bounds = x.req.Partitioner, x.req.Bounds
		treq.InputFormat = sh.Format
	} else {
		treq.Partition, treq.Output, treq.Replicas = id.Index, x.j.outKey, x.req.Replicas
		treq.OutputFormat = x.req.OutputFormat
		for _, in := range st.Inputs {
			m, ok := x.n.aliveMember(in.Node)
			if !ok {
				return coord.Failed{Attempt: st.Attempt, Class: coord.FetchFailed, LostMaps: []coord.TaskID{in.Task},
					Err: fmt.Errorf("the output of map task %s is on node %s, which is not alive", in.Task, in.Node)}
			}
			off, length := in.Index.Segment(id.Index)
			treq.Inputs = append(treq.Inputs, mapOutput{Task: in.Task.String(), Node: in.Node, HTTP: m.HTTP, File: in.Output, Offset: off, Length: length,
				Sums: in.Index.Checksums(id.Index)})
		}
	}
	resp := &taskResponse{}
	b, _ := json.Marshal(treq)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, x.n.peerURL(node, "/v1/internal/tasks"), bytes.NewReader(b))
	if err == nil {
		err = x.n.do(r, resp)
	}
	logs := resp.Logs
	if resp.Result != nil {
		logs, resp.Result.Logs = resp.Result.Logs, nil
	}
	x.j.addLogs(st.Attempt.String(), node.Name, logs)
	if err != nil {
		return coord.Failed{Attempt: st.Attempt, Class: coord.Lost, Err: fmt.Errorf("node %s: %w", node.Name, err)}
	}
	if resp.Error == "" && resp.Result != nil {
		return coord.Succeeded{Attempt: st.Attempt, Result: resp.Result, Output: resp.File, Holders: resp.Holders}
	}
	ev := coord.Failed{Attempt: st.Attempt, Class: classOf(resp.Class), Err: errors.New(resp.Error), Record: resp.Record}
	for _, name := range resp.LostMaps {
		if id, err := coord.ParseTaskID(name); err == nil && id.Kind == coord.Map {
			ev.LostMaps = append(ev.LostMaps, id)
		}
	}
	if len(ev.LostMaps) > 0 {
		ev.Class = coord.FetchFailed
	}
	return ev
}

// shardBase is shard i's offset in the file it was cut from: the sizes of
// the shards cut before it from the same file (ids fNNNNN-sKKKKK).
func shardBase(m *Manifest, i int) int64 {
	file, _, _ := strings.Cut(m.Shards[i].ID, "-")
	var base int64
	for j := i - 1; j >= 0; j-- {
		if f, _, _ := strings.Cut(m.Shards[j].ID, "-"); f != file {
			break
		}
		base += m.Shards[j].Size
	}
	return base
}

// sample runs the range partitioner's sample tasks on holders of the
// sampled shards (any live holder; the next if one fails without the
// module's fault) and returns the job's split points.
func (x *clusterJob) sample(ctx context.Context) ([][]byte, error) {
	lengths := make([]int64, len(x.in.Shards))
	for i, sh := range x.in.Shards {
		lengths[i] = sh.Size
	}
	return engine.SampleBounds(ctx, lengths, x.req.Reducers, len(x.n.alive())*x.n.cfg.SlotsPerNode, func(ctx context.Context, i int, windows []task.Window) ([][]byte, error) {
		sh := x.in.Shards[i]
		treq := &taskRequest{JobID: x.j.status.ID, TaskID: fmt.Sprintf("s-%05d", i), Kind: task.KindSample, Attempt: 1,
			ModuleHash: x.req.ModuleHash, ModuleName: x.req.ModuleName, Coordinator: x.n.httpAddr, Params: x.req.Params,
			Partitions: x.req.Reducers, Tenant: x.j.tenant, TaskMemory: x.req.TaskMemory, TaskTime: x.req.TaskTime,
			Dataset: x.j.inKey, Shard: sh.ID, InputName: sh.File, Windows: windows, InputFormat: sh.Format}
		b, _ := json.Marshal(treq)
		err := fmt.Errorf("no live holder of shard %s", sh.ID)
		for _, h := range sh.Holders {
			node, ok := x.n.aliveMember(h)
			if !ok {
				continue
			}
			if _, perr := x.prepare(ctx, node); perr != nil {
				err = perr
				continue
			}
			resp := &taskResponse{}
			r, rerr := http.NewRequestWithContext(ctx, http.MethodPost, x.n.peerURL(node, "/v1/internal/tasks"), bytes.NewReader(b))
			if rerr == nil {
				rerr = x.n.do(r, resp)
			}
			switch {
			case rerr != nil:
				err = fmt.Errorf("node %s: %w", node.Name, rerr)
			case resp.Error == "" && resp.Result != nil:
				return resp.Result.Sample, nil
			case classOf(resp.Class) == coord.ModuleFault || classOf(resp.Class) == coord.Invalid:
				return nil, fmt.Errorf("shard %s of %s: %s", sh.ID, sh.File, resp.Error)
			default:
				err = fmt.Errorf("node %s: %s", node.Name, resp.Error)
			}
		}
		return nil, err
	})
}

// Commit publishes the output dataset, once every shard is on live holders
// and the name is still free.
func (x *clusterJob) Commit(ctx context.Context, c coord.Commit) error {
	out := &Manifest{Name: x.req.Output, Tenant: x.j.tenant, Replicas: x.req.Replicas}
	for _, o := range c.Outputs {
		for _, h := range o.Holders {
			if _, ok := x.n.aliveMember(h); !ok {
				return fmt.Errorf("output shard part-r-%05d: its holder %s is not alive", o.Partition, h)
			}
		}
		name := fmt.Sprintf("part-r-%05d", o.Partition)
		sh := Shard{ID: name, File: name, Size: o.Stats.BytesOut, Holders: o.Holders}
		if f := x.req.OutputFormat; f != "" && f != task.OutputText {
			sh.Format = f // kv, or fixed:N: as ParseFormat reads it
		}
		out.Shards = append(out.Shards, sh)
	}
	if _, err := x.n.store.manifest(x.j.outKey); err == nil {
		return fmt.Errorf("%w: dataset %s was created while the job ran", errBadJob, x.req.Output)
	}
	if err := x.n.settleSums(ctx, out); err != nil {
		return err
	}
	if err := x.n.checkStorage(out); err != nil {
		return err
	}
	if err := x.n.fence(ctx, x.j.rec); err != nil {
		return err
	}
	return x.n.commit(context.WithoutCancel(ctx), out)
}

// listJobs collects the jobs t may see: this node's, and unless local,
// every live peer's (asked on t's behalf).
func (n *Node) listJobs(ctx context.Context, t *Tenant, local bool) []JobStatus {
	n.jobsMu.Lock()
	out := []JobStatus{}
	seen := map[string]bool{}
	for id, j := range n.jobs {
		if visible(t, j.tenant) {
			out = append(out, j.snapshot())
			seen[id] = true
		}
	}
	n.jobsMu.Unlock()
	// Finished jobs this node keeps the record of (also those it
	// coordinated before a restart).
	for _, r := range n.records.finished() {
		if visible(t, r.Tenant) && !seen[r.ID] {
			out = append(out, *r.Final)
			seen[r.ID] = true
		}
	}
	if !local {
		for _, m := range n.alive() {
			if m.Name == n.name {
				continue
			}
			var theirs []JobStatus
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.peerURL(m, "/v1/internal/jobs?tenant="+url.QueryEscape(t.Name)), nil)
			if err := n.doSmall(req, &theirs); err == nil {
				for _, st := range theirs {
					if !seen[st.ID] {
						out = append(out, st)
						seen[st.ID] = true
					}
				}
			}
		}
	}
	// Jobs still running whose coordinator did not answer: known from
	// their records here, not dropped from the list.
	if !local {
		for _, r := range n.records.all() {
			if r.Final == nil && visible(t, r.Tenant) && !seen[r.ID] {
				out = append(out, JobStatus{ID: r.ID, Tenant: r.Tenant, Coordinator: r.Coordinator, State: "running", Phase: "unknown",
					Error: "its coordinator " + r.Coordinator + " did not answer; if it is gone, a successor takes the job over", Request: r.Request,
					Created: r.Created, Counters: map[string]int64{}})
				seen[r.ID] = true
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Created.Before(out[b].Created) })
	return out
}

func (n *Node) handleJobs(w http.ResponseWriter, r *http.Request) {
	out := n.listJobs(r.Context(), tenantOf(r), false)
	for i := range out {
		out[i].Attempts = nil // the list is a summary
	}
	n.audit(r, "job.list", "", nil)
	writeJSON(w, out)
}

// peerTenant resolves the tenant a peer names in ?tenant= when it asks on
// that tenant's behalf; it answers the request itself if there is none.
func (n *Node) peerTenant(w http.ResponseWriter, r *http.Request) (*Tenant, bool) {
	t, err := n.tenantFor(r.URL.Query().Get("tenant"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return nil, false
	}
	return t, true
}

// handlePeerJobs lists this node's jobs for a tenant a peer names.
func (n *Node) handlePeerJobs(w http.ResponseWriter, r *http.Request) {
	if t, ok := n.peerTenant(w, r); ok {
		writeJSON(w, n.listJobs(r.Context(), t, true))
	}
}

// localJob returns a job this node coordinates, if t may see it.
func (n *Node) localJob(t *Tenant, id string) (*job, bool) {
	n.jobsMu.Lock()
	j, ok := n.jobs[id]
	n.jobsMu.Unlock()
	if !ok || !visible(t, j.tenant) {
		return nil, false
	}
	return j, true
}

func (n *Node) handleJob(w http.ResponseWriter, r *http.Request) {
	st, err := n.jobStatus(r.Context(), tenantOf(r), r.PathValue("job"))
	n.audit(r, "job.status", r.PathValue("job"), err)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, st)
}

// handleLogs answers a job's module log lines (?task=m-00003 for one
// task's), from its coordinator.
func (n *Node) handleLogs(w http.ResponseWriter, r *http.Request) {
	t, id, taskID := tenantOf(r), r.PathValue("job"), r.URL.Query().Get("task")
	if j, ok := n.localJob(t, id); ok {
		writeJSON(w, j.jobLogs(taskID))
		return
	}
	if rec, ok := n.records.get(id); ok && rec.Final != nil && visible(t, rec.Tenant) { // an ended job: any holder answers
		out := JobLogs{State: rec.Final.State, Dropped: rec.LogsDropped, Logs: []JobLog{}}
		for _, l := range rec.Logs {
			if taskID == "" || strings.HasPrefix(l.Attempt, taskID+".") {
				out.Logs = append(out.Logs, l)
			}
		}
		writeJSON(w, out)
		return
	}
	st, err := n.jobStatus(r.Context(), t, id)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	m, ok := n.aliveMember(st.Coordinator)
	if !ok || m.Name == n.name {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w: the module logs of job %s were kept by its coordinator %s, which is not alive", errUnknownJob, id, st.Coordinator))
		return
	}
	q := url.Values{"tenant": {t.Name}, "task": {r.URL.Query().Get("task")}}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, n.peerURL(m, "/v1/internal/jobs/"+url.PathEscape(id)+"/logs?"+q.Encode()), nil)
	var logs JobLogs
	if err := n.doSmall(req, &logs); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, logs)
}

// peerLocalJob finds the job a peer names, coordinated here, on the
// tenant's behalf; it answers the request itself when there is none.
func (n *Node) peerLocalJob(w http.ResponseWriter, r *http.Request) (*job, bool) {
	t, ok := n.peerTenant(w, r)
	if !ok {
		return nil, false
	}
	j, ok := n.localJob(t, r.PathValue("job"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w %q", errUnknownJob, r.PathValue("job")))
	}
	return j, ok
}

func (n *Node) handlePeerLogs(w http.ResponseWriter, r *http.Request) {
	if j, ok := n.peerLocalJob(w, r); ok {
		writeJSON(w, j.jobLogs(r.URL.Query().Get("task")))
	}
}

// handleCancel stops a running job: its coordinator (this node, or the
// one asked on the caller's behalf) aborts it, every running attempt is
// cancelled, and nothing is published.
func (n *Node) handleCancel(w http.ResponseWriter, r *http.Request) {
	t, id := tenantOf(r), r.PathValue("job")
	err := n.cancelJob(r.Context(), t, id)
	n.audit(r, "job.cancel", id, err)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	st, err := n.jobStatus(r.Context(), t, id)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, st)
}

func (n *Node) cancelJob(ctx context.Context, t *Tenant, id string) error {
	if j, ok := n.localJob(t, id); ok {
		return n.cancelLocal(j)
	}
	st, err := n.jobStatus(ctx, t, id)
	if err != nil {
		return err
	}
	if st.State != "running" {
		return fmt.Errorf("%w: job %s %s", errJobEnded, id, st.State)
	}
	m, ok := n.aliveMember(st.Coordinator)
	if !ok {
		return fmt.Errorf("%w: job %s's coordinator %s is not alive; its successor takes the job over, cancel it again then", errNotEnoughNodes, id, st.Coordinator)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.peerURL(m, "/v1/internal/jobs/"+url.PathEscape(id)+"/cancel?tenant="+url.QueryEscape(t.Name)), nil)
	return n.doSmall(req, nil)
}

// cancelLocal aborts a job this node coordinates and waits for it to end.
func (n *Node) cancelLocal(j *job) error {
	if !j.running() {
		st := j.snapshot()
		return fmt.Errorf("%w: job %s %s", errJobEnded, st.ID, st.State)
	}
	j.driver.Send(coord.Abort{Err: errCancelled})
	select {
	case <-j.done:
	case <-time.After(30 * time.Second):
	}
	return nil
}

func (n *Node) handlePeerCancel(w http.ResponseWriter, r *http.Request) {
	j, ok := n.peerLocalJob(w, r)
	if !ok {
		return
	}
	if err := n.cancelLocal(j); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, struct{}{})
}

// handlePeerJob answers a peer asking on a tenant's behalf.
func (n *Node) handlePeerJob(w http.ResponseWriter, r *http.Request) {
	t, ok := n.peerTenant(w, r)
	if !ok {
		return
	}
	st, ok := n.ownStatus(t, r.PathValue("job"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w %q", errUnknownJob, r.PathValue("job")))
		return
	}
	writeJSON(w, st)
}

// ownStatus is what this node itself knows of a job t may see: the job it
// coordinates (or coordinated), or the job's final record.
func (n *Node) ownStatus(t *Tenant, id string) (*JobStatus, bool) {
	if j, ok := n.localJob(t, id); ok && !n.shuttingDown() {
		st := j.snapshot()
		return &st, true
	}
	if r, ok := n.records.get(id); ok && r.Final != nil && visible(t, r.Tenant) {
		return r.Final, true
	}
	return nil, false
}

func (n *Node) shuttingDown() bool { return n.ctx.Err() != nil }

// jobStatus finds a job t may see: here, at its coordinator, or, while a
// successor takes it over, from its record. Another tenant's job is
// unknown, exactly like one that never existed.
func (n *Node) jobStatus(ctx context.Context, t *Tenant, id string) (*JobStatus, error) {
	if ValidName("job", id) != nil {
		return nil, fmt.Errorf("%w %q", errUnknownJob, id)
	}
	if st, ok := n.ownStatus(t, id); ok {
		return st, nil
	}
	coord := coordinatorOf(id)
	r, haveRecord := n.records.get(id)
	if haveRecord {
		if !visible(t, r.Tenant) {
			return nil, fmt.Errorf("%w %q", errUnknownJob, id)
		}
		coord = r.Coordinator
	}
	ask := func(m Member) (*JobStatus, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.peerURL(m, "/v1/internal/jobs/"+url.PathEscape(id)+"?tenant="+url.QueryEscape(t.Name)), nil)
		var st JobStatus
		return &st, n.doSmall(req, &st)
	}
	if m, ok := n.aliveMember(coord); ok && coord != n.name {
		st, err := ask(m)
		if err == nil {
			return st, nil
		}
		var answered *peerError
		switch {
		case errors.As(err, &answered) && strings.Contains(err.Error(), errUnknownJob.Error()):
		case !errors.As(err, &answered) && haveRecord:
			// Unreachable, though gossip has not declared it dead yet: the
			// record tells what comes next.
		default:
			return nil, fmt.Errorf("job %s: its coordinator %s: %w", id, coord, err)
		}
	}
	if !haveRecord {
		if coord == "" || coord == n.name {
			return nil, fmt.Errorf("%w %q", errUnknownJob, id)
		}
		if n.isAlive(coord) {
			return nil, fmt.Errorf("%w %q", errUnknownJob, id)
		}
		return nil, fmt.Errorf("%w: job %s: its coordinator, node %s, is not alive and no live node has its record; the job is lost and published no output", errNoLiveReplica, id, coord)
	}
	// The record's coordinator is gone (or is this node, restarted): a
	// successor may have taken over already; ask the live holders.
	for _, m := range n.alive() {
		if m.Name != n.name && slices.Contains(r.Holders, m.Name) {
			if st, err := ask(m); err == nil {
				return st, nil
			}
		}
	}
	next := n.successorOf(r)
	if next == "" {
		return nil, fmt.Errorf("%w: job %s: its coordinator, node %s, is not alive and none of the nodes that could take it over is; the job is lost and published no output", errNoLiveReplica, id, r.Coordinator)
	}
	st := &JobStatus{ID: id, Tenant: r.Tenant, Coordinator: next, State: "running", Phase: "taking over", Request: r.Request, Created: r.Created,
		Counters: map[string]int64{}}
	if k, q := n.liveHolders(r), quorum(r.Holders); k < q {
		st.Phase, st.Coordinator = "waiting for a quorum", r.Coordinator
		st.Error = fmt.Sprintf("its coordinator %s is not alive, and only %d of the job's %d nodes are; a successor takes the job over once %d are "+
			"(a majority, so that the two sides of a partition never both run it), or %s when it restarts", r.Coordinator, k, len(r.Holders), q, r.Coordinator)
	}
	return st, nil
}
