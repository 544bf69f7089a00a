package coord

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/task"
)

// sim drives a Job through a scripted scenario with a fake clock.
type sim struct {
	t    *testing.T
	job  *Job
	now  time.Time
	acts []Action // actions of the last step
	all  []string // every action so far, as text
}

func newSim(t *testing.T, plan Plan, nodes ...string) *sim {
	for _, n := range nodes {
		plan.Nodes = append(plan.Nodes, NodeUp{Node: n, Slots: 2})
	}
	return &sim{t: t, job: New(plan), now: time.Unix(1000, 0)}
}

func (s *sim) step(ev Event) []Action {
	s.acts = s.job.Step(s.now, ev)
	for _, a := range s.acts {
		s.all = append(s.all, describe(a))
	}
	return s.acts
}

func (s *sim) advance(d time.Duration) []Action {
	s.now = s.now.Add(d)
	return s.step(Tick{})
}

// describe writes an action as one line, for expectations.
func describe(a Action) string {
	switch a := a.(type) {
	case Start:
		s := fmt.Sprintf("start %s on %s", a.Attempt, a.Node)
		if a.Backup {
			s += " backup"
		}
		for _, r := range a.Skip {
			s += fmt.Sprintf(" skip@%d", r.Offset)
		}
		return s
	case Cancel:
		return fmt.Sprintf("cancel %s", a.Attempt)
	case Commit:
		return fmt.Sprintf("commit %d outputs", len(a.Outputs))
	case Finish:
		if a.Err != nil {
			return "finish: " + a.Err.Error()
		}
		return "finish ok"
	}
	return "?"
}

