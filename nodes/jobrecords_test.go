package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/task"
)

// A successor's quorum and a coordinator's fence always share a holder,
// so the two sides of a partition never both publish one job's output.
func TestQuorumsIntersect(t *testing.T) {
	want := map[int][2]int{1: {1, 1}, 2: {2, 1}, 3: {2, 2}, 4: {3, 2}, 5: {3, 3}, 6: {4, 3}}
	for size := 1; size <= 9; size++ {
		holders := make([]string, size)
		q, f := quorum(holders), fenceQuorum(holders)
		if w, ok := want[size]; ok && (q != w[0] || f != w[1]) {
			t.Errorf("%d holders: quorum %d, fence %d; want %d, %d", size, q, f, w[0], w[1])
		}
		if 2*q <= size {
			t.Errorf("%d holders: two successors could each have a quorum of %d", size, q)
		}
		if q+f <= size {
			t.Errorf("%d holders: a successor's %d and a coordinator's %d need not meet", size, q, f)
		}
	}
}

// What holders answer to a pushed record decides whether its coordinator
// holds the job: the same epoch and coordinator count, a newer epoch or a
// rival at the same epoch supersedes it, an older one is overwritten.
func TestPushResultCountsHoldersOfTheEpoch(t *testing.T) {
	mine := &jobRecord{ID: "j", Coordinator: "n2", Epoch: 1}
	cases := []struct {
		acks  []recordAck
		held  int
		newer string
	}{
		{[]recordAck{{Epoch: 1, Coordinator: "n2"}, {Epoch: 1, Coordinator: "n2"}}, 2, ""},
		{[]recordAck{{Epoch: 1, Coordinator: "n2"}, {Epoch: 2, Coordinator: "n3"}}, 1, "n3@2"},
		{[]recordAck{{Epoch: 1, Coordinator: "n3"}}, 0, "n3@1"},
		{[]recordAck{{Epoch: 1, Coordinator: "n3"}, {Epoch: 3, Coordinator: "n1"}, {Epoch: 2, Coordinator: "n4"}}, 0, "n1@3"},
		{[]recordAck{{Epoch: 0, Coordinator: "n1"}}, 0, ""},
	}
	for _, c := range cases {
		var res pushResult
		for _, a := range c.acks {
			res.count(mine, a)
		}
		newer := ""
		if res.newer != nil {
			newer = fmt.Sprintf("%s@%d", res.newer.Coordinator, res.newer.Epoch)
		}
		if res.held != c.held || newer != c.newer {
			t.Errorf("acks %+v: held %d, newer %q; want %d, %q", c.acks, res.held, newer, c.held, c.newer)
		}
	}
}

// A record is replaced by a later epoch, or by its own epoch's end; never
// by an earlier epoch, even one that ended (the partitioned coordinator's
// failure must not hide its successor's success). Records survive a
// restart.
func TestJobRecordsKeepTheNewestEpoch(t *testing.T) {
	dir := t.TempDir()
	rs, err := openJobRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		rec   jobRecord
		saved bool
	}{
		{jobRecord{ID: "j", Coordinator: "n1"}, true},
		{jobRecord{ID: "j", Coordinator: "n2", Epoch: 1}, true},
		{jobRecord{ID: "j", Coordinator: "n1", Final: &JobStatus{State: "failed"}}, false},
		{jobRecord{ID: "j", Coordinator: "n3", Epoch: 1}, false},
		{jobRecord{ID: "j", Coordinator: "n2", Epoch: 1, Seq: 2, Reduces: []reduceDone{{Partition: 0, Holders: []string{"n3"}}}}, true},
		{jobRecord{ID: "j", Coordinator: "n2", Epoch: 1, Seq: 1}, false}, // a reduce's note arriving late
		{jobRecord{ID: "j", Coordinator: "n2", Epoch: 1, Final: &JobStatus{State: "succeeded"}}, true},
		{jobRecord{ID: "j", Coordinator: "n2", Epoch: 1, Final: &JobStatus{State: "failed"}}, false},
	}
	for i, s := range steps {
		if saved, err := rs.save(&s.rec); err != nil || saved != s.saved {
			t.Fatalf("step %d (%s at epoch %d): saved %v, %v; want %v", i, s.rec.Coordinator, s.rec.Epoch, saved, err, s.saved)
		}
	}
	again, err := openJobRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := again.get("j")
	if !ok || r.Coordinator != "n2" || r.Epoch != 1 || r.Final == nil || r.Final.State != "succeeded" || len(r.Reduces) != 0 {
		t.Fatalf("after a restart: %+v", r)
	}
}

// blockingExec runs every attempt until it is cancelled.
type blockingExec struct{ started chan struct{} }

func (b blockingExec) Run(ctx context.Context, st coord.Start, _ func(task.Stats)) coord.Event {
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return coord.Failed{Attempt: st.Attempt, Class: coord.Lost, Err: ctx.Err()}
}

func (blockingExec) Commit(context.Context, coord.Commit) error { return errors.New("not reached") }

// A record of a later epoch from another coordinator stops this node's
// run of the job (a successor took it over while this node was cut off)
// and takes the job out of this node's list, so that its status comes from
// the successor's record.
func TestNewerEpochStopsASupersededRun(t *testing.T) {
	rs, err := openJobRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{name: "n1", records: rs, jobs: map[string]*job{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	exec := blockingExec{started: make(chan struct{}, 1)}
	plan := coord.Plan{Maps: []coord.MapInput{{Name: "m"}}, Reduces: 1, Nodes: []coord.NodeUp{{Node: "n1", Slots: 1}}}
	j := &job{done: make(chan struct{}), rec: &jobRecord{ID: "j1", Coordinator: "n1"}, driver: coord.NewDriver(coord.New(plan), exec, nil)}
	n.jobs["j1"] = j
	rs.save(j.rec)
	ended := make(chan error, 1)
	go func() { ended <- j.driver.Run(context.Background()) }()
	<-exec.started
	// The same epoch (a holder echoing this node's own record) changes
	// nothing.
	if _, err := n.keepRecord(&jobRecord{ID: "j1", Coordinator: "n1"}); err != nil || n.jobs["j1"] == nil {
		t.Fatalf("the coordinator's own epoch: %v, job kept %v", err, n.jobs["j1"] != nil)
	}
	held, err := n.keepRecord(&jobRecord{ID: "j1", Coordinator: "n2", Epoch: 1})
	if err != nil || held.Coordinator != "n2" || held.Epoch != 1 {
		t.Fatalf("held %+v, %v", held, err)
	}
	if _, ok := n.jobs["j1"]; ok {
		t.Fatal("the superseded job is still listed as this node's")
	}
	select {
	case err := <-ended:
		if !errors.Is(err, errSuperseded) || err.Error() != "taken over by a successor: node n2 took the job over (epoch 1)" {
			t.Fatalf("the run ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the superseded run did not stop")
	}
}
