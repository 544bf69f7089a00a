package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/wmr-dev/wmr/engine/coord"
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
	Final       *JobStatus `json:"final,omitempty"`
	// Logs are the job's module log lines, kept with its final status so
	// that any holder answers wmr logs after the job (and after restarts).
	Logs        []JobLog `json:"logs,omitempty"`
	LogsDropped int      `json:"logs_dropped,omitempty"`
}

// newer says whether r should replace old: a later epoch, or the same
// epoch's end.
func (r *jobRecord) newer(old *jobRecord) bool {
	if old == nil || r.Epoch > old.Epoch {
		return true
	}
	return r.Epoch == old.Epoch && r.Final != nil && old.Final == nil
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

// orphans returns the unfinished records whose coordinator is name.
func (rs *jobRecords) orphans(name string) []*jobRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []*jobRecord
	for _, r := range rs.by {
		if r.Final == nil && r.Coordinator == name {
			c := *r
			out = append(out, &c)
		}
	}
	return out
}

// finished returns the records of jobs that ended.
// all returns every record held.
func (rs *jobRecords) all() []*jobRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]*jobRecord, 0, len(rs.by))
	for _, r := range rs.by {
		out = append(out, r)
	}
	return out
}

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

// record saves r here and pushes it to its other live holders.
func (n *Node) record(ctx context.Context, r *jobRecord) {
	if _, err := n.records.save(r); err != nil {
		n.log.Warn("save job record", "job", r.ID, "err", err)
	}
	b, _ := json.Marshal(r)
	for _, m := range n.alive() {
		if m.Name == n.name || !slices.Contains(r.Holders, m.Name) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, err := http.NewRequestWithContext(cctx, http.MethodPut, n.peerURL(m, "/v1/internal/jobrecords/"+url.PathEscape(r.ID)), bytes.NewReader(b))
		if err == nil {
			err = n.do(req, nil)
		}
		cancel()
		if err != nil {
			n.log.Warn("push job record", "job", r.ID, "peer", m.Name, "err", err)
		}
	}
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
	if _, err := n.records.save(&rec); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, map[string]string{"saved": rec.ID})
}

// successorOf is the node that takes over r when its coordinator is gone:
// the live holder of the record with the lowest name, as every holder
// computes alike.
func (n *Node) successorOf(r *jobRecord) string {
	best := ""
	for _, m := range n.alive() {
		if m.Name != r.Coordinator && slices.Contains(r.Holders, m.Name) && (best == "" || m.Name < best) {
			best = m.Name
		}
	}
	return best
}

// takeOverFrom starts coordinating the unfinished jobs of a coordinator
// that left, where this node is their successor.
func (n *Node) takeOverFrom(gone string) {
	for _, r := range n.records.orphans(gone) {
		if n.successorOf(r) != n.name {
			continue
		}
		if err := n.takeOver(r); err != nil {
			n.log.Warn("could not take the job over", "job", r.ID, "from", gone, "err", err)
			st := JobStatus{ID: r.ID, Tenant: r.Tenant, Coordinator: n.name, State: "failed", Phase: "failed", Request: r.Request,
				Created: r.Created, Finished: time.Now(), Error: fmt.Sprintf("its coordinator %s died and node %s could not take it over: %v", gone, n.name, err)}
			r.Coordinator, r.Epoch, r.Final = n.name, r.Epoch+1, &st
			n.record(n.ctx, r)
		}
	}
}

// takeOver coordinates r from here on: the map outputs that live nodes
// still hold are reused, everything else runs again.
func (n *Node) takeOver(r *jobRecord) error {
	if _, ok := n.engine.CachedModule(r.Request.ModuleHash); !ok {
		return fmt.Errorf("this node does not have the job's module")
	}
	in, err := n.store.manifest(r.InKey)
	if err != nil {
		return err
	}
	gone := r.Coordinator
	r.Coordinator, r.Epoch = n.name, r.Epoch+1
	n.record(n.ctx, r)
	j := &job{done: make(chan struct{}), tenant: r.Tenant, inKey: r.InKey, outKey: r.OutKey, rec: r,
		status: JobStatus{ID: r.ID, Tenant: r.Tenant, Coordinator: n.name, State: "running", Request: r.Request, Created: r.Created}}
	for _, sh := range in.Shards {
		j.status.InputBytes += sh.Size
	}
	x := &clusterJob{n: n, j: j, in: in, req: r.Request}
	plan := x.plan()
	plan.Recovered = n.recoverMapOutputs(n.ctx, r.ID, len(in.Shards))
	j.driver = coord.NewDriver(coord.New(plan), x, nil)
	n.jobsMu.Lock()
	n.jobs[r.ID] = j
	n.jobsMu.Unlock()
	n.log.Warn("took the job over", "job", r.ID, "from", gone, "map_outputs_reused", len(plan.Recovered), "maps", len(in.Shards))
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
