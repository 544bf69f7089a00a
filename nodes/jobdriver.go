package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wmr-dev/wmr/engine"
	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/task"
)

// coordinate runs j to its end, then drops its intermediate files on
// every node.
func (n *Node) coordinate(j *job) {
	err := j.driver.Run(n.ctx)
	if n.ctx.Err() != nil {
		// This node is shutting down: the job is not over, a successor
		// takes it over when this node has left.
		j.mu.Lock()
		j.status.State, j.status.Error = "running", "its coordinator "+n.name+" shut down; a successor takes it over"
		j.mu.Unlock()
		close(j.done)
		return
	}
	if errors.Is(err, errSuperseded) {
		// A successor took the job over while this node was cut off: its
		// record, files and output are the successor's, so this run
		// writes no final status and removes nothing.
		j.mu.Lock()
		j.status.State, j.status.Error = "running", "its coordinator "+n.name+" lost it to a successor: "+err.Error()
		j.mu.Unlock()
		close(j.done)
		n.jobsMu.Lock()
		if n.jobs[j.status.ID] == j {
			delete(n.jobs, j.status.ID)
		}
		n.jobsMu.Unlock()
		n.log.Warn("stopped coordinating a job a successor took over", "job", j.status.ID, "err", err)
		return
	}
	j.mu.Lock()
	j.status.Finished = time.Now()
	if errors.Is(err, errCancelled) {
		j.status.State, j.status.Error = "cancelled", err.Error()
	} else if err != nil {
		j.status.State, j.status.Error = "failed", err.Error()
	} else {
		j.status.State = "succeeded"
	}
	j.mu.Unlock()
	close(j.done)
	final := j.snapshot()
	all := j.jobLogs("")
	n.record(n.ctx, j.updateRecord(func(r *jobRecord) {
		r.Final = &final
		r.Logs, r.LogsDropped = all.Logs, all.Dropped
	}))
	for _, m := range n.alive() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(n.ctx), 10*time.Second)
		r, _ := http.NewRequestWithContext(ctx, http.MethodDelete, n.peerURL(m, "/v1/internal/jobs/"+j.status.ID+"?epoch="+strconv.Itoa(j.rec.Epoch)), nil)
		if r != nil {
			n.do(r, nil)
		}
		cancel()
	}
	if err != nil {
		n.log.Warn("job failed", "job", j.status.ID, "err", err)
	} else {
		n.log.Info("job succeeded", "job", j.status.ID)
	}
}

// membershipChanged tells every running job that a member came or went,
// and takes over the jobs of a coordinator that left where this node is
// the successor.
func (n *Node) membershipChanged(ev coord.Event) {
	// Before the node is ready (memberlist reports members while it
	// starts), Start adopts orphans itself.
	if n.ready.Load() && !n.shuttingDown() {
		go n.adoptOrphans()
		if up, ok := ev.(coord.NodeUp); ok && up.Node != n.name {
			go func() {
				if m, ok := n.aliveMember(up.Node); ok {
					n.shareRecords(n.ctx, m)
				}
			}()
		}
	}
	n.jobsMu.Lock()
	defer n.jobsMu.Unlock()
	for _, j := range n.jobs {
		if j.running() {
			j.driver.Send(ev)
		}
	}
}

// clusterJob carries out the job core's actions on the cluster: attempts
// are calls to the nodes' task API, the commit publishes the manifest.
type clusterJob struct {
	n   *Node
	j   *job
	in  *Manifest
	req JobRequest
	// ready holds the nodes that have the module (see prepare).
	ready sync.Map
}

var _ coord.Executor = (*clusterJob)(nil)

func (x *clusterJob) plan() coord.Plan {
	p := coord.Plan{Reduces: x.req.Reducers, Policy: coord.Policy{MaxAttempts: x.req.Attempts,
		SkipBadRecords: x.req.SkipBadRecords, NoBackups: x.req.NoBackups}, FanIn: engine.TreeFanIn(x.req.FanIn)}
	for _, sh := range x.in.Shards {
		p.Maps = append(p.Maps, coord.MapInput{Name: fmt.Sprintf("shard %s of %s, from %s", sh.ID, x.req.Input, sh.File), Nodes: sh.Holders})
	}
	for _, m := range x.n.alive() {
		p.Nodes = append(p.Nodes, coord.NodeUp{Node: m.Name, Slots: x.n.cfg.SlotsPerNode})
	}
	return p
}

// prepare gets the module ready on node before its first attempt there:
// fetching and compiling it takes seconds, which must not count as the
// attempt's running time (backups judge that from the first progress).
func (x *clusterJob) prepare(ctx context.Context, node Member) (coord.Class, error) {
	if _, ok := x.ready.Load(node.Name); ok {
		return 0, nil
	}
	b, _ := json.Marshal(prepareRequest{ModuleName: x.req.ModuleName, Coordinator: x.n.httpAddr, Tenant: x.j.tenant})
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, x.n.peerURL(node, "/v1/internal/modules/"+x.req.ModuleHash+"/prepare"), bytes.NewReader(b))
	if err == nil {
		err = x.n.do(r, nil)
	}
	var answered *peerError
	switch {
	case errors.As(err, &answered):
		return coord.LocalFault, fmt.Errorf("node %s could not get the module ready: %w", node.Name, err)
	case err != nil:
		return coord.Lost, fmt.Errorf("node %s: %w", node.Name, err)
	}
	x.ready.Store(node.Name, true)
	return 0, nil
}

