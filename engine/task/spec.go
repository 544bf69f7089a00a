package task

import (
	"errors"
	"fmt"
	"time"

	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/sampling"
)

// Task kinds.
const (
	KindMap    = "map"
	KindReduce = "reduce"
	// KindCombine merges the outputs of several map (or combine) tasks,
	// every partition, through the module's combiner into one output of
	// the same shape (a node of the reduce tree). Inputs holds
	// Partitions segments per input task, partition by partition.
	KindCombine = "combine"
	// KindSample runs the module's map over windows of one input file and
	// returns the keys it emits (for the range partitioner's split
	// points; see engine/sampling). Its output goes nowhere else.
	KindSample = "sample"
)

// Spec describes one task attempt. It is plain data, sent to worker
// processes as msgpack.
type Spec struct {
	JobID   string `msgpack:"job_id"`
	TaskID  string `msgpack:"task_id"`
	Kind    string `msgpack:"kind"`
	Attempt int    `msgpack:"attempt"`

	ModulePath string            `msgpack:"module_path"`
	ModuleName string            `msgpack:"module_name"`
	ModuleHash string            `msgpack:"module_hash"`
	Params     map[string]string `msgpack:"params"`
	Partitions int               `msgpack:"partitions"`

	// Limits.
	MemoryLimitBytes int64 `msgpack:"memory_limit"` // guest linear memory cap
	MaxOutputBytes   int64 `msgpack:"max_output"`   // what the guest may emit in this task
	SortBufferBytes  int64 `msgpack:"sort_buffer"`  // map: spill when the buffer reaches this
	BatchBytes       int   `msgpack:"batch_bytes"`  // records per boundary crossing, in bytes
	MaxLineBytes     int   `msgpack:"max_line"`     // longest input line
	// TimeLimit, when set and shorter than the engine's task time limit,
	// is this task's wall-clock limit (a tenant's quota, a job's ask).
	TimeLimit time.Duration `msgpack:"time_limit"`
	CacheDir  string        `msgpack:"cache_dir"` // compiled module cache

	// Map tasks.
	InputPath string `msgpack:"input_path"`
	InputName string `msgpack:"input_name"`
	// InputBase is the offset in the user's file of byte 0 of InputPath
	// (a cluster shard's place in the file it was cut from): errors name
	// records as InputName at InputBase+offset when InputBase or the
	// shard-ness says so (InputDisplay set), and skip offsets stay
	// relative to InputPath.
	InputBase    int64  `msgpack:"input_base"`
	InputDisplay string `msgpack:"input_display"`
	// InputFormat is how the input is read (input.ParseFormat; "" is
	// uncompressed text).
	InputFormat string `msgpack:"input_format"`
	SplitOffset int64  `msgpack:"split_offset"`
	SplitLength int64  `msgpack:"split_length"`
	// SkipOffsets are byte offsets of input records to pass over (bad
	// records the job skips), ascending.
	SkipOffsets []int64 `msgpack:"skip_offsets"`
	WorkDir     string  `msgpack:"work_dir"` // spills go here
	// Partitioner is "range" when map output goes to partitions by the
	// split points in Bounds (engine/sampling); otherwise by hash.
	Partitioner string   `msgpack:"partitioner"`
	Bounds      [][]byte `msgpack:"bounds"`

	// Sample tasks: byte ranges of the input file (each owns the records
	// that start in it), and a cap on the key bytes returned.
	Windows     []Window `msgpack:"windows"`
	SampleBytes int64    `msgpack:"sample_bytes"`

	// Reduce tasks (and combine tasks: see KindCombine).
	Partition int            `msgpack:"partition"`
	Inputs    []runs.Segment `msgpack:"inputs"`
	// MergeFanIn bounds the runs one merge reads at once (0: the default,
	// runs.DefaultFanIn); more inputs are merged in passes.
	MergeFanIn int `msgpack:"merge_fan_in"`

	// OutputFormat is how a reduce task writes its output: "text" (the
	// default) or "kv".
	OutputFormat string `msgpack:"output_format"`

	// OutputPath is where the attempt writes: the map output run file, or
	// the reduce output text file. The engine commits it.
	OutputPath string `msgpack:"output_path"`

	// Group is the resource group (a tenant's cgroup) the attempt's worker
	// process runs in, for the pool that starts it; the worker never sees
	// it.
	Group string `msgpack:"-"`
}