// expect checks that the last step's actions are exactly want.
func (s *sim) expect(want ...string) {
	s.t.Helper()
	var got []string
	for _, a := range s.acts {
		got = append(got, describe(a))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		s.t.Fatalf("actions:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func m(i, n int) AttemptID { return AttemptID{TaskID{Kind: Map, Index: i}, n} }
func r(i, n int) AttemptID { return AttemptID{TaskID{Kind: Reduce, Index: i}, n} }

func ok(a AttemptID, lines int64) Succeeded {
	return Succeeded{Attempt: a, Output: a.String() + ".out",
		Result: &task.Result{Stats: task.Stats{RecordsIn: lines, RecordsOut: lines}, Counters: map[string]int64{"lines": lines},
			Index: runs.Index{Offsets: []int64{0, 10 * lines}}}}
}

func modErr(a AttemptID, msg string) Failed {
	return Failed{Attempt: a, Class: ModuleFault, Err: errors.New(msg)}
}

func plan(maps, reduces int, nodes ...string) Plan {
	p := Plan{Reduces: reduces}
	for i := 0; i < maps; i++ {
		p.Maps = append(p.Maps, MapInput{Name: fmt.Sprintf("f.txt[%d]", i), Nodes: nodes})
	}
	return p
}

func TestJobRunsMapsThenReducesThenCommits(t *testing.T) {
	s := newSim(t, plan(3, 2), "n1")
	s.step(Tick{})
	s.expect("start m-00000.a1 on n1", "start m-00001.a1 on n1")
	s.step(ok(m(0, 1), 5))
	s.expect("start m-00002.a1 on n1")
	s.step(ok(m(1, 1), 7))
	s.expect()
	st := s.step(ok(m(2, 1), 11))
	if len(st) != 2 || len(st[0].(Start).Inputs) != 3 || st[0].(Start).Inputs[2].Output != "m-00002.a1.out" {
		t.Fatalf("reduce starts: %#v", st)
	}
	s.step(Succeeded{Attempt: r(0, 1), Result: &task.Result{Stats: task.Stats{RecordsOut: 2}}, Holders: []string{"n1"}})
	s.expect()
	s.step(Succeeded{Attempt: r(1, 1), Result: &task.Result{Stats: task.Stats{RecordsOut: 3}}, Holders: []string{"n1"}})
	s.expect("commit 2 outputs")
	if st := s.job.Status(); st.Phase != "commit" || st.Counters["lines"] != 23 || st.Committed.RecordsOut != 5 || st.Committed.ShuffleBytes != 230 {
		t.Fatalf("status before commit: %+v", st)
	}
	s.step(Committed{})
	s.expect("finish ok")
	if st := s.job.Status(); st.Phase != "succeeded" || st.Attempts != 5 || st.MapsDone != 3 || st.ReducesDone != 2 {
		t.Fatalf("final status: %+v", st)
	}
}

func TestModuleErrorsAreChargedUpToTheLimitWithBackoff(t *testing.T) {
	s := newSim(t, plan(1, 1), "n1")
	s.step(Tick{})
	s.step(modErr(m(0, 1), "boom"))
	s.expect() // backing off
	s.advance(50 * time.Millisecond)
	s.expect()
	s.advance(50 * time.Millisecond)
	s.expect("start m-00000.a2 on n1")
	s.step(modErr(m(0, 2), "boom"))
	s.advance(200 * time.Millisecond)
	s.expect("start m-00000.a3 on n1")
	s.step(modErr(m(0, 3), "boom"))
	s.expect("finish: map task m-00000 (f.txt[0]) failed on all 3 attempts: boom")
	_, err := s.job.Finished()
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("error %v does not wrap ErrTaskFailed", err)
	}
}

func TestDifferentErrorsNameTheLast(t *testing.T) {
	s := newSim(t, Plan{Maps: plan(1, 1).Maps, Reduces: 1, Policy: Policy{MaxAttempts: 2}}, "n1")
	s.step(Tick{})
	s.step(modErr(m(0, 1), "first"))
	s.advance(time.Second)
	s.step(Failed{Attempt: m(0, 2), Class: LocalFault, Err: errors.New("no space left on device")})
	s.expect("finish: map task m-00000 (f.txt[0]) failed 2 attempts; the last: no space left on device")
}

func TestInvalidModuleFailsAtOnce(t *testing.T) {
	s := newSim(t, plan(2, 1), "n1")
	s.step(Tick{})
	s.step(Failed{Attempt: m(1, 1), Class: Invalid, Err: errors.New("module x.wasm does not export wmr_map")})
	s.expect("cancel m-00000.a1", "finish: map task m-00001 (f.txt[1]): module x.wasm does not export wmr_map")
}

func TestLostNodeIsNotChargedAndWorkMovesOn(t *testing.T) {
	s := newSim(t, plan(1, 1), "n1", "n2")
	s.step(Tick{})
	s.expect("start m-00000.a1 on n1")
	s.step(NodeDown{Node: "n1"})
	s.expect("cancel m-00000.a1", "start m-00000.a2 on n2")
	// The dead node's late report is ignored.
	s.step(ok(m(0, 1), 3))
	s.expect()
	for n := 2; n <= 3; n++ {
		s.step(modErr(m(0, n), "trap"))
		s.advance(time.Second)
	}
	s.step(modErr(m(0, 4), "trap"))
	s.expect("finish: map task m-00000 (f.txt[0]) failed on all 3 attempts: trap")
}

func TestLostAttemptsAreBoundedAndBackOff(t *testing.T) {
	s := newSim(t, Plan{Maps: plan(1, 1).Maps, Reduces: 1, Policy: Policy{MaxUncharged: 4}}, "n1")
	s.step(Tick{})
	var starts int
	for i := 1; i <= 4; i++ {
		s.step(Failed{Attempt: m(0, i), Class: Lost, Err: errors.New("node n1: connection refused")})
		s.expect() // never straight back: backoff
		for k := 0; k < 100; k++ {
			if acts := s.advance(100 * time.Millisecond); len(acts) > 0 {
				starts++
				break
			}
		}
	}
	s.step(Failed{Attempt: m(0, 5), Class: Lost, Err: errors.New("node n1: connection refused")})
	s.expect("finish: map task m-00000 (f.txt[0]) could not run: 5 attempts were lost without its fault, the last because node n1: connection refused")
	if starts != 4 {
		t.Fatalf("%d retries, want 4", starts)
	}
	if st := s.job.Status(); st.Attempts != 5 {
		t.Fatalf("attempts %d, want 5", st.Attempts)
	}
}

func TestLostMapOutputReRunsOnlyThatMapAndCountsOnce(t *testing.T) {
	s := newSim(t, plan(3, 1, "a", "b"), "a", "b")
	s.step(Tick{})
	s.expect("start m-00000.a1 on a", "start m-00001.a1 on b", "start m-00002.a1 on a")
	s.step(ok(m(0, 1), 10))
	s.step(ok(m(1, 1), 20))
	s.step(ok(m(2, 1), 30))
	s.expect("start r-00000.a1 on a")
	// b dies in the reduce phase: the output of m1 is gone.
	s.step(NodeDown{Node: "b"})
	s.expect("start m-00001.a2 on a")
	s.step(Failed{Attempt: r(0, 1), Class: FetchFailed, Err: errors.New("fetch output of map task m-00001 from node b: connection refused"),
		LostMaps: []TaskID{{Kind: Map, Index: 1}}})
	s.expect()
	s.step(ok(m(1, 2), 20))
	s.expect()
	s.advance(time.Second)
	s.expect("start r-00000.a2 on a")
	if in := s.acts[0].(Start).Inputs; in[1].Node != "a" || in[1].Output != "m-00001.a2.out" || in[0].Output != "m-00000.a1.out" {
		t.Fatalf("reduce inputs %+v", in)
	}
	s.step(Succeeded{Attempt: r(0, 2), Result: &task.Result{}, Holders: []string{"a"}})
	s.step(Committed{})
	st := s.job.Status()
	if st.Counters["lines"] != 60 || st.Committed.RecordsIn != 60 {
		t.Fatalf("counters %v records in %d, want 60 each (re-run maps counted once)", st.Counters, st.Committed.RecordsIn)
	}
	outcomes := map[string]string{}
	for _, a := range st.History {
		outcomes[a.Attempt.String()] = a.Outcome
	}
	if outcomes["m-00001.a1"] != "output lost: node b left the cluster" || !strings.HasPrefix(outcomes["r-00000.a1"], "lost: fetch output") || outcomes["m-00000.a1"] != "succeeded" {
		t.Fatalf("outcomes %v", outcomes)
	}
}

func TestFetchFailureReRunsTheMapElsewhere(t *testing.T) {
	s := newSim(t, plan(2, 1), "a", "b")
	s.step(Tick{})
	s.step(ok(m(0, 1), 1))
	s.step(ok(m(1, 1), 1))
	s.expect("start r-00000.a1 on a")
	// b is alive but its output of m1 is unreadable.
	s.step(Failed{Attempt: r(0, 1), Class: FetchFailed, Err: errors.New("fetch: 404"), LostMaps: []TaskID{{Kind: Map, Index: 1}}})
	s.expect("start m-00001.a2 on a")
}

func TestReduceOutputLostBeforeCommitIsRedone(t *testing.T) {
	s := newSim(t, plan(1, 2), "n1", "n2")
	s.step(Tick{})
	s.step(ok(m(0, 1), 1))
	s.expect("start r-00000.a1 on n1", "start r-00001.a1 on n2")
	s.step(Succeeded{Attempt: r(0, 1), Result: &task.Result{}, Holders: []string{"n1"}})
	// n1 dies: its map output is still needed by r1, and r0's output is gone.
	s.step(NodeDown{Node: "n1"})
	s.expect("start m-00000.a2 on n2")
	s.step(Succeeded{Attempt: r(1, 1), Result: &task.Result{}, Holders: []string{"n2"}})
	s.step(ok(m(0, 2), 1))
	s.expect("start r-00000.a2 on n2")
	// An output stored on a node that is already gone is not accepted.
	s.step(Succeeded{Attempt: r(0, 2), Result: &task.Result{}, Holders: []string{"n2", "n1"}})
	s.expect("start r-00000.a3 on n2")
	s.step(Succeeded{Attempt: r(0, 3), Result: &task.Result{}, Holders: []string{"n2"}})
	s.expect("commit 2 outputs")
	if out := s.acts[0].(Commit).Outputs; out[0].Holders[0] != "n2" || out[1].Holders[0] != "n2" {
		t.Fatalf("outputs %+v", out)
	}
}

func TestMapsRunWhereTheirInputIsAndFailWhenItIsGone(t *testing.T) {
	p := Plan{Reduces: 1, Maps: []MapInput{{Name: "s0", Nodes: []string{"n2"}}, {Name: "s1", Nodes: []string{"n3", "n1"}}}}
	s := newSim(t, p, "n1", "n2", "n3")
	s.step(Tick{})
	s.expect("start m-00000.a1 on n2", "start m-00001.a1 on n3") // equally busy holders: the first
	s.step(NodeDown{Node: "n2"})
	s.expect("cancel m-00000.a1", "cancel m-00001.a1",
		"finish: map task m-00000 (s0) cannot run: none of the nodes holding its input (n2) is alive")
	if _, err := s.job.Finished(); !errors.Is(err, ErrNoNode) {
		t.Fatalf("err %v", err)
	}
}

func TestSlotsBoundWhatRunsPerNode(t *testing.T) {
	s := &sim{t: t, job: New(plan(5, 1)), now: time.Unix(0, 0)}
	s.step(NodeUp{Node: "a", Slots: 1})
	s.expect("start m-00000.a1 on a")
	s.step(NodeUp{Node: "b", Slots: 2})
	s.expect("start m-00001.a1 on b", "start m-00002.a1 on b")
	s.step(ok(m(1, 1), 1))
	s.expect("start m-00003.a1 on b")
	s.step(ok(m(0, 1), 1))
	s.expect("start m-00004.a1 on a")
}

func TestBackupAttempts(t *testing.T) {
	for _, winner := range []string{"backup", "original"} {
		t.Run(winner+" wins", func(t *testing.T) {
			s := newSim(t, plan(4, 1), "fast", "slow")
			s.step(Tick{})
			s.expect("start m-00000.a1 on fast", "start m-00001.a1 on slow", "start m-00002.a1 on fast", "start m-00003.a1 on slow")
			for i := 0; i < 4; i++ {
				s.step(Progressed{Attempt: m(i, 1)})
			}
			s.now = s.now.Add(2 * time.Second)
			s.step(ok(m(0, 1), 1))
			s.step(ok(m(2, 1), 1))
			s.advance(2 * time.Second) // slow tasks at 4s, median 2s: not yet twice it
			s.expect()
			s.advance(100 * time.Millisecond)
			s.expect("start m-00001.a2 on fast backup", "start m-00003.a2 on fast backup")
			s.advance(10 * time.Second)
			s.expect() // one backup per task
			if winner == "backup" {
				s.step(ok(m(1, 2), 1))
				s.expect("cancel m-00001.a1")
			} else {
				s.step(ok(m(1, 1), 1))
				s.expect("cancel m-00001.a2")
			}
			s.step(ok(m(3, 2), 1))
			s.expect("cancel m-00003.a1", "start r-00000.a1 on fast")
			// The loser's late report changes nothing.
			s.step(ok(m(1, 1), 1000))
			s.step(ok(m(1, 2), 1000))
			s.step(ok(m(3, 1), 1000))
			st := s.job.Status()
			if st.Counters["lines"] != 4 || st.Backups != 2 {
				t.Fatalf("counters %v backups %d: losing attempts must not count", st.Counters, st.Backups)
			}
			var outcomes []string
			for _, a := range st.History {
				if a.Attempt.Task.Index == 1 && a.Attempt.Task.Kind == Map {
					outcomes = append(outcomes, fmt.Sprintf("%s backup=%v %s", a.Attempt, a.Backup, a.Outcome))
				}
			}
			want := "m-00001.a1 backup=false cancelled: attempt a2 won|m-00001.a2 backup=true succeeded"
			if winner == "original" {
				want = "m-00001.a1 backup=false succeeded|m-00001.a2 backup=true cancelled: attempt a1 won"
			}
			if strings.Join(outcomes, "|") != want {
				t.Fatalf("history %q, want %q", strings.Join(outcomes, "|"), want)
			}
		})
	}
}

func TestNoBackupsWhenOff(t *testing.T) {
	s := newSim(t, Plan{Maps: plan(2, 1).Maps, Reduces: 1, Policy: Policy{NoBackups: true}}, "a", "b")
	s.step(Tick{})
	s.now = s.now.Add(time.Second)
	s.step(ok(m(0, 1), 1))
	s.advance(time.Hour)
	s.expect()
}

func TestSkipBadRecords(t *testing.T) {
	bad := func(a AttemptID, off int64) Failed {
		return Failed{Attempt: a, Class: ModuleFault, Err: fmt.Errorf("on the line at byte %d of f.txt: module failed: bad", off),
			Record: &Record{Input: "f.txt", Offset: off, Err: "bad"}}
	}
	s := newSim(t, Plan{Maps: plan(1, 1).Maps, Reduces: 1, Policy: Policy{SkipBadRecords: 2}}, "n1")
	s.step(Tick{})
	s.step(bad(m(0, 1), 10))
	s.expect("start m-00000.a2 on n1 skip@10")
	s.step(bad(m(0, 2), 20))
	s.expect("start m-00000.a3 on n1 skip@10 skip@20")
	// The budget is spent: the third bad record is an ordinary failure.
	s.step(bad(m(0, 3), 30))
	s.expect()
	st := s.job.Status()
	if len(st.Skipped) != 2 || st.Skipped[1].Offset != 20 || st.Skipped[1].Task.String() != "m-00000" {
		t.Fatalf("skipped %+v", st.Skipped)
	}
	s.advance(time.Second)
	s.expect("start m-00000.a4 on n1 skip@10 skip@20")
	s.step(ok(m(0, 4), 1))
	s.expect("start r-00000.a1 on n1")
}

func TestWithoutSkippingABadRecordFailsTheJob(t *testing.T) {
	s := newSim(t, Plan{Maps: plan(1, 1).Maps, Reduces: 1, Policy: Policy{MaxAttempts: 1}}, "n1")
	s.step(Tick{})
	s.step(Failed{Attempt: m(0, 1), Class: ModuleFault, Err: errors.New("on the line at byte 7 of f.txt: bad"), Record: &Record{Offset: 7}})
	s.expect("finish: map task m-00000 (f.txt[0]) failed on all 1 attempts: on the line at byte 7 of f.txt: bad")
}

func TestHistoryIsBounded(t *testing.T) {
	s := newSim(t, Plan{Maps: plan(1, 1).Maps, Reduces: 1, Policy: Policy{MaxUncharged: 1000, History: 5, RetryBackoffMax: time.Millisecond, RetryBackoff: time.Millisecond}}, "n1")
	s.step(Tick{})
	for i := 1; i <= 100; i++ {
		s.step(Failed{Attempt: m(0, i), Class: Lost, Err: errors.New("gone")})
		s.advance(time.Millisecond)
	}
	st := s.job.Status()
	if len(st.History) != 5 || st.Dropped != 96 || len(s.job.attempts) > 10 {
		t.Fatalf("history %d dropped %d tracked %d", len(st.History), st.Dropped, len(s.job.attempts))
	}
}

func TestAbortCancelsEverything(t *testing.T) {
	s := newSim(t, plan(2, 1), "n1")
	s.step(Tick{})
	s.step(Abort{Err: errors.New("interrupted")})
	s.expect("cancel m-00000.a1", "cancel m-00001.a1", "finish: interrupted")
	s.step(ok(m(0, 1), 1))
	s.expect()
}

func TestCommitFailure(t *testing.T) {
	s := newSim(t, plan(1, 1), "n1")
	s.step(Tick{})
	s.step(ok(m(0, 1), 1))
	s.step(Succeeded{Attempt: r(0, 1), Result: &task.Result{}, Holders: []string{"n1"}})
	s.expect("commit 1 outputs")
	s.step(Committed{Err: errors.New("stored bytes quota exceeded")})
	s.expect("finish: the output was not published: stored bytes quota exceeded")
}

func TestTaskIDsRoundTrip(t *testing.T) {
	for _, id := range []TaskID{{Kind: Map, Index: 0}, {Kind: Map, Index: 3}, {Kind: Reduce, Index: 12345}, {Kind: Reduce, Index: 100000},
		{Kind: Combine, Index: 7, Level: 1}, {Kind: Combine, Index: 0, Level: 12}} {
		b, _ := id.MarshalText()
		var back TaskID
		if err := back.UnmarshalText(b); err != nil || back != id {
			t.Errorf("%s: read back %v, %v", b, back, err)
		}
	}
	for _, bad := range []string{"", "m-", "x-00001", "m-abc", "m--0001", "m-1", "c-00001", "c0-00001", "cx-00001", "c+1-00001", "m-+0001"} {
		if _, err := ParseTaskID(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestLocalFaultsAreNotSkipped(t *testing.T) {
	s := newSim(t, Plan{Maps: plan(1, 1).Maps, Reduces: 1, Policy: Policy{SkipBadRecords: 5, MaxAttempts: 1}}, "n1")
	s.step(Tick{})
	s.step(Failed{Attempt: m(0, 1), Class: LocalFault, Err: errors.New("read f.txt: input/output error"), Record: &Record{Offset: 3}})
	s.expect("finish: map task m-00000 (f.txt[0]) failed on all 1 attempts: read f.txt: input/output error")
}

// Time a node spends getting ready (no progress yet) does not make an
// attempt a straggler, unless it is stuck there.
func TestBackupsCountFromTheFirstProgress(t *testing.T) {
	s := newSim(t, plan(2, 1), "warm", "cold")
	s.step(Tick{})
	s.expect("start m-00000.a1 on cold", "start m-00001.a1 on warm")
	s.step(Progressed{Attempt: m(1, 1)})
	s.now = s.now.Add(time.Second)
	s.step(ok(m(1, 1), 1))
	s.advance(10 * time.Second) // cold is still compiling the module
	s.expect()
	s.step(Progressed{Attempt: m(0, 1)})
	s.advance(2 * time.Second)
	s.expect()
	s.advance(200 * time.Millisecond) // running 2.2s, twice the median is 2s
	s.expect("start m-00000.a2 on warm backup")

	stuck := newSim(t, plan(2, 1), "warm", "cold")
	stuck.step(Tick{})
	stuck.step(Progressed{Attempt: m(1, 1)})
	stuck.step(ok(m(1, 1), 1))
	stuck.advance(29 * time.Second)
	stuck.expect()
	stuck.advance(2 * time.Second)
	stuck.expect("start m-00000.a2 on warm backup")
}

// A successor taking a job over reuses the map outputs that survived and
// runs the rest; counters count each map once.
func TestRecoveredMapOutputsAreReused(t *testing.T) {
	p := plan(3, 1)
	rec := ok(m(1, 2), 20)
	p.Recovered = []Recovered{{Task: TaskID{Kind: Map, Index: 1}, Attempt: 2, Node: "n2", Output: "m-00001.a2.out", Result: rec.Result}}
	s := newSim(t, p, "n2", "n3")
	s.step(Tick{})
	s.expect("start m-00000.a1 on n2", "start m-00002.a1 on n3")
	s.step(ok(m(0, 1), 10))
	s.step(ok(m(2, 1), 30))
	s.expect("start r-00000.a1 on n2")
	if in := s.acts[0].(Start).Inputs[1]; in.Node != "n2" || in.Output != "m-00001.a2.out" {
		t.Fatalf("reduce input of the recovered map: %+v", in)
	}
	// The recovered output's node dies before the reduce is done: the map
	// runs again, with a fresh attempt number.
	s.step(NodeDown{Node: "n2"})
	s.expect("cancel r-00000.a1", "start m-00000.a2 on n3", "start m-00001.a3 on n3")
	s.step(ok(m(0, 2), 10))
	s.step(ok(m(1, 3), 20))
	s.advance(time.Second)
	s.step(Succeeded{Attempt: r(0, 2), Result: &task.Result{}, Holders: []string{"n3"}})
	s.step(Committed{})
	if st := s.job.Status(); st.Counters["lines"] != 60 || st.Phase != "succeeded" {
		t.Fatalf("status %+v", st)
	}
}

// A successor reuses the reduce outputs an earlier coordinator saw
// succeed: only the other reduces run, the commit names the recovered
// output's holders, and its counters count once. A recovered output whose
// holder dies before the commit is redone.
func TestRecoveredReduceOutputsAreReused(t *testing.T) {
	recovered := func() Plan {
		p := plan(2, 2)
		p.Recovered = []Recovered{
			{Task: TaskID{Kind: Map, Index: 0}, Attempt: 1, Node: "n2", Output: "m-00000.a1.out", Result: ok(m(0, 1), 10).Result},
			{Task: TaskID{Kind: Map, Index: 1}, Attempt: 1, Node: "n2", Output: "m-00001.a1.out", Result: ok(m(1, 1), 20).Result},
			{Task: TaskID{Kind: Reduce, Index: 0}, Attempt: 3, Node: "n3", Holders: []string{"n3"},
				Result: &task.Result{Stats: task.Stats{RecordsOut: 4}, Counters: map[string]int64{"keys": 4}}},
			{Task: TaskID{Kind: Reduce, Index: 1}, Attempt: 1, Node: "n3", Result: &task.Result{}}, // a reduce without holders is not an output
		}
		return p
	}
	s := newSim(t, recovered(), "n2", "n3")
	s.step(Tick{})
	s.expect("start r-00001.a1 on n2")
	s.step(Succeeded{Attempt: r(1, 1), Result: &task.Result{Stats: task.Stats{RecordsOut: 6}, Counters: map[string]int64{"keys": 6}}, Holders: []string{"n2"}})
	s.expect("commit 2 outputs")
	if c := s.acts[0].(Commit); c.Outputs[0].Holders[0] != "n3" || c.Outputs[0].Stats.RecordsOut != 4 || c.Outputs[1].Holders[0] != "n2" {
		t.Fatalf("commit %+v", c)
	}
	if st := s.job.Status(); st.Counters["lines"] != 30 || st.Counters["keys"] != 10 || st.ReducesDone != 2 {
		t.Fatalf("status %+v", st)
	}

	lost := newSim(t, recovered(), "n2", "n3")
	lost.step(Tick{})
	lost.expect("start r-00001.a1 on n2")
	lost.step(NodeDown{Node: "n3"})
	lost.expect("start r-00000.a4 on n2")
	lost.step(Succeeded{Attempt: r(1, 1), Result: &task.Result{Counters: map[string]int64{"keys": 6}}, Holders: []string{"n2"}})
	lost.step(Succeeded{Attempt: r(0, 4), Result: &task.Result{Counters: map[string]int64{"keys": 4}}, Holders: []string{"n2"}})
	lost.expect("commit 2 outputs")
	if st := lost.job.Status(); st.Counters["keys"] != 10 {
		t.Fatalf("counters %v: the lost recovered reduce must count once", st.Counters)
	}
}

// A node whose attempt a backup beat is slow: later tasks go to faster
// nodes while they have free slots, even when the slow node is idler.
func TestBeatenNodeGetsTasksLast(t *testing.T) {
	s := newSim(t, plan(3, 2), "fast", "slow")
	s.step(Tick{})
	s.expect("start m-00000.a1 on fast", "start m-00001.a1 on slow", "start m-00002.a1 on fast")
	for i := range 3 {
		s.step(Progressed{Attempt: m(i, 1)})
	}
	s.now = s.now.Add(time.Second)
	s.step(ok(m(0, 1), 1))
	s.step(ok(m(2, 1), 1))
	s.advance(2100 * time.Millisecond) // m-00001 has run more than twice the median
	s.expect("start m-00001.a2 on fast backup")
	s.step(Progressed{Attempt: m(1, 2)})
	s.step(ok(m(1, 2), 1))
	s.expect("cancel m-00001.a1", "start r-00000.a1 on fast", "start r-00001.a1 on fast")
}

func c(level, i, n int) AttemptID { return AttemptID{TaskID{Kind: Combine, Index: i, Level: level}, n} }

// okc is ok for a map of a module with a combiner.
func okc(a AttemptID, lines int64) Succeeded {
	e := ok(a, lines)
	e.Result.Combiner = true
	return e
}

func inputNames(st Start) string {
	var names []string
	for _, in := range st.Inputs {
		names = append(names, in.Task.String())
	}
	return strings.Join(names, " ")
}

// The reduce tree: no task reads more than FanIn outputs, groups are
// consecutive (map order), a lone output at a level's end goes up as it
// is, and a combine starts as soon as its own group is committed.
func TestReduceTreeBoundsWhatEachTaskReads(t *testing.T) {
	p := plan(5, 1)
	p.FanIn = 2
	s := newSim(t, p, "n1")
	if st := s.job.Status(); st.Combines != 0 {
		t.Fatalf("a tree before any map said whether the module combines: %+v", st)
	}
	s.step(Tick{})
	s.expect("start m-00000.a1 on n1", "start m-00001.a1 on n1")
	s.step(okc(m(0, 1), 1))
	s.expect("start m-00002.a1 on n1")
	if st := s.job.Status(); st.Combines != 3 || len(st.Levels) != 2 || st.Levels[0].Tasks != 2 || st.Levels[1].Tasks != 1 || st.Levels[0].MaxInputs != 2 {
		t.Fatalf("tree: %+v", st)
	}
	s.step(okc(m(1, 1), 1))
	s.expect("start m-00003.a1 on n1") // maps come first
	s.step(okc(m(2, 1), 1))
	s.expect("start m-00004.a1 on n1")
	s.step(okc(m(3, 1), 1))
	s.expect("start c1-00000.a1 on n1") // its group is done; m-00004 still runs
	if got := inputNames(s.acts[0].(Start)); got != "m-00000 m-00001" {
		t.Fatalf("c1-00000 reads %s", got)
	}
	if st := s.job.Status(); st.Phase != "map" {
		t.Fatalf("phase %s while a map runs", st.Phase)
	}
	s.step(okc(m(4, 1), 1))
	s.expect("start c1-00001.a1 on n1")
	if got := inputNames(s.acts[0].(Start)); got != "m-00002 m-00003" {
		t.Fatalf("c1-00001 reads %s", got)
	}
	if st := s.job.Status(); st.Phase != "combine" {
		t.Fatalf("phase %s", st.Phase)
	}
	s.step(ok(c(1, 0, 1), 1))
	s.expect()
	s.step(ok(c(1, 1, 1), 1))
	s.expect("start c2-00000.a1 on n1")
	if got := inputNames(s.acts[0].(Start)); got != "c1-00000 c1-00001" {
		t.Fatalf("c2-00000 reads %s", got)
	}
	s.step(ok(c(2, 0, 1), 1))
	s.expect("start r-00000.a1 on n1")
	if got := inputNames(s.acts[0].(Start)); got != "c2-00000 m-00004" {
		t.Fatalf("the reduce reads %s", got)
	}
	s.step(Succeeded{Attempt: r(0, 1), Result: &task.Result{Stats: task.Stats{BytesIn: 20}}, Holders: []string{"n1"}})
	s.expect("commit 1 outputs")
	st := s.job.Status()
	if st.CombinesDone != 3 || st.Counters["lines"] != 8 || st.Committed.RecordsIn != 5 || st.Committed.ReduceBytesIn != 20 || st.Committed.ShuffleBytes != 50 {
		t.Fatalf("status: %+v", st)
	}
	// Without a fan-in, with few enough maps, or for a module without a
	// combiner there is no tree.
	for _, tc := range []struct {
		fanIn    int
		combiner bool
	}{{0, true}, {1, true}, {5, true}, {2, false}} {
		p.FanIn = tc.fanIn
		s := newSim(t, p, "n1")
		s.step(Tick{})
		e := ok(m(0, 1), 1)
		e.Result.Combiner = tc.combiner
		s.step(e)
		if st := s.job.Status(); st.Combines != 0 || st.Reduces != 1 {
			t.Errorf("%+v: %d combines, %d reduces", tc, st.Combines, st.Reduces)
		}
	}
}

// A node lost while the tree runs: the combine outputs it held run again,
// with the map outputs they read that were lost with it; outputs whose
// readers have all committed are not run again.
func TestReduceTreeReRunsWhatANodeLossTook(t *testing.T) {
	p := plan(4, 1)
	p.FanIn = 2
	p.Policy.NoBackups = true
	s := newSim(t, p, "a", "b")
	s.step(Tick{})
	s.expect("start m-00000.a1 on a", "start m-00001.a1 on b", "start m-00002.a1 on a", "start m-00003.a1 on b")
	s.step(okc(m(0, 1), 1))
	s.step(okc(m(1, 1), 1))
	s.expect("start c1-00000.a1 on a") // a holds m-00000; b's tie goes by name
	s.step(okc(m(2, 1), 1))
	s.step(okc(m(3, 1), 1))
	s.expect("start c1-00001.a1 on b") // a tie of inputs; b is less busy
	s.step(ok(c(1, 0, 1), 1))
	// b dies: m-00001 and m-00003 are lost, and c1-00001 running there.
	// c1-00000 has what it needed from m-00001; c1-00001 needs m-00003.
	s.step(NodeDown{Node: "b"})
	s.expect("cancel c1-00001.a1", "start m-00003.a2 on a")
	if st := s.job.Status(); st.MapsDone != 3 || st.CombinesDone != 1 {
		t.Fatalf("after b left: %+v", st)
	}
	s.step(okc(m(3, 2), 1))
	s.expect("start c1-00001.a2 on a")
	s.step(ok(c(1, 1, 2), 1))
	s.expect("start r-00000.a1 on a")
	// Now a holds both combine outputs; it dies too, and b comes back:
	// both combines run again, and with them the three maps whose outputs
	// were on a. m-00001's output is taken as still on b (if b lost it,
	// the combine's fetch fails and it runs again, as above).
	s.step(NodeUp{Node: "b", Slots: 2})
	s.step(NodeDown{Node: "a"})
	s.expect("cancel r-00000.a1", "start m-00000.a2 on b", "start m-00002.a2 on b")
	st := s.job.Status()
	if st.MapsDone != 1 || st.CombinesDone != 0 {
		t.Fatalf("after a left: %d maps and %d combines done, want 1 and 0", st.MapsDone, st.CombinesDone)
	}
	s.step(okc(m(0, 2), 1))
	s.expect("start m-00003.a3 on b")
	s.step(okc(m(2, 2), 1))
	s.expect("start c1-00000.a2 on b")
}

// On a cluster the maps are grouped by their input's first holder: each
// node's maps are combined among themselves down to one output, so a
// reduce reads one output per node (the node-level combine), and only
// then are nodes combined with each other.
func TestReduceTreeCombinesEachNodesMapsFirst(t *testing.T) {
	p := Plan{Reduces: 1, FanIn: 2, Policy: Policy{NoBackups: true}}
	homes := []string{"a", "b", "a", "b", "a", "b", "c"}
	for i, h := range homes {
		p.Maps = append(p.Maps, MapInput{Name: fmt.Sprint("shard ", i), Nodes: []string{h, "z"}})
	}
	s := newSim(t, p, "a", "b", "c", "z")
	inputsOf := map[string]string{}
	step := func(ev Event) {
		for _, a := range s.step(ev) {
			if start, ok := a.(Start); ok {
				inputsOf[start.Attempt.Task.String()] = inputNames(start)
			}
		}
	}
	step(Tick{})
	for i := range homes {
		step(okc(m(i, 1), 1))
	}
	// a: m0 m2 -> c1, then with m4 -> c2; b: m1 m3 -> c1, with m5 -> c2;
	// c: m6 alone. The reduce would read a's, b's and c's: 3 > 2, so one
	// more level.
	if st := s.job.Status(); st.Combines != 5 || len(st.Levels) != 3 {
		t.Fatalf("tree %+v (%d combines)", st.Levels, st.Combines)
	}
	step(ok(c(1, 0, 1), 1))
	step(ok(c(1, 1, 1), 1))
	step(ok(c(2, 0, 1), 1))
	step(ok(c(2, 1, 1), 1))
	step(ok(c(3, 0, 1), 1))
	for id, want := range map[string]string{
		"c1-00000": "m-00000 m-00002", "c1-00001": "m-00001 m-00003",
		"c2-00000": "c1-00000 m-00004", "c2-00001": "c1-00001 m-00005",
		"c3-00000": "c2-00000 c2-00001", "r-00000": "c3-00000 m-00006",
	} {
		if inputsOf[id] != want {
			t.Errorf("%s reads %q, want %q", id, inputsOf[id], want)
		}
	}
}
