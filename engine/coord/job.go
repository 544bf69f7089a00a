package coord

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wmr-dev/wmr/engine/task"
)

// Job is one job's state machine. Create it with New, feed it events with
// Step and carry out the actions it returns. It is not safe for concurrent
// use (Driver serialises it).
type Job struct {
	pol      Policy
	nodes    map[string]*node
	tasks    []*taskState // maps, then combines level by level, then reduces
	byID     map[TaskID]*taskState
	maps     int
	combines int
	// fanIn is Plan.FanIn until the first committed map says whether the
	// module combines (task.Result.Combiner); then the tree is built, or
	// not, and fanIn is 0.
	fanIn    int
	attempts map[AttemptID]*attempt
	started  int
	backedUp int // backup attempts started
	skipped  []Record
	commit   bool // Commit was asked for
	finished bool
	err      error
}

type node struct {
	name        string
	slots, busy int
	up          bool
	// beaten counts this node's attempts that a backup elsewhere beat:
	// a slow node gets new tasks only when faster ones have no free slot.
	beaten int
}

type taskState struct {
	id    TaskID
	input string
	nodes []string // where it may run; nil: anywhere
	// inputs are the tasks whose outputs a combine or reduce reads, in map
	// order; consumers the combines or reduces that read this task's.
	inputs, consumers []*taskState
	next              int // the next attempt's number
	// charged counts failures that were the task's fault; uncharged the
	// attempts lost without its fault.
	charged, uncharged int
	errs               []string // charged failures' messages, in order
	lastErr            error
	lastLost           error
	notBefore          time.Time
	running            []*attempt
	done               *attempt // the committed attempt
	backedUp           bool     // a backup was started (one per task)
	avoid              map[string]bool
	skip               []Record
	history            []*attempt
	dropped            int // attempts no longer in history
}

type attempt struct {
	id      AttemptID
	node    string
	backup  bool
	start   time.Time
	running time.Time // its first progress report; zero before
	end     time.Time
	open    bool // still counted as running by the core
	stats   task.Stats
	result  *task.Result
	output  string
	holders []string
	outcome string
}

// New makes a job from its plan. Nothing starts before the first Step
// (a Tick will do).
func New(plan Plan) *Job {
	j := &Job{pol: plan.Policy.withDefaults(), nodes: map[string]*node{}, attempts: map[AttemptID]*attempt{}, maps: len(plan.Maps),
		byID: map[TaskID]*taskState{}}
	for _, n := range plan.Nodes {
		j.nodes[n.Node] = &node{name: n.Node, slots: max(n.Slots, 1), up: true}
	}
	for i, m := range plan.Maps {
		j.add(&taskState{id: TaskID{Kind: Map, Index: i}, input: m.Name, nodes: m.Nodes}, nil)
	}
	maps := j.tasks[:j.maps:j.maps]
	for p := 0; p < plan.Reduces; p++ {
		j.add(&taskState{id: TaskID{Kind: Reduce, Index: p}, input: fmt.Sprintf("partition %d", p)}, maps)
	}
	if plan.FanIn >= 2 && j.maps > plan.FanIn {
		j.fanIn = plan.FanIn
	}
	for _, r := range plan.Recovered {
		t := j.task(r.Task)
		if t == nil || t.done != nil || r.Result == nil || r.Task.Kind == Reduce && len(r.Holders) == 0 {
			continue
		}
		a := &attempt{id: AttemptID{r.Task, r.Attempt}, node: r.Node, result: r.Result, output: r.Output, holders: slices.Clone(r.Holders),
			stats: r.Result.Stats, outcome: "succeeded (recovered from node " + r.Node + ")"}
		t.done, t.next = a, max(t.next, r.Attempt+1)
		t.history = append(t.history, a)
		j.attempts[a.id] = a
		if r.Task.Kind == Map {
			j.decideTree(r.Result)
		}
	}
	return j
}

