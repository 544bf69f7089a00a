package coord

import (
	"context"
	"sync"
	"time"

	"github.com/wmr-dev/wmr/engine/task"
)

// Executor carries out a job's actions where the tasks run: a worker pool
// for wmr run, nodes of a cluster for wmr submit.
type Executor interface {
	// Run runs one attempt until it ends or ctx does, calling progress
	// with its counts now and then, and reports how it ended: a Succeeded
	// or a Failed event for st.Attempt.
	Run(ctx context.Context, st Start, progress func(task.Stats)) Event
	// Commit publishes the job's output.
	Commit(ctx context.Context, c Commit) error
}

// Driver runs a Job against an Executor: the one loop that owns the
// goroutines, the clock and the job's lock, so the Job stays pure. It is
// safe for concurrent use.
type Driver struct {
	exec Executor
	now  func() time.Time

	mu      sync.Mutex
	job     *Job
	queue   []Event
	wake    chan struct{}
	cancels map[AttemptID]context.CancelFunc
	wg      sync.WaitGroup
}

// TickInterval is how often a Driver steps a job with Tick.
const TickInterval = 100 * time.Millisecond

// NewDriver prepares job to run on exec. now is the clock (nil: time.Now).
func NewDriver(job *Job, exec Executor, now func() time.Time) *Driver {
	if now == nil {
		now = time.Now
	}
	return &Driver{job: job, exec: exec, now: now, wake: make(chan struct{}, 1), cancels: map[AttemptID]context.CancelFunc{}}
}

// Send queues an event (membership changes, an abort) for the job.
func (d *Driver) Send(ev Event) {
	d.mu.Lock()
	d.queue = append(d.queue, ev)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Status returns the job's status.
func (d *Driver) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.job.Status()
}

// Run runs the job until it finishes and returns how it ended. When ctx
// ends, the job is aborted with ctx's cause. Every attempt it started has
// returned when Run does.
func (d *Driver) Run(ctx context.Context) error {
	runCtx, cancelAll := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAll()
	tick := time.NewTicker(TickInterval)
	defer tick.Stop()
	d.step(runCtx, Tick{})
	aborted := false
	for {
		if done, err := d.finished(); done {
			d.wg.Wait()
			return err
		}
		select {
		case <-d.wake:
			d.mu.Lock()
			q := d.queue
			d.queue = nil
			d.mu.Unlock()
			for _, ev := range q {
				d.step(runCtx, ev)
			}
		case <-tick.C:
			d.step(runCtx, Tick{})
		case <-ctx.Done():
			if !aborted {
				aborted = true
				d.step(runCtx, Abort{Err: context.Cause(ctx)})
			}
		}
	}
}

func (d *Driver) finished() (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.job.Finished()
}

func (d *Driver) step(ctx context.Context, ev Event) {
	d.mu.Lock()
	acts := d.job.Step(d.now(), ev)
	d.mu.Unlock()
	for _, a := range acts {
		switch a := a.(type) {
		case Start:
			actx, cancel := context.WithCancel(ctx)
			d.mu.Lock()
			d.cancels[a.Attempt] = cancel
			d.mu.Unlock()
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				ev := d.exec.Run(actx, a, func(s task.Stats) { d.Send(Progressed{Attempt: a.Attempt, Stats: s}) })
				d.mu.Lock()
				delete(d.cancels, a.Attempt)
				d.mu.Unlock()
				cancel()
				d.Send(ev)
			}()
		case Cancel:
			d.mu.Lock()
			cancel := d.cancels[a.Attempt]
			d.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		case Commit:
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				d.Send(Committed{Err: d.exec.Commit(ctx, a)})
			}()
		case Finish:
		}
	}
}
