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
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wmr-dev/wmr/engine/runs"
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
	Outcome    string    `json:"outcome"` // running, succeeded, failed: ..., output lost
}

// JobStatus is a job as its coordinator sees it.
type JobStatus struct {
	ID          string           `json:"id"`
	Tenant      string           `json:"tenant"`
	Coordinator string           `json:"coordinator"`
	State       string           `json:"state"` // running, succeeded, failed
	Error       string           `json:"error,omitempty"`
	Request     JobRequest       `json:"request"`
	Created     time.Time        `json:"created"`
	Finished    time.Time        `json:"finished,omitzero"`
	Maps        int              `json:"maps"`
	MapsDone    int              `json:"maps_done"`
	Reduces     int              `json:"reduces"`
	ReducesDone int              `json:"reduces_done"`
	Attempts    []Attempt        `json:"attempts"`
	Counters    map[string]int64 `json:"counters"`
}

// job is a job this node coordinates.
type job struct {
	tenant        string
	inKey, outKey string // TENANT/NAME
	mu            sync.Mutex
	status        JobStatus
	done          chan struct{}
}

func (j *job) snapshot() JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.status
	s.Attempts = append([]Attempt(nil), s.Attempts...)
	s.Counters = map[string]int64{}
	for k, v := range j.status.Counters {
		s.Counters[k] = v
	}
	return s
}

// maxAttempts is how often a task is tried before the job fails. Attempts
// lost with a node do not count.
const maxAttempts = 3

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
	if req.Reducers < 1 || req.Reducers > 10000 {
		return nil, fmt.Errorf("%w: reducers must be 1 to 10000", errBadJob)
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
	if _, err := n.store.manifest(outKey); err == nil {
		return nil, fmt.Errorf("%w: dataset %s already exists; choose another --output", errBadJob, req.Output)
	}
	if req.Replicas > len(n.alive()) {
		return nil, fmt.Errorf("%w: %d output replicas asked for, but only %d nodes are alive", errNotEnoughNodes, req.Replicas, len(n.alive()))
	}
	owner := in.Tenant // an admin may run on another tenant's data, as that tenant
	if q := t.Quotas.Jobs; q > 0 {
		running := 0
		for _, st := range n.listJobs(ctx, t, false) { // every live node's
			if st.State == "running" && st.Tenant == t.Name {
				running++
			}
		}
		if running >= q {
			return nil, fmt.Errorf("%w: tenant %s already runs %d jobs, its quota; wait for one to finish", errQuota, t.Name, running)
		}
	}
	_, outName, _ := splitQualified(outKey)
	if o, _, _ := splitQualified(outKey); o != owner {
		return nil, fmt.Errorf("%w: the output must belong to the input's tenant %s", errBadJob, owner)
	}
	req.Output = outName
	j := &job{done: make(chan struct{}), tenant: owner, inKey: inKey, outKey: outKey, status: JobStatus{ID: newJobID(n.name), Tenant: owner, Coordinator: n.name, State: "running",
		Request: *req, Created: time.Now(), Maps: len(in.Shards), Reduces: req.Reducers, Counters: map[string]int64{}}}
	n.jobsMu.Lock()
	n.jobs[j.status.ID] = j
	n.jobsMu.Unlock()
	go n.coordinate(j, in)
	st := j.snapshot()
	return &st, nil
}

// slots tracks how many tasks each node runs for this coordinator.
type slots struct {
	mu   sync.Mutex
	cond *sync.Cond
	busy map[string]int
	per  int
}

func newSlots(per int) *slots {
	s := &slots{busy: map[string]int{}, per: per}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// acquire waits for a free slot on one of candidates (least busy first)
// and returns it; pick is re-evaluated whenever a slot frees.
func (s *slots) acquire(ctx context.Context, candidates func() []Member) (Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return Member{}, err
		}
		cs := candidates()
		if len(cs) == 0 {
			return Member{}, errNoLiveReplica
		}
		sort.SliceStable(cs, func(a, b int) bool { return s.busy[cs[a].Name] < s.busy[cs[b].Name] })
		if s.busy[cs[0].Name] < s.per {
			s.busy[cs[0].Name]++
			return cs[0], nil
		}
		// Wake up now and then too: membership changes do not signal.
		t := time.AfterFunc(200*time.Millisecond, s.cond.Broadcast)
		s.cond.Wait()
		t.Stop()
	}
}