func (j *Job) add(t *taskState, inputs []*taskState) {
	t.next, t.inputs = 1, inputs
	for _, in := range inputs {
		in.consumers = append(in.consumers, t)
	}
	j.tasks = append(j.tasks, t)
	j.byID[t.id] = t
}

// decideTree builds the reduce tree (Plan.FanIn) once a committed map
// says the module combines; a module without a combiner gets none (its
// reduces bound their merges themselves: task.Spec.MergeFanIn). Only the
// first committed map decides, so no combine or reduce has started yet:
// the tree exists only with more maps than the fan-in.
//
// The maps whose input has the same first holder (the plan's, so the
// same on every run of the job over the same data; on one machine, all
// maps) are combined among themselves, consecutive maps k at a time, level
// after level, until that node's maps have one output: the node-level
// combine, so a reduce reads one output per node. Those are then
// combined k at a time, consecutive nodes in name order, until at most k
// remain. On one machine the tree stops as soon as at most k remain.
func (j *Job) decideTree(res *task.Result) {
	k := j.fanIn
	if k == 0 || res == nil {
		return
	}
	j.fanIn = 0
	if !res.Combiner {
		return
	}
	reduces := slices.Clone(j.tasks[j.maps:])
	j.tasks = j.tasks[:j.maps]
	byHome := map[string][]*taskState{}
	for _, m := range j.tasks {
		m.consumers = nil
		home := ""
		if len(m.nodes) > 0 {
			home = m.nodes[0]
		}
		byHome[home] = append(byHome[home], m)
	}
	homes := slices.Sorted(maps.Keys(byHome))
	indices := map[int]int{} // the next combine task's index, per level
	up := func(level int, outs []*taskState) []*taskState {
		var next []*taskState
		for g := 0; g*k < len(outs); g++ {
			group := outs[g*k : min((g+1)*k, len(outs))]
			if len(group) == 1 { // nothing to combine it with: it goes up as it is
				next = append(next, group[0])
				continue
			}
			t := &taskState{id: TaskID{Kind: Combine, Index: indices[level], Level: level},
				input: fmt.Sprintf("%d outputs, %s to %s", len(group), group[0].id, group[len(group)-1].id)}
			indices[level]++
			j.add(t, group)
			next = append(next, t)
			j.combines++
		}
		return next
	}
	var top []*taskState // what the reduces read
	level := 1
	for _, h := range homes {
		outs := byHome[h]
		l := 1
		for ; len(outs) > k || len(homes) > 1 && len(outs) > 1; l++ {
			outs = up(l, outs)
		}
		level = max(level, l)
		top = append(top, outs...)
	}
	for ; len(top) > k; level++ {
		top = up(level, top)
	}
	for _, r := range reduces {
		r.inputs = nil
		j.tasks = append(j.tasks, r)
		for _, in := range top {
			r.inputs = append(r.inputs, in)
			in.consumers = append(in.consumers, r)
		}
	}
	// The tasks in level order, so that status and scheduling walk the
	// tree bottom up (the per-node subtrees were built one after another).
	combines := j.tasks[j.maps : j.maps+j.combines]
	slices.SortStableFunc(combines, func(a, b *taskState) int { return a.id.Level - b.id.Level })
}

// Finished reports whether the job is over, and how it ended.
func (j *Job) Finished() (bool, error) { return j.finished, j.err }

// Policy returns the job's policy with defaults applied.
func (j *Job) Policy() Policy { return j.pol }

func (j *Job) task(id TaskID) *taskState { return j.byID[id] }

// what names a task for people: "map task m-00000 (years.txt[0:15])".
func (t *taskState) what() string {
	return fmt.Sprintf("%s task %s (%s)", t.id.Kind, t.id, t.input)
}

