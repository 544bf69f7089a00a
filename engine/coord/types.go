package coord

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/task"
)

// Kind is a task's kind.
type Kind uint8

// Task kinds. A combine task is a node of the reduce tree (see Plan.FanIn):
// it merges the outputs of at most FanIn map or combine tasks, all
// partitions, through the module's combiner into one output shaped like a
// map task's.
const (
	Map Kind = iota
	Reduce
	Combine
)

func (k Kind) String() string {
	switch k {
	case Map:
		return task.KindMap
	case Combine:
		return task.KindCombine
	}
	return task.KindReduce
}

// TaskID names a task: m-00003 is map task 3, r-00001 reduce task 1,
// c2-00004 combine task 4 of the reduce tree's level 2 (Level is 0 for
// maps and reduces).
type TaskID struct {
	Kind  Kind
	Index int
	Level int
}

func (t TaskID) String() string {
	switch t.Kind {
	case Map:
		return fmt.Sprintf("m-%05d", t.Index)
	case Combine:
		return fmt.Sprintf("c%d-%05d", t.Level, t.Index)
	}
	return fmt.Sprintf("r-%05d", t.Index)
}

// ParseTaskID reads a task id written by String.
func ParseTaskID(s string) (TaskID, error) {
	var t TaskID
	bad := fmt.Errorf("%q is not a task id (m-NNNNN, cL-NNNNN or r-NNNNN)", s)
	prefix, num, ok := strings.Cut(s, "-")
	if !ok || len(num) < 5 {
		return t, bad
	}
	switch {
	case prefix == "m":
		t.Kind = Map
	case prefix == "r":
		t.Kind = Reduce
	case len(prefix) > 1 && prefix[0] == 'c':
		level, err := strconv.Atoi(prefix[1:])
		if err != nil || level < 1 || prefix[1] == '+' {
			return t, bad
		}
		t.Kind, t.Level = Combine, level
	default:
		return t, bad
	}
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 || num[0] == '+' {
		return t, bad
	}
	t.Index = i
	return t, nil
}

// MarshalText writes the id as String does (for JSON).
func (t TaskID) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads an id written by MarshalText.
func (t *TaskID) UnmarshalText(b []byte) error {
	id, err := ParseTaskID(string(b))
	if err == nil {
		*t = id
	}
	return err
}

// AttemptID names one attempt of a task; attempts are numbered from 1.
type AttemptID struct {
	Task TaskID
	N    int
}

// String reads m-00003.a2: the name an attempt's files carry.
func (a AttemptID) String() string { return fmt.Sprintf("%s.a%d", a.Task, a.N) }

// Class says whose fault a failed attempt was, which decides whether it is
// charged to its task (see Policy).
type Class uint8

const (
	// ModuleFault: the module failed (trap, error, limit). Charged.
	ModuleFault Class = iota
	// LocalFault: the executing node could not do its part (disk full, an
	// unwritable directory). Charged; the retry prefers another node.
	LocalFault
	// Invalid: the job cannot succeed anywhere (an invalid module). The
	// job fails at once.
	Invalid
	// Lost: the attempt was lost with its node, its worker was killed from
	// outside, or the call to its node failed. Not charged, but bounded by
	// Policy.MaxUncharged.
	Lost
	// FetchFailed: a reduce could not fetch the outputs of the map tasks
	// named in Failed.LostMaps. Not charged; those maps run again.
	FetchFailed
)

// Policy is a job's retry, backup and skipping policy. Zero fields take
// the defaults below.
type Policy struct {
	// MaxAttempts is how many charged failures a task may have before the
	// job fails. Default 3.
	MaxAttempts int
	// MaxUncharged bounds the attempts of one task that end without its
	// fault (lost nodes, killed workers, failed fetches). Default 10.
	MaxUncharged int
	// SkipBadRecords is how many input records the job may skip when a map
	// attempt fails in the module on one (0: none; a bad record fails the
	// job as any module error does).
	SkipBadRecords int
	// NoBackups turns backup attempts for stragglers off.
	NoBackups bool
	// BackupMinAge: an attempt is a straggler only once it has run this
	// long, counted from its first progress report (Progressed), so time a
	// node spends getting ready (fetching and compiling the module) does
	// not make its attempts look slow. Default 1s.
	BackupMinAge time.Duration
	// BackupSetupAge: an attempt that has not reported progress after this
	// long is a straggler too (a node stuck getting ready). Default 30s.
	BackupSetupAge time.Duration
	// BackupSlowdown: ... and longer than this many times the median
	// duration of the phase's committed tasks. Default 2.
	BackupSlowdown float64
	// RetryBackoff is the wait before the first retry of a task; it doubles
	// with each further failure up to RetryBackoffMax. Defaults 100ms, 5s.
	RetryBackoff, RetryBackoffMax time.Duration
	// History is how many attempts of each task the status keeps (the
	// latest). Default 10.
	History int
}

