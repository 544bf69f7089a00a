package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/task"
)

// jobRecord is what the cluster remembers of a job so that it outlives its
// coordinator: the coordinator writes it to its own disk and to every
// live node (its holders) before the job starts, again when a successor
// takes the job over (a higher Epoch), and with Final when the job ends.
type jobRecord struct {
	ID          string     `json:"id"`
	Tenant      string     `json:"tenant"`
	InKey       string     `json:"in_key"`
	OutKey      string     `json:"out_key"`
	Request     JobRequest `json:"request"`
	Created     time.Time  `json:"created"`
	Coordinator string     `json:"coordinator"` // the node coordinating it now
	Epoch       int        `json:"epoch"`       // 0, then +1 per take-over
	Holders     []string   `json:"holders"`     // the nodes that keep this record
	// Seq orders the writes of one epoch before its end: each reduce that
	// succeeds is added to Reduces, so a successor reuses its output.
	Seq     int          `json:"seq,omitempty"`
	Reduces []reduceDone `json:"reduces,omitempty"`
	Final   *JobStatus   `json:"final,omitempty"`
	// Logs are the job's module log lines, kept with its final status so
	// that any holder answers wmr logs after the job (and after restarts).
	Logs        []JobLog `json:"logs,omitempty"`
	LogsDropped int      `json:"logs_dropped,omitempty"`
}

// reduceDone is a reduce attempt that succeeded: its output shard is on
// Holders, not yet published.
type reduceDone struct {
	Partition int          `json:"partition"`
	Attempt   int          `json:"attempt"`
	Node      string       `json:"node"`
	Holders   []string     `json:"holders"`
	Result    *task.Result `json:"result"`
}

// newer says whether r should replace old: a later epoch, the same
// epoch's end, or a later write of the same epoch before its end.
func (r *jobRecord) newer(old *jobRecord) bool {
	if old == nil || r.Epoch > old.Epoch {
		return true
	}
	if r.Epoch != old.Epoch || old.Final != nil {
		return false
	}
	return r.Final != nil || r.Seq > old.Seq
}

// clone copies r deeply enough to marshal while r changes.
func (r *jobRecord) clone() *jobRecord {
	c := *r
	c.Holders, c.Reduces, c.Logs = slices.Clone(r.Holders), slices.Clone(r.Reduces), slices.Clone(r.Logs)
	return &c
}

// recovered are the reduce outputs of r that a successor can reuse: those
// whose every holder is alive.
func (n *Node) recoveredReduces(r *jobRecord) []coord.Recovered {
	var out []coord.Recovered
	for _, d := range r.Reduces {
		alive := len(d.Holders) > 0 && d.Result != nil
		for _, h := range d.Holders {
			alive = alive && n.isAlive(h)
		}
		if alive {
			out = append(out, coord.Recovered{Task: coord.TaskID{Kind: coord.Reduce, Index: d.Partition}, Attempt: d.Attempt, Node: d.Node,
				Holders: slices.Clone(d.Holders), Result: d.Result})
		}
	}
	return out
}

// jobRecords keeps the records on disk (DATA/jobrecords/ID.json) and in
// memory. Safe for concurrent use.
type jobRecords struct {
	dir string
	mu  sync.Mutex
	by  map[string]*jobRecord
}

func openJobRecords(dir string) (*jobRecords, error) {
	rs := &jobRecords{dir: dir, by: map[string]*jobRecord{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("job records: %w", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		var r jobRecord
		if err != nil || json.Unmarshal(b, &r) != nil || ValidName("job", r.ID) != nil {
			continue
		}
		rs.by[r.ID] = &r
	}
	return rs, nil
}

// save keeps r if it is newer than the record held; it reports whether
// it did.
func (rs *jobRecords) save(r *jobRecord) (bool, error) {
	if err := ValidName("job", r.ID); err != nil {
		return false, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !r.newer(rs.by[r.ID]) {
		return false, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	tmp := filepath.Join(rs.dir, r.ID+".json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(rs.dir, r.ID+".json")); err != nil {
		return false, err
	}
	c := *r
	rs.by[r.ID] = &c
	return true, nil
}

func (rs *jobRecords) get(id string) (*jobRecord, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.by[id]
	if !ok {
		return nil, false
	}
	c := *r
	return &c, true
}

// remove forgets a record and deletes its file.
func (rs *jobRecords) remove(id string) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.by, id)
	if err := os.Remove(filepath.Join(rs.dir, id+".json")); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// all returns a copy of every record held.
func (rs *jobRecords) all() []*jobRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]*jobRecord, 0, len(rs.by))
	for _, r := range rs.by {
		c := *r
		out = append(out, &c)
	}
	return out
}

