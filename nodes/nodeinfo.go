package nodes

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/wmr-dev/wmr/engine/worker"
)

// NodeInfo is one node as `wmr nodes` and the dashboard show it: its
// membership, its task slots and what runs in them, its disk and its
// worker processes.
type NodeInfo struct {
	Member
	Slots  int `json:"slots"`
	Busy   int `json:"busy"`   // slots running a task
	Queued int `json:"queued"` // attempts waiting for a slot
	// Running lists the attempts running here that the caller may see
	// (its own; every tenant's for admins); RunningHidden counts the
	// others, so a tenant learns how busy a node is but not with what.
	Running       []RunningTask `json:"running"`
	RunningHidden int           `json:"running_hidden,omitempty"`
	// Disk is bytes under the node's data directory by kind: shards,
	// quarantine, jobs (intermediate data), tmp.
	Disk    map[string]int64 `json:"disk,omitempty"`
	Workers worker.Stats     `json:"workers"`
	// Error says why a member that gossip calls alive did not answer.
	Error string `json:"error,omitempty"`
}

// RunningTask is one task attempt running on a node.
type RunningTask struct {
	Job     string    `json:"job"`
	Task    string    `json:"task"`
	Kind    string    `json:"kind"`
	Attempt int       `json:"attempt"`
	Tenant  string    `json:"tenant"`
	Start   time.Time `json:"start"`
}

// runningTasks are the attempts this node runs now. Safe for concurrent
// use.
type runningTasks struct {
	mu sync.Mutex
	m  map[*RunningTask]bool
}

// add records an attempt that started; the returned func removes it.
func (r *runningTasks) add(t RunningTask) (done func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[*RunningTask]bool{}
	}
	p := &t
	r.m[p] = true
	return func() {
		r.mu.Lock()
		delete(r.m, p)
		r.mu.Unlock()
	}
}

// visibleTo returns the attempts t may see, oldest first, and how many
// others run.
func (r *runningTasks) visibleTo(t *Tenant) (seen []RunningTask, hidden int) {
	r.mu.Lock()
	seen = []RunningTask{}
	for p := range r.m {
		if visible(t, p.Tenant) {
			seen = append(seen, *p)
		} else {
			hidden++
		}
	}
	r.mu.Unlock()
	sort.Slice(seen, func(a, b int) bool {
		if !seen[a].Start.Equal(seen[b].Start) {
			return seen[a].Start.Before(seen[b].Start)
		}
		return seen[a].Job+seen[a].Task < seen[b].Job+seen[b].Task
	})
	return seen, hidden
}

// slotCounts returns the node's slots, those busy and the attempts
// queued for one.
func (f *fairShare) slotCounts() (slots, busy, queued int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.slots, f.busy, len(f.queue)
}

// diskUsage is the node's disk use by kind, measured at most every
// diskUsageEvery: walking the data directory on every dashboard poll
// would cost more than the answer is worth.
type diskUsage struct {
	mu    sync.Mutex
	at    time.Time
	bytes map[string]int64
}

const diskUsageEvery = 10 * time.Second

func (n *Node) diskUsage() map[string]int64 {
	d := &n.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bytes == nil || time.Since(d.at) > diskUsageEvery {
		d.bytes, d.at = n.storage().Bytes, time.Now()
	}
	out := make(map[string]int64, len(d.bytes))
	for k, v := range d.bytes {
		out[k] = v
	}
	return out
}

// localInfo is this node's NodeInfo as t may see it.
func (n *Node) localInfo(t *Tenant) NodeInfo {
	info := NodeInfo{Member: Member{Name: n.name, HTTP: n.httpAddr, Gossip: n.cfg.GossipAddr, Protocol: ProtocolVersion, State: "alive"}}
	info.Slots, info.Busy, info.Queued = n.share.slotCounts()
	info.Running, info.RunningHidden = n.running.visibleTo(t)
	info.Disk = n.diskUsage()
	info.Workers = n.engine.WorkerStats()
	return info
}

// nodeInfos asks every member for its NodeInfo on t's behalf; members
// that are not alive, or do not answer, are listed with what gossip
// knows.
func (n *Node) nodeInfos(ctx context.Context, t *Tenant) []NodeInfo {
	members := n.Members()
	out := make([]NodeInfo, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		out[i] = NodeInfo{Member: m, Running: []RunningTask{}}
		switch {
		case m.Name == n.name:
			info := n.localInfo(t)
			info.Member = m
			out[i] = info
		case m.State == "alive":
			wg.Add(1)
			go func() {
				defer wg.Done()
				var info NodeInfo
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.peerURL(m, "/v1/internal/node?tenant="+url.QueryEscape(t.Name)), nil)
				if err := n.doSmall(req, &info); err != nil {
					out[i].Error = err.Error()
					return
				}
				info.Member = m // gossip's view of its state, as the rest of the list
				out[i] = info
			}()
		}
	}
	wg.Wait()
	return out
}

// handleNodes lists every member with its slots, tasks, disk and workers.
func (n *Node) handleNodes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, n.nodeInfos(r.Context(), tenantOf(r)))
}

// handlePeerNode answers this node's NodeInfo for the tenant a peer names.
func (n *Node) handlePeerNode(w http.ResponseWriter, r *http.Request) {
	if t, ok := n.peerTenant(w, r); ok {
		writeJSON(w, n.localInfo(t))
	}
}