// Defaults of Policy.
const (
	DefaultMaxAttempts     = 3
	DefaultMaxUncharged    = 10
	DefaultBackupMinAge    = time.Second
	DefaultBackupSetupAge  = 30 * time.Second
	DefaultBackupSlowdown  = 2.0
	DefaultRetryBackoff    = 100 * time.Millisecond
	DefaultRetryBackoffMax = 5 * time.Second
	DefaultHistory         = 10
)

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MaxUncharged <= 0 {
		p.MaxUncharged = DefaultMaxUncharged
	}
	if p.BackupMinAge <= 0 {
		p.BackupMinAge = DefaultBackupMinAge
	}
	if p.BackupSetupAge <= 0 {
		p.BackupSetupAge = DefaultBackupSetupAge
	}
	if p.BackupSlowdown <= 1 {
		p.BackupSlowdown = DefaultBackupSlowdown
	}
	if p.RetryBackoff <= 0 {
		p.RetryBackoff = DefaultRetryBackoff
	}
	if p.RetryBackoffMax < p.RetryBackoff {
		p.RetryBackoffMax = max(DefaultRetryBackoffMax, p.RetryBackoff)
	}
	if p.History <= 0 {
		p.History = DefaultHistory
	}
	return p
}

// DefaultFanIn is the reduce tree's fan-in unless a job asks otherwise:
// the most outputs one combine or reduce task reads (see Plan.FanIn and
// docs/TUNING.md for how it was chosen).
const DefaultFanIn = 16

// MaxReducers bounds a job's reduce tasks, for wmr run and the cluster.
const MaxReducers = 100000

// MapInput is one map task's input.
type MapInput struct {
	// Name says what the task reads, for people: "books.txt[0:64MiB]".
	Name string
	// Nodes hold the input; the task runs on one of them. Empty: anywhere.
	Nodes []string
}

// Plan is what a job consists of.
type Plan struct {
	Maps    []MapInput
	Reduces int
	// FanIn, when 2 or more (jobs with a combiner) and below the number
	// of maps, builds the reduce tree: combine tasks each merge at most
	// FanIn outputs of the level below into one, each node's maps (by
	// their input's first holder, MapInput.Nodes[0]) down to one output
	// first, so no task reads more than FanIn and a reduce one output per
	// node. The shape depends only on the plan, so values reach reduce in
	// the same order on every run (ABI.md section 7). 0: no tree.
	FanIn  int
	Policy Policy
	// Nodes are the nodes known at the start; more come with NodeUp.
	Nodes []NodeUp
	// Recovered are task outputs an earlier coordinator of the job had
	// seen succeed that are still there: they count as done (a successor
	// taking a job over reuses them instead of running the tasks again).
	Recovered []Recovered
}

// Recovered is a task output an earlier coordinator saw succeed: attempt
// Attempt of Task wrote it on Node, Output locates it (a map's), Holders
// are its replicas (a reduce's), Result is what the attempt reported.
type Recovered struct {
	Task    TaskID
	Attempt int
	Node    string
	Output  string
	Holders []string
	Result  *task.Result
}

// Record is an input record a map attempt failed on.
type Record struct {
	Task   TaskID `json:"task"`
	Input  string `json:"input"`  // the file, for people
	Offset int64  `json:"offset"` // the record's byte offset in it
	Err    string `json:"error"`  // what the module said
}