// finished returns copies of the records of jobs that ended.
func (rs *jobRecords) finished() []*jobRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []*jobRecord
	for _, r := range rs.by {
		if r.Final != nil {
			c := *r
			out = append(out, &c)
		}
	}
	return out
}

// recordAck is a holder's answer to a pushed record: the epoch and
// coordinator of the record it holds now (the pushed one, or a newer one
// it already had).
type recordAck struct {
	Saved       string `json:"saved"`
	Epoch       int    `json:"epoch"`
	Coordinator string `json:"coordinator"`
	// Held is the holder's record when it is not the pushed one.
	Held *jobRecord `json:"held,omitempty"`
}

// quorum is how many of a record's holders are a majority. A successor
// takes a job over only once that many hold its new epoch, so two sides
// of a partition never both take one job over.
func quorum(holders []string) int { return len(holders)/2 + 1 }

// fenceQuorum is how many holders (the coordinator among them) must still
// hold the coordinator's epoch for it to publish the output: with that
// many, the holders left over are too few for any successor's quorum, so
// no successor can have taken the job over on the other side of a
// partition. For 2 holders it is 1, for 3 it is 2, for 5 it is 3.
func fenceQuorum(holders []string) int { return len(holders) - quorum(holders) + 1 }

// pushResult is what pushing a record found: how many holders (this node
// too) hold its epoch as its coordinator wrote it, and, if one holds a
// record of another coordinator at that epoch or later, that one.
type pushResult struct {
	held  int
	newer *recordAck
}

// record saves r here and pushes it to its other live holders.
func (n *Node) record(ctx context.Context, r *jobRecord) pushResult {
	if _, err := n.records.save(r); err != nil {
		n.log.Warn("save job record", "job", r.ID, "err", err)
	}
	res := n.push(ctx, r)
	if own, ok := n.records.get(r.ID); ok {
		res.count(r, recordAck{Epoch: own.Epoch, Coordinator: own.Coordinator, Held: own})
	}
	return res
}

func (res *pushResult) count(r *jobRecord, a recordAck) {
	switch {
	case a.Epoch == r.Epoch && a.Coordinator == r.Coordinator:
		res.held++
	case a.Epoch >= r.Epoch && (res.newer == nil || a.Epoch > res.newer.Epoch):
		res.newer = &a
	}
}

// push sends r to its live holders other than this node.
func (n *Node) push(ctx context.Context, r *jobRecord) pushResult {
	var res pushResult
	b, _ := json.Marshal(r)
	for _, m := range n.alive() {
		if m.Name == n.name || !slices.Contains(r.Holders, m.Name) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, err := http.NewRequestWithContext(cctx, http.MethodPut, n.peerURL(m, "/v1/internal/jobrecords/"+url.PathEscape(r.ID)), bytes.NewReader(b))
		var ack recordAck
		if err == nil {
			err = n.do(req, &ack)
		}
		cancel()
		if err != nil {
			n.log.Warn("push job record", "job", r.ID, "peer", m.Name, "err", err)
			continue
		}
		res.count(r, ack)
	}
	return res
}

func (n *Node) handlePutJobRecord(w http.ResponseWriter, r *http.Request) {
	var rec jobRecord
	if err := decodeJSON(w, r, &rec); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if rec.ID != r.PathValue("job") {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w: the record names job %q, the path %q", errBadRequest, rec.ID, r.PathValue("job")))
		return
	}
	held, err := n.keepRecord(&rec)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ack := recordAck{Saved: rec.ID, Epoch: held.Epoch, Coordinator: held.Coordinator}
	if held.Epoch != rec.Epoch || held.Coordinator != rec.Coordinator {
		ack.Held = held
	}
	writeJSON(w, ack)
}

// handlePutJobRecords takes a batch of records from a peer that has just
// come (back) into view: after a partition heals, every holder ends up
// with the newest epoch of each job, and its final status.
func (n *Node) handlePutJobRecords(w http.ResponseWriter, r *http.Request) {
	var recs []jobRecord
	if err := decodeJSON(w, r, &recs); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	kept := 0
	for i := range recs {
		if held, err := n.keepRecord(&recs[i]); err == nil && held.Epoch == recs[i].Epoch && held.Coordinator == recs[i].Coordinator {
			kept++
		}
	}
	writeJSON(w, map[string]int{"records": len(recs), "held": kept})
}