// Step applies one event at time now and returns what to do next.
func (j *Job) Step(now time.Time, ev Event) []Action {
	if j.finished {
		return nil
	}
	var acts []Action
	switch e := ev.(type) {
	case NodeUp:
		n := j.nodes[e.Node]
		if n == nil {
			n = &node{name: e.Node}
			j.nodes[e.Node] = n
		}
		n.up, n.slots = true, max(e.Slots, 1)
	case NodeDown:
		acts = j.nodeDown(now, e.Node)
	case Succeeded:
		acts = j.succeeded(now, e)
	case Failed:
		acts = j.failed(now, e)
	case Progressed:
		if a := j.attempts[e.Attempt]; a != nil && a.open {
			a.stats = e.Stats
			if a.running.IsZero() {
				a.running = now
			}
		}
	case Tick:
	case Committed:
		if e.Err != nil {
			return j.finish(fmt.Errorf("the output was not published: %w", e.Err))
		}
		return j.finish(nil)
	case Abort:
		return j.finish(e.Err)
	}
	if j.finished {
		return acts
	}
	return append(acts, j.schedule(now)...)
}

func (j *Job) finish(err error) []Action {
	j.finished, j.err = true, err
	var acts []Action
	for _, t := range j.tasks {
		for _, a := range t.running {
			acts = append(acts, j.closeAttempt(a, time.Time{}, "cancelled: the job ended"))
		}
	}
	return append(acts, Finish{Err: err})
}

// closeAttempt ends a's life as a running attempt and returns the Cancel
// that stops it where it runs.
func (j *Job) closeAttempt(a *attempt, now time.Time, outcome string) Action {
	j.release(a, now, outcome)
	return Cancel{Attempt: a.id, Reason: outcome}
}

// release frees a's slot and takes it off its task's running list.
func (j *Job) release(a *attempt, now time.Time, outcome string) {
	if !a.open {
		return
	}
	a.open, a.outcome = false, outcome
	if !now.IsZero() {
		a.end = now
	}
	if n := j.nodes[a.node]; n != nil && n.busy > 0 {
		n.busy--
	}
	t := j.task(a.id.Task)
	t.running = slices.DeleteFunc(t.running, func(x *attempt) bool { return x == a })
}

func (j *Job) nodeDown(now time.Time, name string) []Action {
	n := j.nodes[name]
	if n == nil {
		n = &node{name: name}
		j.nodes[name] = n
	}
	n.up, n.busy = false, 0
	var acts []Action
	allReduced := j.allDone(Reduce)
	// Consumers before the tasks they read: a lost combine output makes
	// its inputs needed again, so those lost with it run again too.
	for _, t := range slices.Backward(j.tasks) {
		for _, a := range slices.Clone(t.running) {
			if a.node != name {
				continue
			}
			acts = append(acts, j.closeAttempt(a, now, "lost: node "+name+" left the cluster"))
			j.uncharge(t, now, fmt.Errorf("node %s left the cluster during the task", name), false)
			t.avoid = addAvoid(t.avoid, name)
		}
		if t.done == nil || allReduced || j.commit {
			continue
		}
		// Committed work that lived on the node is gone, unless the job no
		// longer needs it: map and combine outputs once every task that
		// reads them has, reduce outputs never before the commit.
		lost := t.done.node == name && j.needed(t)
		if t.id.Kind == Reduce {
			lost = slices.Contains(t.done.holders, name)
		}
		if lost {
			j.undo(t, now, "output lost: node "+name+" left the cluster")
		}
	}
	return acts
}

// needed reports whether a task that reads t's output has yet to commit.
func (j *Job) needed(t *taskState) bool {
	return slices.ContainsFunc(t.consumers, func(c *taskState) bool { return c.done == nil })
}

// undo takes back t's committed attempt: its output is gone, so the task
// runs again and its counts no longer count. Its inputs held by nodes that
// are gone are needed again, so they run again too.
func (j *Job) undo(t *taskState, now time.Time, outcome string) {
	t.done.outcome = outcome
	t.done = nil
	t.notBefore = now
	// Bounded like any loss without the task's fault (see schedule).
	t.uncharged++
	t.lastLost = errors.New(outcome)
	for _, in := range t.inputs {
		if d := in.done; d != nil {
			if n := j.nodes[d.node]; n != nil && !n.up {
				j.undo(in, now, "output lost: node "+d.node+" left the cluster")
			}
		}
	}
}

