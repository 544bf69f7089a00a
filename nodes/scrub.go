package nodes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"
)

// Keeping replicas intact: a map task reads its input only after it passed
// its checksums; the scrubber re-reads every replica a node holds now and
// then (rate-limited) and replaces a damaged one with a good copy; and each
// node can say when it last verified each replica it holds.

// integrity remembers what this node found damaged and restored since it
// started, for `wmr datasets NAME` and the logs.
type integrity struct {
	mu     sync.Mutex
	damage map[string]replicaEvent // key: dataset/shard
}

type replicaEvent struct {
	At       time.Time
	Err      string
	Restored time.Time
}

func (i *integrity) record(ds, shard string, cause error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.damage == nil {
		i.damage = map[string]replicaEvent{}
	}
	i.damage[ds+"/"+shard] = replicaEvent{At: time.Now(), Err: cause.Error()}
}

func (i *integrity) restored(ds, shard string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if e, ok := i.damage[ds+"/"+shard]; ok {
		e.Restored = time.Now()
		i.damage[ds+"/"+shard] = e
	}
}

func (i *integrity) event(ds, shard string) (replicaEvent, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	e, ok := i.damage[ds+"/"+shard]
	return e, ok
}

// inputRange is the local byte range a map task reads for a shard, after
// the replica passed its checksums. A damaged replica is quarantined and
// replaced by a good copy from another holder first, so the task still
// reads correct input; only when no good copy exists does it fail.
func (n *Node) inputRange(ctx context.Context, ds, shard string) (string, int64, int64, error) {
	path, off, length, err := n.verifiedRange(ctx, ds, shard)
	if err == nil {
		if err := n.readableByWorkers(path); err != nil {
			return "", 0, 0, fmt.Errorf("let the worker user read shard %s/%s: %w", ds, shard, err)
		}
	}
	return path, off, length, err
}

func (n *Node) verifiedRange(ctx context.Context, ds, shard string) (string, int64, int64, error) {
	path, off, length, err := n.store.shardRange(ds, shard, time.Now())
	switch {
	case errors.Is(err, errCorrupt):
		n.quarantineReplica(ds, shard, err)
	case errors.Is(err, ErrNoShard): // quarantined before: a good copy may exist by now
	default:
		return path, off, length, err
	}
	s, ok := n.shardOf(ds, shard)
	if !ok {
		return "", 0, 0, err
	}
	if rerr := n.restoreShard(ctx, ds, s); rerr != nil {
		return "", 0, 0, fmt.Errorf("%w; no good copy could replace it: %w", err, rerr)
	}
	return n.store.shardRange(ds, shard, time.Now())
}

// shardOf finds shard id in dataset ds's manifest.
func (n *Node) shardOf(ds, id string) (Shard, bool) {
	m, err := n.store.manifest(ds)
	if err != nil {
		return Shard{}, false
	}
	for _, s := range m.Shards {
		if s.ID == id {
			return s, true
		}
	}
	return Shard{}, false
}

// quarantineReplica takes a replica held here that failed its checksums
// out of service.
func (n *Node) quarantineReplica(ds, id string, cause error) {
	n.log.Error("replica failed its checksums; quarantined", "dataset", ds, "shard", id, "err", cause)
	if err := n.store.quarantine(ds, id, time.Now()); err != nil {
		n.log.Error("quarantine damaged replica", "dataset", ds, "shard", id, "err", err)
	}
	n.integrity.record(ds, id, cause)
}

// damaged quarantines a replica held here that failed its checksums and
// fetches a good copy from another holder in the background.
func (n *Node) damaged(ds, id string, cause error) {
	n.quarantineReplica(ds, id, cause)
	go func() {
		if s, ok := n.shardOf(ds, id); ok && slices.Contains(s.Holders, n.name) {
			if err := n.restoreShard(n.ctx, ds, s); err != nil {
				n.log.Error("restore damaged replica", "dataset", ds, "shard", id, "err", err)
			}
		}
	}()
}

// scrubLoop verifies every replica held here once per ScrubInterval, at
// most ScrubRate bytes a second, until ctx ends.
func (n *Node) scrubLoop(ctx context.Context) {
	for {
		start := time.Now()
		n.scrubOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(n.cfg.ScrubInterval-time.Since(start), time.Second)):
		}
	}
}

