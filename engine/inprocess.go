package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wmr-dev/wmr/engine/task"
)

// inProcess runs tasks in this process with close-on-context-done, one
// task.Runner per concurrent task.
type inProcess struct {
	log  *slog.Logger
	mu   sync.Mutex
	idle []*task.Runner
}

func newInProcess(log *slog.Logger) *inProcess { return &inProcess{log: log} }

func (p *inProcess) Run(ctx context.Context, spec *task.Spec, limit time.Duration, progress task.Progress) (*task.Result, error) {
	p.mu.Lock()
	var r *task.Runner
	if n := len(p.idle); n > 0 {
		r, p.idle = p.idle[n-1], p.idle[:n-1]
	} else {
		r = &task.Runner{CloseOnContextDone: true, Logger: p.log}
	}
	p.mu.Unlock()
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, limit, fmt.Errorf("task time limit of %v exceeded", limit))
		defer cancel()
	}
	res, err := r.Run(ctx, spec, progress)
	p.mu.Lock()
	p.idle = append(p.idle, r)
	p.mu.Unlock()
	return res, err
}

func (p *inProcess) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.idle {
		r.Close(context.Background())
	}
	p.idle = nil
}