// keepRecord saves rec if it is newer than the record held, and returns
// the record held afterwards. A newer epoch of a job this node still
// coordinates means a successor took it over while this node was cut off:
// this node's run of it stops, and leaves the job's files to the
// successor.
func (n *Node) keepRecord(rec *jobRecord) (*jobRecord, error) {
	saved, err := n.records.save(rec)
	if err != nil {
		return nil, err
	}
	if saved && rec.Coordinator != n.name {
		n.jobsMu.Lock()
		j, ok := n.jobs[rec.ID]
		if ok && j.rec != nil && j.rec.Epoch < rec.Epoch {
			delete(n.jobs, rec.ID)
		} else {
			ok = false
		}
		n.jobsMu.Unlock()
		if ok && j.running() {
			n.log.Warn("a successor took over a job this node still ran; stopping this run", "job", rec.ID, "successor", rec.Coordinator, "epoch", rec.Epoch)
			j.driver.Send(coord.Abort{Err: fmt.Errorf("%w: node %s took the job over (epoch %d)", errSuperseded, rec.Coordinator, rec.Epoch)})
		}
	}
	held, _ := n.records.get(rec.ID)
	return held, nil
}

// shareRecords pushes to member m, in one call, every record of which m
// is a holder: when m comes back after a partition or a restart, it
// learns the epochs and final statuses it missed.
func (n *Node) shareRecords(ctx context.Context, m Member) {
	var mine []*jobRecord
	for _, r := range n.records.all() {
		if slices.Contains(r.Holders, m.Name) {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		return
	}
	b, _ := json.Marshal(mine)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPut, n.peerURL(m, "/v1/internal/jobrecords"), bytes.NewReader(b))
	if err == nil {
		err = n.do(req, nil)
	}
	if err != nil {
		n.log.Warn("share job records", "peer", m.Name, "records", len(mine), "err", err)
	}
}

// fence makes sure this node still coordinates r before it publishes the
// job's output: at least fenceQuorum holders (this node among them) still
// hold r's epoch, and none holds a newer one.
func (n *Node) fence(ctx context.Context, r *jobRecord) error {
	res := n.record(ctx, r)
	if res.newer != nil {
		return fmt.Errorf("%w: node %s took the job over (epoch %d) while this node could not reach it; the output is the successor's to publish",
			errSuperseded, res.newer.Coordinator, res.newer.Epoch)
	}
	if q := fenceQuorum(r.Holders); res.held < q {
		return fmt.Errorf("%w: only %d of the job's %d nodes answered before its output was published, and %d must, so that no successor on the other side of a partition can have taken the job over",
			errNotEnoughNodes, res.held, len(r.Holders), q)
	}
	return nil
}

// successorOf is the node that takes over r when its coordinator is gone:
// the live holder of the record with the lowest name, as every holder
// computes alike. A restarted coordinator is its own successor: no other
// node sees it gone.
func (n *Node) successorOf(r *jobRecord) string {
	best := ""
	for _, m := range n.alive() {
		if m.Name != r.Coordinator && slices.Contains(r.Holders, m.Name) && (best == "" || m.Name < best) {
			best = m.Name
		}
	}
	return best
}

// liveHolders is how many of r's holders are alive as this node sees them.
func (n *Node) liveHolders(r *jobRecord) int {
	k := 0
	for _, m := range n.alive() {
		if slices.Contains(r.Holders, m.Name) {
			k++
		}
	}
	return k
}

// errNoQuorum: too few of a job's holders are in view to take it over.
var errNoQuorum = errors.New("too few of the job's nodes are alive to take it over")

// adoptOrphans takes over the unfinished jobs whose coordinator is gone
// (or is this node, restarted) and of which this node is the successor.
// It runs on every change of membership: a job whose successor lacked a
// quorum when its coordinator died is taken over once enough holders are
// back.
func (n *Node) adoptOrphans() {
	n.adoptMu.Lock()
	defer n.adoptMu.Unlock()
	if n.shuttingDown() {
		return
	}
	for _, r := range n.records.all() {
		if r.Final != nil {
			continue
		}
		n.jobsMu.Lock()
		_, running := n.jobs[r.ID]
		n.jobsMu.Unlock()
		if running {
			continue
		}
		switch {
		case r.Coordinator == n.name: // restarted: the job's run died with the old process
		case n.isAlive(r.Coordinator), n.successorOf(r) != n.name:
			continue
		}
		err := n.takeOver(r)
		switch {
		case err == nil:
		case errors.Is(err, errNoQuorum), errors.Is(err, errSuperseded):
			n.log.Warn("not taking the job over", "job", r.ID, "from", r.Coordinator, "reason", err)
		default:
			n.log.Warn("could not take the job over", "job", r.ID, "from", r.Coordinator, "err", err)
			st := JobStatus{ID: r.ID, Tenant: r.Tenant, Coordinator: n.name, State: "failed", Phase: "failed", Request: r.Request,
				Created: r.Created, Finished: time.Now(), Error: fmt.Sprintf("its coordinator %s died and node %s could not take it over: %v", r.Coordinator, n.name, err)}
			c := *r
			c.Coordinator, c.Epoch, c.Final = n.name, r.Epoch+1, &st
			n.record(n.ctx, &c)
		}
	}
}

