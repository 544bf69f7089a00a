package worker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wmr-dev/wmr/engine/task"
)

// ErrTimeLimit is wrapped by the error of an attempt killed for running past
// its time limit.
var ErrTimeLimit = errors.New("task time limit exceeded")

// ErrWorkerCrashed is wrapped by the error of an attempt whose worker
// process died.
var ErrWorkerCrashed = errors.New("worker process crashed")

// ErrWorkerOutOfMemory is wrapped by the error of an attempt whose worker
// died because it could get no more memory: the task held more than its
// limit (the module's memory cap, its sort buffer and the runtime's own
// share). It is the module's doing (what it emitted, how), so it is
// charged like ErrWorkerCrashed.
var ErrWorkerOutOfMemory = errors.New("worker process ran out of memory")

// ErrWorkerKilled is wrapped by the error of an attempt whose worker
// process was killed by a signal the pool did not send (the kernel's OOM
// killer, an operator): the machine's doing, not the module's.
var ErrWorkerKilled = errors.New("worker process was killed from outside")

// EnvWorkerExecutable, when set, names the wmr binary workers run from
// instead of this one: the tests run race-instrumented nodes with plain
// workers, whose module code the race detector would only slow down.
const EnvWorkerExecutable = "WMR_WORKER_EXECUTABLE"

// PoolConfig configures a Pool.
type PoolConfig struct {
	// Command starts a worker; default: this executable with the argument
	// "worker". EnvWorker=1 is always added to its environment.
	Command []string
	// DataLimit is each worker's RLIMIT_DATA in bytes (0: none); see
	// limits.go.
	DataLimit int64
	// Logger receives the workers' log lines; nil discards them.
	Logger *slog.Logger
	// Placer, if set, puts each worker process into its task's resource
	// group (task.Spec.Group) before it runs anything; a worker is reused
	// only for tasks of the same group.
	Placer Placer
	// MaxIdle bounds the idle workers kept for reuse (0: no bound); past
	// it the longest idle one exits.
	MaxIdle int
	// Credential, if set, is the unprivileged user and group worker
	// processes run as (the parent must be root to switch to it).
	Credential *syscall.Credential
}

// Placer puts worker processes into resource groups: per-tenant cgroups
// whose CPU weight and memory limit the kernel enforces.
type Placer interface {
	// Place moves process pid into group.
	Place(group string, pid int) error
	// OOMKills counts the processes group's memory limit has killed, so a
	// worker that dies of SIGKILL can be told apart from one killed from
	// outside.
	OOMKills(group string) int64
	// LimitText names group's memory limit for a message ("tenant bob's
	// memory limit of 100 MiB on this node").
	LimitText(group string) string
}

// Pool runs tasks in worker processes, reusing idle ones. It is safe for
// concurrent use; each concurrent Run uses its own process.
type Pool struct {
	cfg  PoolConfig
	log  *slog.Logger
	mu   sync.Mutex
	idle []*proc
	all  map[*proc]bool
	// started and ended count worker processes over the pool's life
	// (ended by why; see Stats); guarded by mu.
	started int64
	ended   map[string]int64
}

// Why a worker process ended, as Stats counts them.
const (
	EndTimeLimit   = "time_limit"    // killed: the attempt ran past its limit
	EndCancelled   = "cancelled"     // killed: the attempt was cancelled
	EndCrashed     = "crashed"       // died on its own (a runtime panic, a bad frame)
	EndOutOfMemory = "out_of_memory" // died for want of memory
	EndKilled      = "killed"        // killed from outside (the OOM killer, an operator)
	EndSeccomp     = "seccomp"       // killed by its seccomp filter: a forbidden system call
)

// Stats is what a pool's worker processes have done since it started.
type Stats struct {
	Live    int              `json:"live"` // running now, busy or idle
	Idle    int              `json:"idle"`
	Started int64            `json:"started"`
	Ended   map[string]int64 `json:"ended"` // by End* reason; idle workers closed with the pool are not counted
}

// Stats returns a copy of the pool's counts.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Live: len(p.all), Idle: len(p.idle), Started: p.started, Ended: map[string]int64{}}
	for k, v := range p.ended {
		s.Ended[k] = v
	}
	return s
}

// countEnd counts a worker process that ended for reason.
func (p *Pool) countEnd(reason string) {
	p.mu.Lock()
	p.ended[reason]++
	p.mu.Unlock()
}

// Executable is the wmr binary a pool without a Command starts workers
// from: EnvWorkerExecutable's, else this process's own.
func Executable() (string, error) {
	if other := os.Getenv(EnvWorkerExecutable); other != "" {
		return other, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own executable to start workers: %w", err)
	}
	return exe, nil
}

