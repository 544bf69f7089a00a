package nodes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wmr-dev/wmr/engine/coord"
)

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

// maxJobWait bounds GET /v1/jobs/ID?wait=D: below the peers' call timeout.
const maxJobWait = 10 * time.Second

// jobWait reads ?wait=D, how long a status call may wait for a running
// job to end (0: answer at once).
func jobWait(r *http.Request) time.Duration {
	d, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil || d <= 0 {
		return 0
	}
	return min(d, maxJobWait)
}

// awaitLocal waits up to d for a job this node coordinates to end.
func awaitLocal(ctx context.Context, j *job, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-j.done:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (n *Node) handleJob(w http.ResponseWriter, r *http.Request) {
	t, id := tenantOf(r), r.PathValue("job")
	// ?wait=D: a client waiting for the end gets it when it happens, not
	// at its next poll.
	if d := jobWait(r); d > 0 {
		if j, ok := n.localJob(t, id); ok {
			awaitLocal(r.Context(), j, d)
		} else if st, err := n.jobStatus(r.Context(), t, id); err == nil && st.State == "running" && st.Coordinator != n.name {
			if m, ok := n.aliveMember(st.Coordinator); ok {
				req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet,
					n.peerURL(m, "/v1/internal/jobs/"+url.PathEscape(id)+"?tenant="+url.QueryEscape(t.Name)+"&wait="+d.String()), nil)
				var theirs JobStatus
				if n.doSmall(req, &theirs) == nil { // else: answer below as without waiting
					n.audit(r, "job.status", id, nil)
					writeJSON(w, &theirs)
					return
				}
			}
		}
	}
	st, err := n.jobStatus(r.Context(), t, id)
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
	if j, ok := n.localJob(t, r.PathValue("job")); ok {
		if d := jobWait(r); d > 0 {
			awaitLocal(r.Context(), j, d)
		}
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