// takeOver coordinates r from here on: the map outputs that live nodes
// still hold are reused, everything else runs again. The new epoch must
// reach a quorum of r's holders first (and none may know a newer one), so
// that of two sides of a partition at most one takes the job over.
func (n *Node) takeOver(r *jobRecord) error {
	if k, q := n.liveHolders(r), quorum(r.Holders); k < q {
		return fmt.Errorf("%w: %d of its %d nodes are alive and a successor needs %d", errNoQuorum, k, len(r.Holders), q)
	}
	if _, ok := n.engine.CachedModule(r.Request.ModuleHash); !ok {
		return fmt.Errorf("this node does not have the job's module")
	}
	in, err := n.store.manifest(r.InKey)
	if err != nil {
		return err
	}
	gone := r.Coordinator
	next := *r
	next.Coordinator, next.Epoch = n.name, r.Epoch+1
	res := n.push(n.ctx, &next)
	if res.newer != nil {
		if res.newer.Held != nil {
			n.keepRecord(res.newer.Held)
		}
		return fmt.Errorf("%w: node %s holds epoch %d of it", errSuperseded, res.newer.Coordinator, res.newer.Epoch)
	}
	if q := quorum(r.Holders); res.held+1 < q {
		return fmt.Errorf("%w: %d of its %d nodes took the new epoch and a successor needs %d", errNoQuorum, res.held+1, len(r.Holders), q)
	}
	r = &next
	if _, err := n.records.save(r); err != nil {
		n.log.Warn("save job record", "job", r.ID, "err", err)
	}
	j := &job{done: make(chan struct{}), tenant: r.Tenant, inKey: r.InKey, outKey: r.OutKey, rec: r,
		status: JobStatus{ID: r.ID, Tenant: r.Tenant, Coordinator: n.name, State: "running", Request: r.Request, Created: r.Created}}
	for _, sh := range in.Shards {
		j.status.InputBytes += sh.Size
	}
	x := &clusterJob{n: n, j: j, in: in, req: r.Request}
	plan := x.plan()
	plan.Recovered = n.recoverMapOutputs(n.ctx, r.ID, len(in.Shards))
	reduces := n.recoveredReduces(r)
	plan.Recovered = append(plan.Recovered, reduces...)
	j.driver = coord.NewDriver(coord.New(plan), x, nil)
	n.jobsMu.Lock()
	n.jobs[r.ID] = j
	n.jobsMu.Unlock()
	n.log.Warn("took the job over", "job", r.ID, "from", gone, "epoch", r.Epoch, "map_outputs_reused", len(plan.Recovered)-len(reduces), "maps", len(in.Shards),
		"reduce_outputs_reused", len(reduces), "reduces", r.Request.Reducers)
	go n.coordinate(j)
	return nil
}

// recoverMapOutputs asks every live node which finished map outputs of
// the job it holds; one per map task is kept (deterministic modules make
// any of them right).
func (n *Node) recoverMapOutputs(ctx context.Context, job string, maps int) []coord.Recovered {
	found := map[coord.TaskID]coord.Recovered{}
	for _, m := range n.alive() {
		var outs []mapOutputFile
		if m.Name == n.name {
			outs = n.mapOutputs(job)
		} else {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			req, err := http.NewRequestWithContext(cctx, http.MethodGet, n.peerURL(m, "/v1/internal/jobs/"+url.PathEscape(job)+"/outputs"), nil)
			if err == nil {
				err = n.do(req, &outs)
			}
			cancel()
			if err != nil {
				continue
			}
		}
		for _, o := range outs {
			id, err := coord.ParseTaskID(o.Task)
			if err != nil || id.Kind != coord.Map || id.Index >= maps || o.Result == nil {
				continue
			}
			if _, ok := found[id]; !ok {
				found[id] = coord.Recovered{Task: id, Attempt: o.Attempt, Node: m.Name, Output: o.File, Result: o.Result}
			}
		}
	}
	out := make([]coord.Recovered, 0, len(found))
	for i := 0; i < maps; i++ {
		if r, ok := found[coord.TaskID{Kind: coord.Map, Index: i}]; ok {
			out = append(out, r)
		}
	}
	return out
}
