package nodes

import (
	"context"
	"slices"
	"sync"
	"time"
)

// deadTracker remembers when members left or failed, for the grace period
// before their shards are re-replicated.
type deadTracker struct {
	mu    sync.Mutex
	since map[string]time.Time
	start time.Time
}

func (d *deadTracker) gone(name string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.since == nil {
		d.since = map[string]time.Time{}
	}
	d.since[name] = at
}

func (d *deadTracker) back(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.since, name)
}

// deadFor says how long a non-member has been gone: since we saw it go,
// or since this node started if we never knew it.
func (d *deadTracker) deadFor(name string, now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.since[name]; ok {
		return now.Sub(t)
	}
	return now.Sub(d.start)
}

// repairOnce re-replicates shards whose holders have been dead past the
// grace period. Only the live member with the lowest name does it, so
// manifests are not updated from two places at once.
func (n *Node) repairOnce(ctx context.Context) {
	alive := n.alive()
	if len(alive) == 0 || alive[0].Name != n.name { // Members is sorted by name
		return
	}
	live := map[string]Member{}
	var names []string
	for _, m := range alive {
		live[m.Name] = m
		names = append(names, m.Name)
	}
	now := time.Now()
	for _, m := range n.store.manifests() {
		changed := false
		for i := range m.Shards {
			s := &m.Shards[i]
			var keep, sources []string
			for _, h := range s.Holders {
				if _, ok := live[h]; ok {
					keep = append(keep, h)
					sources = append(sources, h)
				} else if n.dead.deadFor(h, now) < n.cfg.RepairGrace {
					keep = append(keep, h) // may come back; wait
				}
			}
			want := m.Replicas
			if want > len(alive) {
				want = len(alive)
			}
			if len(keep) >= want || len(sources) == 0 {
				if len(sources) == 0 && len(keep) < len(s.Holders) {
					n.log.Warn("shard lost every replica; cannot re-replicate", "dataset", m.Key(), "shard", s.ID, "holders", s.Holders)
				}
				continue
			}
			var candidates []string
			for _, name := range names {
				if !slices.Contains(keep, name) {
					candidates = append(candidates, name)
				}
			}
			added := Place(m.Key()+"/"+s.ID, candidates, want-len(keep))
			var copied []string
			for _, to := range added {
				if err := n.copyShard(ctx, m.Key(), *s, live[to]); err != nil {
					n.log.Warn("re-replicate shard", "dataset", m.Key(), "shard", s.ID, "to", to, "err", err)
					continue
				}
				copied = append(copied, to)
			}
			if len(copied) > 0 || len(keep) < len(s.Holders) {
				n.log.Info("re-replicated shard", "dataset", m.Key(), "shard", s.ID, "dropped", len(s.Holders)-len(keep), "added", copied)
				s.Holders = append(keep, copied...)
				changed = true
			}
		}
		if changed {
			if err := n.commit(ctx, m); err != nil {
				n.log.Warn("commit re-replicated manifest", "dataset", m.Key(), "err", err)
			}
		}
	}
}