// NewPool creates a pool. Processes start on demand.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if len(cfg.Command) == 0 {
		var err error
		if cfg.Command, err = defaultCommand(); err != nil {
			return nil, err
		}
	}
	p := &Pool{cfg: cfg, log: cfg.Logger, all: map[*proc]bool{}, ended: map[string]int64{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

type proc struct {
	group  string // the resource group it was placed in
	cmd    *exec.Cmd
	in     io.WriteCloser
	w      *bufio.Writer
	r      *bufio.Reader
	tail   *tailBuffer
	exited chan struct{}
	err    error // exit status, valid after exited closes
}

// defaultCommand starts a worker (or compile) process: this executable
// with the argument "worker".
func defaultCommand() ([]string, error) {
	exe, err := Executable()
	if err != nil {
		return nil, err
	}
	return []string{exe, "worker"}, nil
}

// childAttr makes a worker or compile process die with the node
// (Pdeathsig; see startFromSpawner) and keep a process group of its own,
// so signals to the terminal's group reach the node only.
func childAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: cred}
}

// spawner is the OS thread every worker process is started from.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// startFromSpawner starts cmd from one OS thread kept for the purpose for
// the life of the process. Linux sends a child its Pdeathsig when the
// thread that forked it ends, not the process, and Go ends a thread
// whenever a goroutine locked to it returns. The node once did so to
// compile a tenant's module in the tenant's cgroup, and any worker forked
// earlier from that thread was killed with it, idle or in the middle of a
// task (in the tenants bench, another tenant's idle workers died as
// modules were uploaded, and its next job waited for new ones). Any code
// that ends a goroutine locked, ours or a library's, would do the same.
func startFromSpawner(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked, never returns
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd, done}
	return <-done
}

func (p *Pool) start(group string) (*proc, error) {
	cmd := exec.Command(p.cfg.Command[0], p.cfg.Command[1:]...)
	cmd.Env = append(os.Environ(), EnvWorker+"=1")
	if p.cfg.DataLimit > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", EnvDataLimit, p.cfg.DataLimit))
	}
	cmd.SysProcAttr = childAttr(p.cfg.Credential)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	pr := &proc{group: group, cmd: cmd, in: in, w: bufio.NewWriter(in), r: bufio.NewReaderSize(out, 64<<10),
		tail: &tailBuffer{max: 4 << 10, log: p.log}, exited: make(chan struct{})}
	cmd.Stderr = pr.tail
	if err := startFromSpawner(cmd); err != nil {
		return nil, fmt.Errorf("start worker process %s: %w", p.cfg.Command[0], err)
	}
	go func() {
		pr.err = cmd.Wait()
		close(pr.exited)
	}()
	p.mu.Lock()
	p.all[pr] = true
	p.started++
	p.mu.Unlock()
	// Into the tenant's group before it is sent a task: the worker only
	// reads its input frame until then, so nothing of the module runs
	// outside the group's limits.
	if p.cfg.Placer != nil && group != "" {
		if err := p.cfg.Placer.Place(group, cmd.Process.Pid); err != nil {
			p.kill(pr)
			return nil, fmt.Errorf("place worker process in resource group %s: %w", group, err)
		}
	}
	return pr, nil
}

func (p *Pool) get(group string) (*proc, error) {
	p.mu.Lock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		pr := p.idle[i]
		if pr.group != group {
			continue
		}
		p.idle = append(p.idle[:i], p.idle[i+1:]...)
		select {
		case <-pr.exited:
			delete(p.all, pr)
			continue
		default:
		}
		p.mu.Unlock()
		return pr, nil
	}
	p.mu.Unlock()
	return p.start(group)
}

// Warm starts worker processes for group until n of them are idle, so
// that a job's first tasks find workers that have already started (a
// worker takes tens of milliseconds to start, much of a short job). It
// returns once they are started, not ready: they get ready while the
// caller goes on.
func (p *Pool) Warm(group string, n int) error {
	p.mu.Lock()
	for _, pr := range p.idle {
		if pr.group == group {
			n--
		}
	}
	p.mu.Unlock()
	for ; n > 0; n-- {
		pr, err := p.start(group)
		if err != nil {
			return err
		}
		p.put(pr)
	}
	return nil
}

// Load has every idle worker of group load spec's module now (without
// running a task), so that a worker first given a task late in a job (a
// reduce task, after a short map phase) does not make the job wait while
// it loads: a large module takes a worker 0.1-0.2 s to load even from the
// compilation cache. A worker that fails to load reports it with its
// first task.
func (p *Pool) Load(group string, spec *task.Spec) {
	p.mu.Lock()
	defer p.mu.Unlock() // a Run waits: the frames are small, the pipes have room
	for _, pr := range p.idle {
		if pr.group == group {
			_ = writeFrame(pr.w, frameLoad, spec)
		}
	}
}