func (s *slots) release(name string) {
	s.mu.Lock()
	s.busy[name]--
	s.mu.Unlock()
	s.cond.Broadcast()
}

// mapState is the coordinator's record of one map task.
type mapState struct {
	id       string
	shard    Shard
	done     bool
	node     Member
	file     string
	index    runs.Index
	attempts int
}

func (n *Node) coordinate(j *job, in *Manifest) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := j.snapshot().Request
	err := n.runJob(ctx, j, in, &req)
	j.mu.Lock()
	j.status.Finished = time.Now()
	if err != nil {
		j.status.State, j.status.Error = "failed", err.Error()
	} else {
		j.status.State = "succeeded"
	}
	j.mu.Unlock()
	close(j.done)
	// Intermediate files are no longer needed anywhere.
	for _, m := range n.alive() {
		r, _ := http.NewRequest(http.MethodDelete, n.peerURL(m, "/v1/internal/jobs/"+j.status.ID), nil)
		if r != nil {
			n.do(r, nil)
		}
	}
	n.log.Info("job finished", "job", j.status.ID, "state", j.status.State, "err", err)
}

func (n *Node) runJob(ctx context.Context, j *job, in *Manifest, req *JobRequest) error {
	maps := make([]*mapState, len(in.Shards))
	for i, s := range in.Shards {
		maps[i] = &mapState{id: fmt.Sprintf("m-%05d", i), shard: s}
	}
	sl := newSlots(n.cfg.SlotsPerNode)
	// Map phase: every map task on a live holder of its shard.
	if err := n.runMaps(ctx, j, req, maps, sl); err != nil {
		return err
	}
	// Reduce phase: partitions spread over the members; a reduce that
	// cannot fetch a map output gets that map re-run, then is retried.
	outShards := make([]Shard, req.Reducers)
	g, gctx := errgroup.WithContext(ctx)
	for p := range outShards {
		g.Go(func() (err error) {
			outShards[p], err = n.runReduce(gctx, j, req, maps, sl, p)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	out := &Manifest{Name: req.Output, Tenant: j.tenant, Replicas: req.Replicas, Shards: outShards, Version: time.Now().UnixNano()}
	if err := n.checkStorage(out); err != nil {
		return fmt.Errorf("the output was not published: %w", err)
	}
	return n.commit(context.Background(), out)
}

// runMaps runs every map task; the first that fails for good cancels the
// rest. Slots, not the goroutine count, bound what runs at once.
func (n *Node) runMaps(ctx context.Context, j *job, req *JobRequest, maps []*mapState, sl *slots) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range maps {
		g.Go(func() error { return n.runMap(gctx, j, req, m, sl) })
	}
	return g.Wait()
}

// runMap runs one map task until it succeeds or fails for good.
func (n *Node) runMap(ctx context.Context, j *job, req *JobRequest, m *mapState, sl *slots) error {
	for {
		holders := func() []Member {
			var out []Member
			for _, a := range n.alive() {
				for _, h := range m.shard.Holders {
					if a.Name == h {
						out = append(out, a)
					}
				}
			}
			return out
		}
		node, err := sl.acquire(ctx, holders)
		if errors.Is(err, errNoLiveReplica) {
			return fmt.Errorf("map task %s cannot run: %w of shard %s of dataset %s (from %s; held by %v, none of them alive)",
				m.id, errNoLiveReplica, m.shard.ID, req.Input, m.shard.File, m.shard.Holders)
		}
		if err != nil {
			return err
		}
		m.attempts++
		treq := &taskRequest{JobID: j.status.ID, TaskID: m.id, Kind: task.KindMap, Attempt: m.attempts,
			ModuleHash: req.ModuleHash, ModuleName: req.ModuleName, Coordinator: n.httpAddr, Params: req.Params,
			Partitions: req.Reducers, Dataset: j.inKey, Shard: m.shard.ID, InputName: m.shard.File,
			Tenant: j.tenant, TaskMemory: req.TaskMemory, TaskTime: req.TaskTime}
		resp, lostNode := n.callTask(ctx, j, node, treq, m.shard.ID, slices.Contains(m.shard.Holders, node.Name))
		sl.release(node.Name)
		if resp.Error == "" {
			j.mu.Lock()
			m.done, m.node, m.file, m.index = true, node, resp.File, resp.Result.Index
			j.status.MapsDone++
			for k, v := range resp.Result.Counters {
				j.status.Counters[k] += v
			}
			j.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if lostNode {
			m.attempts-- // the node's fault, not the task's
			continue
		}
		if resp.Fatal || m.attempts >= maxAttempts {
			return fmt.Errorf("map task %s (shard %s of %s) failed on attempt %d: %s", m.id, m.shard.ID, req.Input, m.attempts, resp.Error)
		}
	}
}

func (n *Node) runReduce(ctx context.Context, j *job, req *JobRequest, maps []*mapState, sl *slots, p int) (Shard, error) {
	id := fmt.Sprintf("r-%05d", p)
	attempts := 0
	for {
		anyAlive := func() []Member { return n.alive() }
		node, err := sl.acquire(ctx, anyAlive)
		if err != nil {
			return Shard{}, err
		}
		attempts++
		j.mu.Lock()
		inputs := make([]mapOutput, len(maps))
		for i, m := range maps {
			off, length := m.index.Segment(p)
			inputs[i] = mapOutput{Task: m.id, Node: m.node.Name, HTTP: m.node.HTTP, File: m.file, Offset: off, Length: length}
		}
		j.mu.Unlock()
		treq := &taskRequest{JobID: j.status.ID, TaskID: id, Kind: task.KindReduce, Attempt: attempts,
			ModuleHash: req.ModuleHash, ModuleName: req.ModuleName, Coordinator: n.httpAddr, Params: req.Params,
			Partitions: req.Reducers, Partition: p, Inputs: inputs, Output: j.outKey, Replicas: req.Replicas,
			Tenant: j.tenant, TaskMemory: req.TaskMemory, TaskTime: req.TaskTime}
		resp, lostNode := n.callTask(ctx, j, node, treq, fmt.Sprintf("partition %d", p), false)
		sl.release(node.Name)
		if resp.Error == "" {
			j.mu.Lock()
			j.status.ReducesDone++
			for k, v := range resp.Result.Counters {
				j.status.Counters[k] += v
			}
			j.mu.Unlock()
			return Shard{ID: fmt.Sprintf("part-r-%05d", p), File: fmt.Sprintf("part-r-%05d", p), Size: resp.Result.Stats.BytesOut, Holders: resp.Holders}, nil
		}
		if ctx.Err() != nil {
			return Shard{}, ctx.Err()
		}
		if len(resp.LostMaps) > 0 {
			// Re-run the lost maps (one goroutine per reduce may race to
			// do it; the map lock makes that safe and runs each once).
			if err := n.rerunMaps(ctx, j, req, maps, sl, resp.LostMaps); err != nil {
				return Shard{}, err
			}
			attempts--
			continue
		}
		if lostNode {
			attempts--
			continue
		}
		if resp.Fatal || attempts >= maxAttempts {
			return Shard{}, fmt.Errorf("reduce task %s (partition %d) failed on attempt %d: %s", id, p, attempts, resp.Error)
		}
	}
}

// rerunMaps re-executes map tasks whose output was lost with their node.
func (n *Node) rerunMaps(ctx context.Context, j *job, req *JobRequest, maps []*mapState, sl *slots, lost []string) error {
	n.rerunMu.Lock()
	defer n.rerunMu.Unlock()
	for _, m := range maps {
		for _, id := range lost {
			if m.id != id {
				continue
			}
			// Another reduce may have re-run it already, on a live node.
			j.mu.Lock()
			where := *m
			j.mu.Unlock()
			if n.isAlive(where.node.Name) && !n.outputGone(ctx, j, &where) {
				continue
			}
			j.mu.Lock()
			j.status.MapsDone--
			for i := range j.status.Attempts {
				a := &j.status.Attempts[i]
				if a.Task == m.id && a.Outcome == "succeeded" {
					a.Outcome = "output lost"
				}
			}
			j.mu.Unlock()
			m.done = false
			if err := n.runMap(ctx, j, req, m, sl); err != nil {
				return err
			}
		}
	}
	return nil
}

// outputGone checks whether a map's output node still serves it.
func (n *Node) outputGone(ctx context.Context, j *job, m *mapState) bool {
	u := n.addrURL(m.node.HTTP, "/v1/internal/jobs/"+j.status.ID+"/maps/"+m.file+"?offset=0&length=0")
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return true
	}
	resp, err := n.client.Do(r)
	if err != nil {
		return true
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusOK
}

func (n *Node) isAlive(name string) bool {
	for _, m := range n.alive() {
		if m.Name == name {
			return true
		}
	}
	return false
}

// callTask runs one attempt on node, recording it in the job's status. It
// cancels the call if the node leaves the cluster. lostNode reports that
// the attempt failed because the node did (not counted against the task).
// local says the node holds the task's input (maps).
func (n *Node) callTask(ctx context.Context, j *job, node Member, treq *taskRequest, input string, local bool) (*taskResponse, bool) {
	j.mu.Lock()
	idx := len(j.status.Attempts)
	j.status.Attempts = append(j.status.Attempts, Attempt{Task: treq.TaskID, Kind: treq.Kind, Node: node.Name, Input: input,
		Local: local, Attempt: treq.Attempt, Start: time.Now(), Outcome: "running"})
	j.mu.Unlock()

	resp := &taskResponse{}
	b, _ := json.Marshal(treq)
	err := n.whileAlive(ctx, node.Name, func(ctx context.Context) error {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, n.peerURL(node, "/v1/internal/tasks"), bytes.NewReader(b))
		if err == nil {
			err = n.do(r, resp)
		}
		return err
	})
	lost := false
	if err != nil {
		if errors.Is(err, errNodeLeft) {
			resp.Error = err.Error() + " during the task"
		} else {
			resp.Error = fmt.Sprintf("node %s: %v", node.Name, err)
		}
		lost = ctx.Err() == nil
	}
	j.mu.Lock()
	a := &j.status.Attempts[idx]
	a.End = time.Now()
	if resp.Error == "" {
		a.Outcome = "succeeded"
		s := resp.Result.Stats
		a.RecordsIn, a.BytesIn, a.RecordsOut, a.BytesOut = s.RecordsIn, s.BytesIn, s.RecordsOut, s.BytesOut
	} else {
		a.Outcome = "failed: " + resp.Error
	}
	j.mu.Unlock()
	return resp, lost
}

// listJobs collects the jobs t may see: this node's, and unless local,
// every live peer's (asked on t's behalf).
func (n *Node) listJobs(ctx context.Context, t *Tenant, local bool) []JobStatus {
	n.jobsMu.Lock()
	out := []JobStatus{}
	for _, j := range n.jobs {
		if visible(t, j.tenant) {
			out = append(out, j.snapshot())
		}
	}
	n.jobsMu.Unlock()
	if !local {
		for _, m := range n.alive() {
			if m.Name == n.name {
				continue
			}
			var theirs []JobStatus
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.peerURL(m, "/v1/internal/jobs?tenant="+url.QueryEscape(t.Name)), nil)
			if err := n.do(req, &theirs); err == nil {
				out = append(out, theirs...)
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

// handlePeerJob answers a peer asking on a tenant's behalf.
func (n *Node) handlePeerJob(w http.ResponseWriter, r *http.Request) {
	t, ok := n.peerTenant(w, r)
	if !ok {
		return
	}
	j, ok := n.localJob(t, r.PathValue("job"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w %q", errUnknownJob, r.PathValue("job")))
		return
	}
	writeJSON(w, j.snapshot())
}

// jobStatus finds a job t may see, here or at its coordinator. Another
// tenant's job is unknown, exactly like one that never existed.
func (n *Node) jobStatus(ctx context.Context, t *Tenant, id string) (*JobStatus, error) {
	if j, ok := n.localJob(t, id); ok {
		st := j.snapshot()
		return &st, nil
	}
	coord := coordinatorOf(id)
	if coord == "" || coord == n.name || ValidName("job", id) != nil {
		return nil, fmt.Errorf("%w %q", errUnknownJob, id)
	}
	for _, m := range n.alive() {
		if m.Name == coord {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.peerURL(m, "/v1/internal/jobs/"+url.PathEscape(id)+"?tenant="+url.QueryEscape(t.Name)), nil)
			var st JobStatus
			if err := n.do(req, &st); err != nil {
				if strings.Contains(err.Error(), errUnknownJob.Error()) {
					return nil, fmt.Errorf("%w %q", errUnknownJob, id)
				}
				return nil, fmt.Errorf("job %s: its coordinator %s: %w", id, coord, err)
			}
			return &st, nil
		}
	}
	return nil, fmt.Errorf("%w: job %s: its coordinator, node %s, is not alive; the job is lost and published no output", errNoLiveReplica, id, coord)
}
