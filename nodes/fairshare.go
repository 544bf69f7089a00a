package nodes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// fairShare admits tasks to this node's slots. When tenants queue, a free
// slot goes to the waiting tenant with the fewest tasks running here
// (the longest-waiting task first among equals), so a tenant flooding
// the cluster with tasks gets its share and no more; a tenant's
// ConcurrentTasks quota caps it even when slots are free.
//
// A running task cannot be taken back, so a tenant whose tasks hold every
// slot (modules that spin until their time limit) would make the others
// wait for as long. With burst slots (only where cgroups share the CPU by
// weight and cap each tenant's memory, so an extra task takes CPU from
// the hog, not from the machine), a waiting tenant below its share of the
// slots (the slots over the tenants with tasks running or waiting) runs
// beyond the slot count, up to burst extra tasks on the node. The share
// is not weighted: a heavier tenant running more tasks than the CPUs took
// the kernel's split past its weight (TestTenantCPUWeights measured the
// lighter tenant at under 5%).
type fairShare struct {
	mu      sync.Mutex
	slots   int
	burst   int
	busy    int
	running map[string]int
	queue   []*waiter // in arrival order
}

type waiter struct {
	tenant  string
	limit   int // 0: no per-tenant limit
	ready   chan struct{}
	granted bool
}

func newFairShare(slots, burst int) *fairShare {
	return &fairShare{slots: max(slots, 1), burst: max(burst, 0), running: map[string]int{}}
}

// burstSlots is how many tasks beyond its slots a node with cgroups runs
// for tenants below their share: half its slots (at least one). Each
// task's sort buffer is then --memory over slots plus burst slots, so the
// node stays within --memory.
func burstSlots(slots int) int { return max(1, slots/2) }

// acquire waits for a slot for one of tenant's tasks; limit caps the
// tenant's running tasks (0: none). release must be called when the task
// ends.
func (f *fairShare) acquire(ctx context.Context, tenant string, limit int) (release func(), err error) {
	w := &waiter{tenant: tenant, limit: limit, ready: make(chan struct{})}
	f.mu.Lock()
	f.queue = append(f.queue, w)
	f.dispatch()
	f.mu.Unlock()
	release = func() {
		f.mu.Lock()
		f.busy--
		f.running[tenant]--
		f.dispatch()
		f.mu.Unlock()
	}
	select {
	case <-w.ready:
		return release, nil
	case <-ctx.Done():
		f.mu.Lock()
		defer f.mu.Unlock()
		if w.granted {
			f.busy--
			f.running[tenant]--
			f.dispatch()
		} else {
			for i, q := range f.queue {
				if q == w {
					f.queue = append(f.queue[:i], f.queue[i+1:]...)
					break
				}
			}
		}
		return nil, fmt.Errorf("waiting for a task slot: %w", context.Cause(ctx))
	}
}

// dispatch grants free slots, then burst slots; f.mu is held.
func (f *fairShare) dispatch() {
	for f.busy < f.slots+f.burst {
		bursting, share := f.busy >= f.slots, 0
		if bursting {
			share = max(1, f.slots/f.demanding())
		}
		best := -1
		for i, w := range f.queue {
			if w.limit > 0 && f.running[w.tenant] >= w.limit {
				continue
			}
			// A burst slot only for a tenant below its share of the slots.
			if bursting && f.running[w.tenant] >= share {
				continue
			}
			if best < 0 || f.running[w.tenant] < f.running[f.queue[best].tenant] {
				best = i
			}
		}
		if best < 0 {
			return
		}
		w := f.queue[best]
		f.queue = append(f.queue[:best], f.queue[best+1:]...)
		f.busy++
		f.running[w.tenant]++
		w.granted = true
		close(w.ready)
	}
}

// demanding counts the tenants with tasks running or waiting; f.mu is
// held.
func (f *fairShare) demanding() int {
	seen := map[string]bool{}
	for t, n := range f.running {
		if n > 0 {
			seen[t] = true
		}
	}
	for _, w := range f.queue {
		seen[w.tenant] = true
	}
	return max(1, len(seen))
}

// moduleOwners records which tenant uploaded which module (by hash) to
// this node, as empty files DIR/TENANT/HASH: a job may only use a module
// its tenant uploaded, so hashes are not capabilities.
type moduleOwners struct {
	dir string
}

func (o *moduleOwners) add(tenant, hash string) error {
	if err := os.MkdirAll(filepath.Join(o.dir, tenant), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.dir, tenant, hash), nil, 0o644)
}

func (o *moduleOwners) owns(tenant, hash string) bool {
	if ValidName("tenant", tenant) != nil || ValidName("module hash", hash) != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(o.dir, tenant, hash))
	return err == nil
}