func (p *Pool) put(pr *proc) {
	p.mu.Lock()
	p.idle = append(p.idle, pr)
	var retire *proc
	if p.cfg.MaxIdle > 0 && len(p.idle) > p.cfg.MaxIdle {
		groups := make([]string, len(p.idle))
		for i, pr := range p.idle {
			groups[i] = pr.group
		}
		i := retiree(groups)
		retire = p.idle[i]
		p.idle = append(p.idle[:i], p.idle[i+1:]...)
		delete(p.all, retire)
	}
	p.mu.Unlock()
	if retire != nil {
		retire.in.Close() // end of input: it exits
	}
}

// retiree picks the idle worker to retire when the pool keeps too many,
// given each idle worker's group, longest idle first: the longest idle of
// the group with the most idle workers. Retiring the longest idle of all
// let one tenant's churn (hostile jobs failing fast, each leaving a worker
// idle) retire another tenant's warm workers, whose next job then waited
// for new ones to start and load its module (0.1-0.2 s for a Go module):
// a quarter to a half more on a 0.6 s job.
func retiree(groups []string) int {
	count := map[string]int{}
	for _, g := range groups {
		count[g]++
	}
	best := 0
	for i, g := range groups {
		if count[g] > count[groups[best]] {
			best = i
		}
	}
	return best
}

func (p *Pool) kill(pr *proc) {
	pr.cmd.Process.Kill()
	<-pr.exited
	p.mu.Lock()
	delete(p.all, pr)
	p.mu.Unlock()
}

type frame struct {
	typ  byte
	body []byte
	err  error
}

// Run runs spec in a worker. limit > 0 kills the worker if the attempt
// takes longer. progress, if not nil, is called from Run's goroutine.
func (p *Pool) Run(ctx context.Context, spec *task.Spec, limit time.Duration, progress task.Progress) (*task.Result, error) {
	pr, err := p.get(spec.Group)
	if err != nil {
		return nil, err
	}
	var oomBefore int64
	if p.cfg.Placer != nil && pr.group != "" {
		oomBefore = p.cfg.Placer.OOMKills(pr.group)
	}
	if err := writeFrame(pr.w, frameRun, spec); err != nil {
		p.kill(pr) // waits for its exit and the rest of its stderr
		return nil, p.crashed(pr, fmt.Sprintf(": sending the task failed: %v", err))
	}
	frames := make(chan frame, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			typ, body, err := readFrame(pr.r)
			select {
			case frames <- frame{typ, body, err}:
			case <-stop:
				return
			}
			if err != nil || typ != frameProgress {
				return
			}
		}
	}()
	var timeout <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-ctx.Done():
			p.kill(pr)
			p.countEnd(EndCancelled)
			return nil, context.Cause(ctx)
		case <-timeout:
			p.kill(pr)
			p.countEnd(EndTimeLimit)
			return nil, fmt.Errorf("%w: still running after %v", ErrTimeLimit, limit)
		case f := <-frames:
			if f.err != nil {
				p.kill(pr) // waits for its exit status
				if signaled(pr.err) == syscall.SIGSYS {
					p.countEnd(EndSeccomp)
					return nil, fmt.Errorf("%w, so its seccomp filter killed it (a worker may make only the system calls it was measured to need; a module cannot make any, so this is a bug in the host or an escape from the sandbox)%s",
						ErrSeccomp, pr.tail.explain())
				}
				if sig, ok := killedBy(pr.err); ok {
					if sig == syscall.SIGKILL && p.cfg.Placer != nil && pr.group != "" && p.cfg.Placer.OOMKills(pr.group) > oomBefore {
						// The group's memory limit, not the machine: the
						// tenant's own doing, charged like running out of
						// the worker's own limit.
						p.countEnd(EndOutOfMemory)
						return nil, fmt.Errorf("%w: the kernel killed it at %s (the memory of all its workers here together)", ErrWorkerOutOfMemory, p.cfg.Placer.LimitText(pr.group))
					}
					p.countEnd(EndKilled)
					return nil, fmt.Errorf("%w (signal %s)%s", ErrWorkerKilled, sig, pr.tail.explain())
				}
				status := ""
				if pr.err != nil {
					status = " (" + pr.err.Error() + ")"
				}
				return nil, p.crashed(pr, status)
			}
			switch f.typ {
			case frameProgress:
				var s task.Stats
				if err := msgpack.Unmarshal(f.body, &s); err == nil && progress != nil {
					progress(s)
				}
			case frameDone:
				var res task.Result
				if err := msgpack.Unmarshal(f.body, &res); err != nil {
					p.kill(pr)
					p.countEnd(EndCrashed)
					return nil, fmt.Errorf("decode worker result: %w", err)
				}
				p.put(pr)
				return &res, nil
			case frameError:
				var te TaskError
				if err := msgpack.Unmarshal(f.body, &te); err != nil {
					p.kill(pr)
					p.countEnd(EndCrashed)
					return nil, fmt.Errorf("decode worker error: %w", err)
				}
				p.put(pr)
				return nil, &te
			default:
				p.kill(pr)
				p.countEnd(EndCrashed)
				return nil, fmt.Errorf("%w: unexpected frame %q", ErrWorkerCrashed, f.typ)
			}
		}
	}
}

