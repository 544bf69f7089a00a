package nodes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/wmr-dev/wmr/nodes/cgroups"
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
// the hog, not from the machine), a waiting tenant below its share runs
// beyond the slot count. Its share is the slots plus burst slots in
// proportion to its CPU weight among the tenants with tasks running or
// waiting here, at least one and at most the slots or the CPUs: a heavy
// tenant arriving at a node whose every slot a light tenant's spinning
// tasks hold still runs as many tasks at once as it would alone, and the
// kernel then gives it the CPU by weight. Never more than the CPUs
// through a burst: a tenant running more tasks than the CPUs took the
// kernel's per-CPU split past its weight (at 3:1 the lighter one got
// under 5%).
type fairShare struct {
	mu      sync.Mutex
	slots   int
	burst   int
	cpus    int // bounds a burst share
	busy    int
	running map[string]int
	queue   []*waiter // in arrival order
	// weight is a tenant's CPU weight (nil, or 0 for a tenant: all
	// equal); it sets the burst shares.
	weight func(tenant string) int
}

type waiter struct {
	tenant  string
	limit   int // 0: no per-tenant limit
	ready   chan struct{}
	granted bool
}

func newFairShare(slots, burst int) *fairShare {
	return &fairShare{slots: max(slots, 1), burst: max(burst, 0), cpus: runtime.NumCPU(), running: map[string]int{}}
}

// burstSlots is how many tasks beyond its slots a node with cgroups runs
// for tenants below their share: as many as its slots, so a tenant
// arriving where another's tasks hold every slot can still run one task
// per slot. Each task's sort buffer is then --memory over slots plus
// burst slots, so the node stays within --memory.
func burstSlots(slots int) int { return max(1, slots) }

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
		bursting := f.busy >= f.slots
		var weights map[string]int
		total := 0
		if bursting {
			weights, total = f.demanding()
		}
		best := -1
		for i, w := range f.queue {
			if w.limit > 0 && f.running[w.tenant] >= w.limit {
				continue
			}
			// A burst slot only for a tenant below its share.
			if bursting && f.running[w.tenant] >= f.share(weights[w.tenant], total) {
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

// share is how many tasks a tenant of weight w may run when the tenants
// with work here weigh total together: its part of the slots and burst
// slots, within [1, min(slots, CPUs)].
func (f *fairShare) share(w, total int) int {
	return max(1, min(f.slots, f.cpus, (f.slots+f.burst)*w/max(total, 1)))
}

// demanding weighs the tenants with tasks running or waiting, and sums
// their weights; f.mu is held.
func (f *fairShare) demanding() (weights map[string]int, total int) {
	weights = map[string]int{}
	add := func(t string) {
		if _, ok := weights[t]; ok {
			return
		}
		w := 0
		if f.weight != nil {
			w = f.weight(t)
		}
		if w <= 0 {
			w = cgroups.DefaultWeight
		}
		weights[t] = w
		total += w
	}
	for t, n := range f.running {
		if n > 0 {
			add(t)
		}
	}
	for _, w := range f.queue {
		add(w.tenant)
	}
	return weights, total
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