func addAvoid(m map[string]bool, name string) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	m[name] = true
	return m
}

func (j *Job) succeeded(now time.Time, e Succeeded) []Action {
	a := j.attempts[e.Attempt]
	if a == nil || !a.open {
		return nil // cancelled or lost before it reported: not trusted
	}
	t := j.task(a.id.Task)
	if e.Result != nil {
		a.stats = e.Result.Stats
	}
	a.result, a.output, a.holders = e.Result, e.Output, e.Holders
	if t.id.Kind == Reduce {
		for _, h := range e.Holders {
			if n := j.nodes[h]; n == nil || !n.up {
				j.release(a, now, "output lost: replica holder "+h+" is not alive")
				j.uncharge(t, now, fmt.Errorf("its output replica holder %s is not alive", h), false)
				return nil
			}
		}
	}
	j.release(a, now, "succeeded")
	t.done = a
	if t.id.Kind == Map {
		j.decideTree(a.result)
	}
	var acts []Action
	for _, other := range slices.Clone(t.running) {
		if n := j.nodes[other.node]; a.backup && n != nil {
			n.beaten++
		}
		acts = append(acts, j.closeAttempt(other, now, "cancelled: attempt "+strings.TrimPrefix(a.id.String(), t.id.String()+".")+" won"))
	}
	return acts
}

func (j *Job) failed(now time.Time, e Failed) []Action {
	a := j.attempts[e.Attempt]
	if a == nil || !a.open {
		return nil
	}
	t := j.task(a.id.Task)
	err := e.Err
	if err == nil {
		err = errors.New("unknown failure")
	}
	switch e.Class {
	case Invalid:
		j.release(a, now, "failed: "+err.Error())
		return j.finish(failure(err, ErrTaskFailed, "%s: %v", t.what(), err))
	case Lost:
		j.release(a, now, "lost: "+err.Error())
		j.uncharge(t, now, err, true)
		t.avoid = addAvoid(t.avoid, a.node)
	case FetchFailed:
		j.release(a, now, "lost: "+err.Error())
		j.uncharge(t, now, err, true)
		for _, m := range e.LostMaps {
			if mt := j.task(m); mt != nil && mt.id.Kind != Reduce && mt.done != nil && slices.Contains(t.inputs, mt) {
				mt.avoid = addAvoid(mt.avoid, mt.done.node)
				j.undo(mt, now, "output lost: "+t.id.String()+" could not fetch it")
			}
		}
	default: // ModuleFault, LocalFault
		if e.Class == ModuleFault && e.Record != nil && t.id.Kind == Map && len(j.skipped) < j.pol.SkipBadRecords {
			r := *e.Record
			r.Task = t.id
			t.skip = append(t.skip, r)
			j.skipped = append(j.skipped, r)
			j.release(a, now, "failed: "+err.Error()+" (the record is skipped from now on)")
			t.notBefore = now
			break
		}
		j.release(a, now, "failed: "+err.Error())
		if e.Class == LocalFault {
			t.avoid = addAvoid(t.avoid, a.node)
		}
		t.charged++
		t.errs = append(t.errs, err.Error())
		t.lastErr = err
		if t.charged >= j.pol.MaxAttempts && len(t.running) == 0 {
			return j.finish(j.exhausted(t))
		}
		t.notBefore = now.Add(j.backoff(t.charged))
	}
	return nil
}

// exhausted is the error of a task that used up its attempts.
func (j *Job) exhausted(t *taskState) error {
	n := t.charged
	for _, e := range t.errs {
		if e != t.errs[0] {
			return failure(t.lastErr, ErrTaskFailed, "%s failed %d attempts; the last: %v", t.what(), n, t.lastErr)
		}
	}
	return failure(t.lastErr, ErrTaskFailed, "%s failed on all %d attempts: %v", t.what(), n, t.lastErr)
}