// scrubOnce makes one pass over the replicas this node should hold: a
// damaged one is replaced from a good copy, a missing one (quarantined
// earlier, lost with a disk) fetched again.
func (n *Node) scrubOnce(ctx context.Context) {
	for _, m := range n.store.manifests() {
		held := n.store.holds(m.Key())
		for _, s := range m.Shards {
			if ctx.Err() != nil {
				return
			}
			if !slices.Contains(s.Holders, n.name) {
				continue
			}
			if _, ok := slices.BinarySearch(held, s.ID); !ok {
				if err := n.restoreShard(ctx, m.Key(), s); err != nil {
					n.log.Warn("scrub: replica missing here and not restorable yet", "dataset", m.Key(), "shard", s.ID, "err", err)
				}
				continue
			}
			began := time.Now()
			sum, err := n.store.verifyShard(m.Key(), s.ID, began)
			if err == nil && (s.CRC != 0 || s.Size == 0) && (sum.CRC != s.CRC || sum.Length != s.Size) {
				err = &corruptError{what: fmt.Sprintf("shard %s/%s on node %s", m.Key(), s.ID, n.name), reason: fmt.Sprintf(
					"it holds %d bytes with CRC-32C %08x, the manifest %d with %08x", sum.Length, sum.CRC, s.Size, s.CRC)}
			}
			if errors.Is(err, errCorrupt) {
				n.quarantineReplica(m.Key(), s.ID, err)
				if rerr := n.restoreShard(ctx, m.Key(), s); rerr != nil {
					n.log.Error("scrub: no good copy to restore from", "dataset", m.Key(), "shard", s.ID, "err", rerr)
				}
			} else if err != nil {
				n.log.Warn("scrub: verify replica", "dataset", m.Key(), "shard", s.ID, "err", err)
			}
			// Pace: this shard's bytes at ScrubRate.
			if rate := n.cfg.ScrubRate; rate > 0 {
				want := time.Duration(float64(sum.Length) / float64(rate) * float64(time.Second))
				select {
				case <-ctx.Done():
					return
				case <-time.After(want - time.Since(began)):
				}
			}
		}
	}
}

// ReplicaState is what a holder knows of its replica of a shard.
type ReplicaState struct {
	Shard  string `json:"shard"`
	Holder string `json:"holder"`
	// State: "ok" (held; Verified says when last read intact, zero if not
	// since it was stored), "restored" (was damaged, replaced by a good
	// copy), "damaged" (quarantined, no good copy yet), "missing",
	// "unreachable" (the holder did not answer).
	State    string    `json:"state"`
	Verified time.Time `json:"verified,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// replicaStates reports this node's replicas of dataset ds.
func (n *Node) replicaStates(ds string) []ReplicaState {
	m, err := n.store.manifest(ds)
	if err != nil {
		return nil
	}
	var out []ReplicaState
	for _, s := range m.Shards {
		if !slices.Contains(s.Holders, n.name) {
			continue
		}
		st := ReplicaState{Shard: s.ID, Holder: n.name, State: "ok"}
		rep, err := n.store.openReplica(ds, s.ID)
		if err == nil {
			st.Verified = rep.sum.Verified
			rep.Close()
		} else {
			st.State = "missing"
		}
		if e, ok := n.integrity.event(ds, s.ID); ok {
			st.Error = e.Err
			if err == nil && !e.Restored.IsZero() {
				st.State = "restored"
			} else if err != nil {
				st.State = "damaged"
			}
		}
		out = append(out, st)
	}
	return out
}

func (n *Node) handleReplicaStates(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, n.replicaStates(internalKey(r)))
}

// datasetReplicas asks every holder of m about its replicas.
func (n *Node) datasetReplicas(ctx context.Context, m *Manifest) []ReplicaState {
	holders := map[string]bool{}
	for _, s := range m.Shards {
		for _, h := range s.Holders {
			holders[h] = true
		}
	}
	var out []ReplicaState
	var mu sync.Mutex
	var wg sync.WaitGroup
	for h := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []ReplicaState
			var err error
			if h == n.name {
				got = n.replicaStates(m.Key())
			} else if mem, ok := n.aliveMember(h); !ok {
				err = errors.New("not alive")
			} else {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				var req *http.Request
				req, err = http.NewRequestWithContext(cctx, http.MethodGet, n.peerURL(mem, "/v1/internal/replicas/"+m.Key()), nil)
				if err == nil {
					err = n.do(req, &got)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				for _, s := range m.Shards {
					if slices.Contains(s.Holders, h) {
						out = append(out, ReplicaState{Shard: s.ID, Holder: h, State: "unreachable", Error: err.Error()})
					}
				}
				return
			}
			out = append(out, got...)
		}()
	}
	wg.Wait()
	sort.Slice(out, func(a, b int) bool {
		if out[a].Shard != out[b].Shard {
			return out[a].Shard < out[b].Shard
		}
		return out[a].Holder < out[b].Holder
	})
	return out
}