// inputFile is the task's input file as the input package reads it, named
// in errors as the user knows it (InputDisplay) where that is set.
func (s *Spec) inputFile(format input.Format) input.File {
	f := input.File{Path: s.InputPath, Name: s.InputName, Format: format}
	if s.InputDisplay != "" {
		f.Display, f.Base = s.InputDisplay, s.InputBase
	}
	return f
}

// partitioner is where the host sends a map output record whose module
// did not choose, decided once per task: by the job's range split points,
// or by hash.
type partitioner struct {
	byRange bool
	bounds  [][]byte
	n       uint64
}

func (s *Spec) partitioner() partitioner {
	return partitioner{byRange: s.Partitioner == sampling.Range, bounds: s.Bounds, n: uint64(s.Partitions)}
}

// of is key's partition; h is abi.Hash(key), which range partitioning
// does not need.
func (p partitioner) of(key []byte, h uint64) int {
	if p.byRange {
		return sampling.Partition(p.bounds, key)
	}
	return int(h % p.n)
}

// Stats count a task's work.
type Stats struct {
	RecordsIn  int64 `msgpack:"records_in"`
	BytesIn    int64 `msgpack:"bytes_in"`
	RecordsOut int64 `msgpack:"records_out"`
	BytesOut   int64 `msgpack:"bytes_out"`
	Spills     int   `msgpack:"spills"`
	// PeakRSS is the most memory the worker process held during the task
	// (its resident set, module instance included), where measured; 0 if
	// not (in-process runs).
	PeakRSS int64 `msgpack:"peak_rss"`
}

// Result is what a successful attempt produced.
type Result struct {
	Stats Stats      `msgpack:"stats"`
	Index runs.Index `msgpack:"index"` // map tasks: the output's partition segments
	// Combiner: the module declared a combiner (maps), so the job may
	// build a reduce tree (engine/coord Plan.FanIn).
	Combiner bool             `msgpack:"combiner"`
	Counters map[string]int64 `msgpack:"counters"`
	// Sample holds the keys a sample task's map emitted.
	Sample [][]byte `msgpack:"sample"`
	// Logs are the module's log lines (wmr.Log), in order.
	Logs []LogLine `msgpack:"logs"`
}

// LogLine is one of a module's log messages: Level 0 debug, 1 info, 2
// warn, 3 error.
type LogLine struct {
	Level int    `msgpack:"level" json:"level"`
	Msg   string `msgpack:"msg" json:"msg"`
}

// LevelName names a LogLine's level.
func (l LogLine) LevelName() string {
	return [...]string{"debug", "info", "warn", "error"}[min(max(l.Level, 0), 3)]
}

// ModuleLogs returns the module's log lines an attempt's error carries
// (also across a worker's wire), or nil.
func ModuleLogs(err error) []LogLine {
	var l interface{ ModuleLogs() []LogLine }
	if errors.As(err, &l) {
		return l.ModuleLogs()
	}
	return nil
}

// logsError is a failed attempt's error with the module's log lines.
type logsError struct {
	error
	logs []LogLine
}

func (e *logsError) Unwrap() error         { return e.error }
func (e *logsError) ModuleLogs() []LogLine { return e.logs }

// Window is a byte range of a sample task's input file.
type Window struct {
	Offset int64 `msgpack:"offset"`
	Length int64 `msgpack:"length"`
}

// Defaults for zero fields of Spec.
const (
	DefaultBatchBytes      = 256 << 10
	DefaultSortBufferBytes = 128 << 20
	DefaultChunkBytes      = 256 << 10
	DefaultSampleBytes     = 32 << 20
)

// RecordError is a map attempt's failure on one input record: the module
// failed while it held the record at Offset of Input.
type RecordError struct {
	Input  string
	Offset int64
	Err    error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("on the line at byte %d of %s: %v", e.Offset, e.Input, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// FailedRecord returns the record a failed attempt's error names, also
// after the error crossed a process boundary (see worker.TaskError).
func FailedRecord(err error) (input string, offset int64, msg string, ok bool) {
	var r interface {
		FailedRecord() (string, int64, string, bool)
	}
	if errors.As(err, &r) {
		return r.FailedRecord()
	}
	return "", 0, "", false
}

// FailedRecord reports the record: its input, offset and the module's error.
func (e *RecordError) FailedRecord() (string, int64, string, bool) {
	return e.Input, e.Offset, e.Err.Error(), true
}