// Events: what a driver tells the core.
type (
	// Event is one of NodeUp, NodeDown, Succeeded, Failed, Progressed,
	// Tick, Committed and Abort.
	Event interface{ event() }

	// NodeUp: a node can run tasks, Slots at a time (again, or with a
	// new slot count).
	NodeUp struct {
		Node  string
		Slots int
	}
	// NodeDown: a node left or failed; what ran there and what it held is
	// lost.
	NodeDown struct {
		Node string
	}
	// Succeeded: an attempt ended well. Output locates its output on its
	// node (the driver's name for it); Holders are a reduce output's
	// replicas.
	Succeeded struct {
		Attempt AttemptID
		Result  *task.Result
		Output  string
		Holders []string
	}
	// Failed: an attempt ended badly. Record, if set, is the input record
	// the module failed on (maps); LostMaps, for FetchFailed, the maps
	// whose output could not be fetched.
	Failed struct {
		Attempt  AttemptID
		Class    Class
		Err      error
		Record   *Record
		LostMaps []TaskID
	}
	// Progressed: a running attempt's counts so far. The first one also
	// says the attempt is past its setup and running the task.
	Progressed struct {
		Attempt AttemptID
		Stats   task.Stats
	}
	// Tick: time passed (backoffs end, stragglers show).
	Tick struct{}
	// Committed: the driver carried out Commit (Err nil) or could not.
	Committed struct{ Err error }
	// Abort: stop the job (cancelled by its user or its driver).
	Abort struct{ Err error }
)

func (NodeUp) event()     {}
func (NodeDown) event()   {}
func (Succeeded) event()  {}
func (Failed) event()     {}
func (Progressed) event() {}
func (Tick) event()       {}
func (Committed) event()  {}
func (Abort) event()      {}

// Actions: what the core tells a driver to do.
type (
	// Action is one of Start, Cancel, Commit and Finish.
	Action interface{ action() }

	// Start: run an attempt on a node. Skip lists input records to pass
	// over (maps); Inputs the outputs a combine or reduce reads (map or
	// combine tasks'), in map order.
	Start struct {
		Attempt AttemptID
		Node    string
		Backup  bool
		Skip    []Record
		Inputs  []MapOutput
	}
	// Cancel: stop an attempt; the driver still reports how it ended
	// (the core ignores that report).
	Cancel struct {
		Attempt AttemptID
		Reason  string
	}
	// Commit: every reduce succeeded; publish Outputs (in partition order)
	// and report Committed.
	Commit struct {
		Outputs []ReduceOutput
	}
	// Finish: the job is over; Err is nil if it succeeded.
	Finish struct {
		Err error
	}
)

func (Start) action()  {}
func (Cancel) action() {}
func (Commit) action() {}
func (Finish) action() {}

// MapOutput locates a committed map or combine task's output (the two
// have the same shape: a run file with a segment per partition).
type MapOutput struct {
	Task   TaskID
	Node   string
	Output string
	Index  runs.Index
}

// ReduceOutput is a committed reduce task's output.
type ReduceOutput struct {
	Partition int
	Node      string
	Output    string
	Holders   []string
	Stats     task.Stats
}

// Errors a job ends with wrap one of these (and the attempt's own error).
var (
	// ErrTaskFailed: a task failed on every attempt it was allowed.
	ErrTaskFailed = errors.New("task failed")
	// ErrNoNode: no live node can run a task (its input's holders are gone).
	ErrNoNode = errors.New("no live node can run the task")
)

// jobError has a message of its own and still unwraps to the sentinels
// and causes it was made from.
type jobError struct {
	msg  string
	errs []error
}

func (e *jobError) Error() string   { return e.msg }
func (e *jobError) Unwrap() []error { return e.errs }

func failure(cause error, sentinel error, format string, args ...any) error {
	errs := []error{sentinel}
	if cause != nil {
		errs = append(errs, cause)
	}
	return &jobError{msg: fmt.Sprintf(format, args...), errs: errs}
}

// CheckReducers says whether n reduce tasks is a job wmr runs.
func CheckReducers(n int) error {
	if n < 1 || n > MaxReducers {
		return fmt.Errorf("reducers must be between 1 and %d, not %d", MaxReducers, n)
	}
	return nil
}