// signaled is the signal that ended a worker, or 0.
func signaled(exit error) syscall.Signal {
	var ee *exec.ExitError
	if !errors.As(exit, &ee) {
		return 0
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

// killedBy reports the signal that ended a worker, for the signals that
// come from outside (SIGKILL of the OOM killer, SIGTERM or SIGINT of an
// operator). A worker that crashed on its own (a Go panic, SIGSEGV, SIGABRT)
// is not "killed".
func killedBy(exit error) (syscall.Signal, bool) {
	switch sig := signaled(exit); sig {
	case syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP:
		return sig, true
	}
	return 0, false
}

// Close stops every worker: idle ones are asked to exit (end of input) and
// killed if they do not within a second.
func (p *Pool) Close() {
	p.mu.Lock()
	procs := make([]*proc, 0, len(p.all))
	for pr := range p.all {
		procs = append(procs, pr)
	}
	p.idle = nil
	p.mu.Unlock()
	for _, pr := range procs {
		pr.in.Close()
	}
	deadline := time.After(time.Second)
	for _, pr := range procs {
		select {
		case <-pr.exited:
		case <-deadline:
			pr.cmd.Process.Kill()
			<-pr.exited
		}
	}
	p.mu.Lock()
	p.all = map[*proc]bool{}
	p.mu.Unlock()
}

// crashed describes a worker that died on its own (after p.kill(pr), so
// its stderr is complete): by the runtime's last words when it said why
// (memory exhaustion is ErrWorkerOutOfMemory), else by its last lines.
func (p *Pool) crashed(pr *proc, detail string) error {
	if cause := pr.tail.fatal(); cause != "" {
		if outOfMemory(cause) {
			p.countEnd(EndOutOfMemory)
			return fmt.Errorf("%w: the task needed more than the worker's limit of %d MiB (the module's memory cap, the sort buffer and the runtime's share); the runtime said %q",
				ErrWorkerOutOfMemory, p.cfg.DataLimit>>20, cause)
		}
		p.countEnd(EndCrashed)
		return fmt.Errorf("%w%s: %s", ErrWorkerCrashed, detail, cause)
	}
	p.countEnd(EndCrashed)
	return fmt.Errorf("%w%s%s", ErrWorkerCrashed, detail, pr.tail.explain())
}

// tailBuffer forwards a worker's stderr lines to the logger and keeps the
// last max bytes to explain a crash.
type tailBuffer struct {
	mu   sync.Mutex
	buf  []byte
	max  int
	log  *slog.Logger
	line []byte
	// cause is the first line that says why the process is dying (Go's
	// "fatal error: ..."), kept because a crash's register and stack dump
	// pushes it out of the tail.
	cause string
}

// fatalPrefixes start the lines in which the Go runtime says why it dies.
var fatalPrefixes = []string{"fatal error: ", "runtime/cgo: ", "panic: ", "runtime: out of memory"}

// fatal returns the line that said why the worker died, if one did.
func (t *tailBuffer) fatal() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cause
}

// outOfMemory says whether a runtime's dying words mean memory ran out.
func outOfMemory(cause string) bool {
	for _, s := range []string{"out of memory", "cannot allocate memory", "pthread_create failed", "Resource temporarily unavailable"} {
		if strings.Contains(cause, s) {
			return true
		}
	}
	return false
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	t.line = append(t.line, p...)
	for {
		i := bytes.IndexByte(t.line, '\n')
		if i < 0 {
			break
		}
		line := string(t.line[:i])
		t.log.Debug("worker", "line", line)
		if t.cause == "" {
			for _, p := range fatalPrefixes {
				if strings.HasPrefix(line, p) {
					t.cause = line
				}
			}
		}
		t.line = t.line[i+1:]
	}
	return len(p), nil
}

// explain returns "; its last output: ..." from the kept stderr, or "".
func (t *tailBuffer) explain() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 6 {
		lines = lines[len(lines)-6:]
	}
	return "; its last output: " + strings.Join(lines, " | ")
}