// prepareAll gets the module ready on every live node at once, for at
// most prepareTimeout (failures are left for the attempts to meet: they
// prepare again, and one stuck there gets a backup; see coord.Policy).
func (x *clusterJob) prepareAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range x.n.alive() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := x.prepare(ctx, m); err != nil {
				x.n.log.Warn("could not get the module ready", "node", m.Name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// prepareTimeout bounds getting a module ready on every node at submit:
// a cold compile of a large Go module takes seconds, a hung node forever.
const prepareTimeout = time.Minute

// Run makes one attempt: a call to the node's task API.
func (x *clusterJob) Run(ctx context.Context, st coord.Start, progress func(task.Stats)) coord.Event {
	id := st.Attempt.Task
	node, ok := x.n.aliveMember(st.Node)
	if !ok {
		return coord.Failed{Attempt: st.Attempt, Class: coord.Lost, Err: fmt.Errorf("node %s is not alive", st.Node)}
	}
	if class, err := x.prepare(ctx, node); err != nil {
		return coord.Failed{Attempt: st.Attempt, Class: class, Err: err}
	}
	progress(task.Stats{}) // running now
	treq := &taskRequest{JobID: x.j.status.ID, TaskID: id.String(), Kind: id.Kind.String(), Attempt: st.Attempt.N,
		ModuleHash: x.req.ModuleHash, ModuleName: x.req.ModuleName, Coordinator: x.n.httpAddr, Params: x.req.Params,
		Partitions: x.req.Reducers, Tenant: x.j.tenant, TaskMemory: x.req.TaskMemory, TaskTime: x.req.TaskTime}
	if id.Kind == coord.Map {
		sh := x.in.Shards[id.Index]
		treq.Dataset, treq.Shard, treq.InputName = x.j.inKey, sh.ID, sh.File
		treq.Base = shardBase(x.in, id.Index)
		for _, off := range engine.SkipOffsets(st.Skip) { // records are named by file offsets
			treq.Skip = append(treq.Skip, off-treq.Base)
		}
		treq.Partitioner, treq.Bounds = x.req.Partitioner, x.req.Bounds
		treq.InputFormat = sh.Format
	} else if id.Kind == coord.Combine {
		// Every partition of each input, input after input (see
		// task.KindCombine); the node reads those it holds in place.
		for _, in := range st.Inputs {
			m, ok := x.n.aliveMember(in.Node)
			if !ok {
				return coord.Failed{Attempt: st.Attempt, Class: coord.FetchFailed, LostMaps: []coord.TaskID{in.Task},
					Err: fmt.Errorf("the output of task %s is on node %s, which is not alive", in.Task, in.Node)}
			}
			for p := range x.req.Reducers {
				off, length := in.Index.Segment(p)
				treq.Inputs = append(treq.Inputs, mapOutput{Task: in.Task.String(), Node: in.Node, HTTP: m.HTTP, File: in.Output, Offset: off, Length: length,
					Sums: in.Index.Checksums(p)})
			}
		}
		treq.Partitioner, treq.Bounds = x.req.Partitioner, x.req.Bounds
	} else {
		treq.Partition, treq.Output, treq.Replicas = id.Index, x.j.outKey, x.req.Replicas
		treq.OutputFormat = x.req.OutputFormat
		for _, in := range st.Inputs {
			m, ok := x.n.aliveMember(in.Node)
			if !ok {
				return coord.Failed{Attempt: st.Attempt, Class: coord.FetchFailed, LostMaps: []coord.TaskID{in.Task},
					Err: fmt.Errorf("the output of map task %s is on node %s, which is not alive", in.Task, in.Node)}
			}
			off, length := in.Index.Segment(id.Index)
			treq.Inputs = append(treq.Inputs, mapOutput{Task: in.Task.String(), Node: in.Node, HTTP: m.HTTP, File: in.Output, Offset: off, Length: length,
				Sums: in.Index.Checksums(id.Index)})
		}
	}
	resp := &taskResponse{}
	b, _ := json.Marshal(treq)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, x.n.peerURL(node, "/v1/internal/tasks"), bytes.NewReader(b))
	if err == nil {
		err = x.n.do(r, resp)
	}
	logs := resp.Logs
	if resp.Result != nil {
		logs, resp.Result.Logs = resp.Result.Logs, nil
	}
	x.j.addLogs(st.Attempt.String(), node.Name, logs)
	if err != nil {
		return coord.Failed{Attempt: st.Attempt, Class: coord.Lost, Err: fmt.Errorf("node %s: %w", node.Name, err)}
	}
	if resp.Error == "" && resp.Result != nil {
		if id.Kind == coord.Reduce {
			x.n.noteReduce(ctx, x.j, reduceDone{Partition: id.Index, Attempt: st.Attempt.N, Node: node.Name, Holders: resp.Holders, Result: resp.Result})
		}
		return coord.Succeeded{Attempt: st.Attempt, Result: resp.Result, Output: resp.File, Holders: resp.Holders}
	}
	ev := coord.Failed{Attempt: st.Attempt, Class: classOf(resp.Class), Err: errors.New(resp.Error), Record: resp.Record}
	for _, name := range resp.LostMaps {
		if id, err := coord.ParseTaskID(name); err == nil && id.Kind != coord.Reduce {
			ev.LostMaps = append(ev.LostMaps, id)
		}
	}
	if len(ev.LostMaps) > 0 {
		ev.Class = coord.FetchFailed
	}
	return ev
}

// shardBase is shard i's offset in the file it was cut from: the sizes of
// the shards cut before it from the same file (ids fNNNNN-sKKKKK).
func shardBase(m *Manifest, i int) int64 {
	file, _, _ := strings.Cut(m.Shards[i].ID, "-")
	var base int64
	for j := i - 1; j >= 0; j-- {
		if f, _, _ := strings.Cut(m.Shards[j].ID, "-"); f != file {
			break
		}
		base += m.Shards[j].Size
	}
	return base
}

// sample runs the range partitioner's sample tasks on holders of the
// sampled shards (any live holder; the next if one fails without the
// module's fault) and returns the job's split points.
func (x *clusterJob) sample(ctx context.Context) ([][]byte, error) {
	lengths := make([]int64, len(x.in.Shards))
	for i, sh := range x.in.Shards {
		lengths[i] = sh.Size
	}
	return engine.SampleBounds(ctx, lengths, x.req.Reducers, len(x.n.alive())*x.n.cfg.SlotsPerNode, func(ctx context.Context, i int, windows []task.Window) ([][]byte, error) {
		sh := x.in.Shards[i]
		treq := &taskRequest{JobID: x.j.status.ID, TaskID: fmt.Sprintf("s-%05d", i), Kind: task.KindSample, Attempt: 1,
			ModuleHash: x.req.ModuleHash, ModuleName: x.req.ModuleName, Coordinator: x.n.httpAddr, Params: x.req.Params,
			Partitions: x.req.Reducers, Tenant: x.j.tenant, TaskMemory: x.req.TaskMemory, TaskTime: x.req.TaskTime,
			Dataset: x.j.inKey, Shard: sh.ID, InputName: sh.File, Windows: windows, InputFormat: sh.Format}
		b, _ := json.Marshal(treq)
		err := fmt.Errorf("no live holder of shard %s", sh.ID)
		for _, h := range sh.Holders {
			node, ok := x.n.aliveMember(h)
			if !ok {
				continue
			}
			if _, perr := x.prepare(ctx, node); perr != nil {
				err = perr
				continue
			}
			resp := &taskResponse{}
			r, rerr := http.NewRequestWithContext(ctx, http.MethodPost, x.n.peerURL(node, "/v1/internal/tasks"), bytes.NewReader(b))
			if rerr == nil {
				rerr = x.n.do(r, resp)
			}
			switch {
			case rerr != nil:
				err = fmt.Errorf("node %s: %w", node.Name, rerr)
			case resp.Error == "" && resp.Result != nil:
				return resp.Result.Sample, nil
			case classOf(resp.Class) == coord.ModuleFault || classOf(resp.Class) == coord.Invalid:
				return nil, fmt.Errorf("shard %s of %s: %s", sh.ID, sh.File, resp.Error)
			default:
				err = fmt.Errorf("node %s: %s", node.Name, resp.Error)
			}
		}
		return nil, err
	})
}

// Commit publishes the output dataset, once every shard is on live holders
// and the name is still free.
func (x *clusterJob) Commit(ctx context.Context, c coord.Commit) error {
	out := &Manifest{Name: x.req.Output, Tenant: x.j.tenant, Replicas: x.req.Replicas}
	for _, o := range c.Outputs {
		for _, h := range o.Holders {
			if _, ok := x.n.aliveMember(h); !ok {
				return fmt.Errorf("output shard part-r-%05d: its holder %s is not alive", o.Partition, h)
			}
		}
		name := fmt.Sprintf("part-r-%05d", o.Partition)
		sh := Shard{ID: name, File: name, Size: o.Stats.BytesOut, Holders: o.Holders}
		if f := x.req.OutputFormat; f != "" && f != task.OutputText {
			sh.Format = f // kv, or fixed:N: as ParseFormat reads it
		}
		out.Shards = append(out.Shards, sh)
	}
	if _, err := x.n.store.manifest(x.j.outKey); err == nil {
		return fmt.Errorf("%w: dataset %s was created while the job ran", errBadJob, x.req.Output)
	}
	if err := x.n.settleSums(ctx, out); err != nil {
		return err
	}
	if err := x.n.checkStorage(out); err != nil {
		return err
	}
	if err := x.n.fence(ctx, x.j.recordNow()); err != nil {
		return err
	}
	return x.n.commit(context.WithoutCancel(ctx), out)
}
