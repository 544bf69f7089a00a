package nodes

import (
	"context"
	"testing"
	"time"
)

// granted reports whether acquire returns within a short wait.
func granted(t *testing.T, f *fairShare, tenant string, limit int) (func(), bool) {
	t.Helper()
	type res struct {
		release func()
		err     error
	}
	ch := make(chan res, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	go func() {
		r, err := f.acquire(ctx, tenant, limit)
		ch <- res{r, err}
	}()
	r := <-ch
	return r.release, r.err == nil
}

func TestFairShareGivesFreedSlotsToTheTenantWithFewest(t *testing.T) {
	f := newFairShare(2, 0)
	ctx := context.Background()
	a1, _ := f.acquire(ctx, "a", 0)
	a2, _ := f.acquire(ctx, "a", 0)
	// a queues three more, then b queues one: b is served first when a
	// slot frees, though it came last.
	order := make(chan string, 4)
	for _, tenant := range []string{"a", "a", "a", "b"} {
		go func() {
			rel, err := f.acquire(ctx, tenant, 0)
			if err == nil {
				order <- tenant
				time.Sleep(10 * time.Millisecond)
				rel()
			}
		}()
		time.Sleep(20 * time.Millisecond) // arrival order
	}
	a1()
	if got := <-order; got != "b" {
		t.Fatalf("the freed slot went to %s; b had none running", got)
	}
	a2()
	for range 3 {
		<-order
	}
}

func TestFairShareLimitsATenant(t *testing.T) {
	f := newFairShare(4, 0)
	r1, ok := granted(t, f, "c", 1)
	if !ok {
		t.Fatal("first task refused")
	}
	if _, ok := granted(t, f, "c", 1); ok {
		t.Fatal("a second task ran past the tenant's limit of 1")
	}
	if _, ok := granted(t, f, "d", 0); !ok {
		t.Fatal("another tenant was blocked by c's limit")
	}
	r1()
	if _, ok := granted(t, f, "c", 1); !ok {
		t.Fatal("c's next task did not run after its first ended")
	}
	// A cancelled wait leaves no trace: slots still add up.
	if f.busy != 2 || len(f.queue) != 0 {
		t.Fatalf("busy %d, queue %d after cancelled waits; want 2 and 0", f.busy, len(f.queue))
	}
}

// With burst slots, a tenant whose every slot another tenant holds still
// runs one task; no tenant bursts past its share, and without burst slots
// nobody runs past the slot count.
func TestFairShareBurstsForATenantBelowItsShare(t *testing.T) {
	f := newFairShare(2, 1)
	ctx := context.Background()
	b1, _ := f.acquire(ctx, "b", 0)
	f.acquire(ctx, "b", 0)
	if _, ok := granted(t, f, "b", 0); ok {
		t.Fatal("b ran a third task though it holds every slot")
	}
	a1, ok := granted(t, f, "a", 0)
	if !ok {
		t.Fatal("a waits behind b's tasks although it has none running and a burst slot is free")
	}
	if _, ok := granted(t, f, "a", 0); ok {
		t.Fatal("a burst past its share of one slot")
	}
	if _, ok := granted(t, f, "c", 0); ok {
		t.Fatal("c ran past the burst slots")
	}
	if s, busy, _ := f.slotCounts(); s != 2 || busy != 3 {
		t.Fatalf("slots %d, busy %d; want 2 and 3", s, busy)
	}
	b1()
	a1()
	if _, ok := granted(t, f, "c", 0); !ok {
		t.Fatal("a freed slot was not given")
	}

	strict := newFairShare(2, 0)
	strict.acquire(ctx, "b", 0)
	strict.acquire(ctx, "b", 0)
	if _, ok := granted(t, strict, "a", 0); ok {
		t.Fatal("a ran past the slots without burst slots")
	}
}

// Burst shares follow the CPU weights: a heavy tenant arriving where a
// light tenant's tasks hold every slot runs one task per slot, as it
// would alone, while the light one gets one burst task at most; equal
// weights split the slots and burst slots evenly.
func TestFairShareBurstSharesFollowTheWeights(t *testing.T) {
	weights := map[string]int{"heavy": 100, "light": 10}
	tests := []struct {
		name         string
		slots, burst int
		first        string // holds every slot before the other arrives
		second       string
		wantSecond   int // tasks the second runs (it asks for slots+1)
	}{
		{"heavy after light", 2, 2, "light", "heavy", 2},
		{"light after heavy", 2, 2, "heavy", "light", 1},
		{"equal weights", 4, 4, "eq1", "eq2", 4},
		{"three slots, heavy after light", 3, 3, "light", "heavy", 3},
		{"more slots than CPUs", 8, 8, "light", "heavy", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFairShare(tc.slots, tc.burst)
			f.cpus = 4
			f.weight = func(tenant string) int { return weights[tenant] }
			ctx := context.Background()
			for range tc.slots {
				if _, err := f.acquire(ctx, tc.first, 0); err != nil {
					t.Fatal(err)
				}
			}
			got := 0
			for range tc.slots + 1 {
				if _, ok := granted(t, f, tc.second, 0); ok {
					got++
				}
			}
			if got != tc.wantSecond {
				t.Errorf("%s ran %d tasks while %s held the %d slots; want %d", tc.second, got, tc.first, tc.slots, tc.wantSecond)
			}
			if _, ok := granted(t, f, tc.first, 0); ok {
				t.Errorf("%s ran past its slots while %s bursts", tc.first, tc.second)
			}
		})
	}
}