// uncharge records an attempt lost without the task's fault; backoff says
// to wait before the retry (the node may still be there, failing fast).
func (j *Job) uncharge(t *taskState, now time.Time, err error, backoff bool) {
	t.uncharged++
	t.lastLost = err
	t.notBefore = now
	if backoff {
		t.notBefore = now.Add(j.backoff(t.uncharged))
	}
}

func (j *Job) backoff(failures int) time.Duration {
	d := j.pol.RetryBackoff
	for i := 1; i < failures && d < j.pol.RetryBackoffMax; i++ {
		d *= 2
	}
	return min(d, j.pol.RetryBackoffMax)
}

func (j *Job) allDone(k Kind) bool {
	for _, t := range j.tasks {
		if t.id.Kind == k && t.done == nil {
			return false
		}
	}
	return true
}

// ready reports whether every output t reads is committed.
func (t *taskState) ready() bool {
	return !slices.ContainsFunc(t.inputs, func(in *taskState) bool { return in.done == nil })
}

// schedule places what can run now: maps first, then the combines and
// reduces whose inputs are all committed (a combine need not wait for
// maps outside its group, so the tree's lower levels run while the last
// maps do).
func (j *Job) schedule(now time.Time) []Action {
	var acts []Action
	pending := map[Kind]bool{}
	// Every reduce reads the same outputs (all maps, or the tree's top):
	// check them once per step, not once per reduce (maps x reduces).
	reducesReady := false
	if r := j.tasks[len(j.tasks)-1]; r.id.Kind == Reduce {
		reducesReady = r.ready()
	}
	for _, t := range j.tasks {
		if t.done != nil || len(t.running) > 0 {
			continue
		}
		if t.id.Kind == Reduce && !reducesReady || t.id.Kind == Combine && (!t.ready() || !j.needed(t)) {
			continue
		}
		pending[t.id.Kind] = true
		if t.uncharged > j.pol.MaxUncharged {
			return append(acts, j.finish(failure(t.lastLost, ErrTaskFailed, "%s could not run: %d attempts were lost without its fault, the last because %v",
				t.what(), t.uncharged, t.lastLost))...)
		}
		if now.Before(t.notBefore) {
			continue
		}
		n, ok := j.place(t, "")
		if !ok {
			if !j.anyUp(t) {
				return append(acts, j.finish(j.noNode(t))...)
			}
			continue
		}
		acts = append(acts, j.start(now, t, n, false))
	}
	if j.allDone(Reduce) && !j.commit {
		j.commit = true
		return append(acts, j.commitAction())
	}
	if !j.pol.NoBackups {
		for _, k := range []Kind{Map, Combine, Reduce} {
			if !pending[k] {
				acts = append(acts, j.backups(now, k)...)
			}
		}
	}
	return acts
}

func (j *Job) noNode(t *taskState) error {
	if len(t.nodes) == 0 {
		return failure(nil, ErrNoNode, "%s cannot run: no node is alive", t.what())
	}
	return failure(nil, ErrNoNode, "%s cannot run: none of the nodes holding its input (%s) is alive", t.what(), strings.Join(t.nodes, ", "))
}

// inputsOn counts the outputs a combine reads that are on node n.
func (t *taskState) inputsOn(n string) int {
	if t.id.Kind != Combine {
		return 0
	}
	c := 0
	for _, in := range t.inputs {
		if in.done != nil && in.done.node == n {
			c++
		}
	}
	return c
}

// eligible reports whether t may run on n.
func (t *taskState) eligible(n *node) bool {
	return n.up && (len(t.nodes) == 0 || slices.Contains(t.nodes, n.name))
}

func (j *Job) anyUp(t *taskState) bool {
	for _, n := range j.nodes {
		if t.eligible(n) {
			return true
		}
	}
	return false
}

// place picks a node for t with a free slot: one it may run on, other than
// except, preferring nodes it has not failed on, then nodes whose attempts
// backups beat least often (a slow node), then (combines) the node holding
// most of its inputs, then the least busy, then (maps) its input's first
// holder, then by name (deterministic).
func (j *Job) place(t *taskState, except string) (string, bool) {
	var best *node
	better := func(a, b *node) bool {
		if t.avoid[a.name] != t.avoid[b.name] {
			return !t.avoid[a.name]
		}
		if a.beaten != b.beaten {
			return a.beaten < b.beaten
		}
		// A combine runs where most of what it reads already is (the
		// node-level combine: no network for those).
		if la, lb := t.inputsOn(a.name), t.inputsOn(b.name); la != lb {
			return la > lb
		}
		if a.busy != b.busy {
			return a.busy < b.busy
		}
		// A map's first holder is where the reduce tree combines it.
		if len(t.nodes) > 0 && (a.name == t.nodes[0]) != (b.name == t.nodes[0]) {
			return a.name == t.nodes[0]
		}
		return a.name < b.name
	}
	for _, n := range j.nodes {
		if n.name == except || !t.eligible(n) || n.busy >= n.slots {
			continue
		}
		if best == nil || better(n, best) {
			best = n
		}
	}
	if best == nil {
		return "", false
	}
	return best.name, true
}

func (j *Job) start(now time.Time, t *taskState, nodeName string, backup bool) Action {
	a := &attempt{id: AttemptID{t.id, t.next}, node: nodeName, backup: backup, start: now, open: true, outcome: "running"}
	t.next++
	j.started++
	if backup {
		t.backedUp = true
		j.backedUp++
	}
	j.nodes[nodeName].busy++
	j.attempts[a.id] = a
	t.running = append(t.running, a)
	t.history = append(t.history, a)
	if len(t.history) > j.pol.History {
		drop := len(t.history) - j.pol.History
		for _, old := range t.history[:drop] {
			if !old.open && old != t.done {
				delete(j.attempts, old.id)
			}
		}
		t.history = slices.Clone(t.history[drop:])
		t.dropped += drop
	}
	st := Start{Attempt: a.id, Node: nodeName, Backup: backup, Skip: slices.Clone(t.skip)}
	for _, in := range t.inputs {
		d := in.done
		st.Inputs = append(st.Inputs, MapOutput{Task: in.id, Node: d.node, Output: d.output, Index: d.result.Index})
	}
	return st
}

// backups starts a second attempt of each straggler of phase k: a task
// with one attempt running for longer than Policy.BackupMinAge and than
// Policy.BackupSlowdown times the median of the phase's committed tasks
// (or not yet running after Policy.BackupSetupAge), on another node with a
// free slot. The first to finish wins.
func (j *Job) backups(now time.Time, k Kind) []Action {
	var took []time.Duration
	for _, t := range j.tasks {
		if t.id.Kind == k && t.done != nil {
			took = append(took, t.done.end.Sub(t.done.start))
		}
	}
	if len(took) == 0 {
		return nil
	}
	sort.Slice(took, func(a, b int) bool { return took[a] < took[b] })
	median := took[len(took)/2]
	threshold := max(j.pol.BackupMinAge, time.Duration(float64(median)*j.pol.BackupSlowdown))
	var acts []Action
	for _, t := range j.tasks {
		if t.id.Kind != k || t.done != nil || len(t.running) != 1 || t.backedUp {
			continue
		}
		a := t.running[0]
		if a.running.IsZero() && now.Sub(a.start) <= max(threshold, j.pol.BackupSetupAge) ||
			!a.running.IsZero() && now.Sub(a.running) <= threshold {
			continue
		}
		if n, ok := j.place(t, a.node); ok {
			acts = append(acts, j.start(now, t, n, true))
		}
	}
	return acts
}

func (j *Job) commitAction() Action {
	c := Commit{}
	for _, t := range j.tasks[j.maps+j.combines:] {
		d := t.done
		c.Outputs = append(c.Outputs, ReduceOutput{Partition: t.id.Index, Node: d.node, Output: d.output, Holders: d.holders, Stats: d.stats})
	}
	return c
}
