package engine

import (
	"errors"
	"sort"

	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/task"
	"github.com/wmr-dev/wmr/engine/wasmhost"
	"github.com/wmr-dev/wmr/engine/worker"
)

// moduleFaults are the errors a module causes; retrying on another
// worker or node cannot help a deterministic module, so they are charged.
var moduleFaults = []error{wasmhost.ErrTrap, wasmhost.ErrModuleFailed, wasmhost.ErrMalformedOutput, wasmhost.ErrMemoryLimit,
	wasmhost.ErrOutputLimit, wasmhost.ErrInterrupted, worker.ErrTimeLimit, worker.ErrWorkerCrashed, worker.ErrWorkerOutOfMemory, worker.ErrSeccomp}

// Classify says whose fault a failed attempt's error (from RunTask) is:
// an invalid module fails the job, a worker killed from outside is not the
// task's fault, a module error is, a map output found corrupt sends its map
// back to run again, and anything else (I/O on this machine: a full disk, a
// missing file) is a fault of the machine that ran it.
func Classify(err error) coord.Class {
	switch {
	case errors.Is(err, wasmhost.ErrInvalidModule), errors.Is(err, wasmhost.ErrABIVersion),
		// Input that is not in its format, or output its format cannot
		// hold: the same on every attempt.
		errors.Is(err, input.ErrBadInput), errors.Is(err, task.ErrUnwritable):
		return coord.Invalid
	case errors.Is(err, worker.ErrWorkerKilled):
		return coord.Lost
	case len(CorruptMaps(err)) > 0:
		return coord.FetchFailed
	}
	for _, k := range moduleFaults {
		if errors.Is(err, k) {
			return coord.ModuleFault
		}
	}
	return coord.LocalFault
}

// FailureOf classifies a failed attempt's error and returns the input
// record the module failed on, if it names one.
func FailureOf(err error) (coord.Class, *coord.Record) {
	class := Classify(err)
	if input, off, msg, ok := task.FailedRecord(err); ok && class == coord.ModuleFault {
		return class, &coord.Record{Input: input, Offset: off, Err: msg}
	}
	return class, nil
}

// CorruptMaps names the map or combine task whose output err found damaged (a reduce
// reading a segment that failed its checksum), or nil.
func CorruptMaps(err error) []coord.TaskID {
	if !errors.Is(err, runs.ErrCorrupt) {
		return nil
	}
	id, perr := coord.ParseTaskID(runs.CorruptSource(err))
	if perr != nil || id.Kind == coord.Reduce {
		return nil
	}
	return []coord.TaskID{id}
}

// FailedEvent is the job core's event for attempt a that failed with err.
func FailedEvent(a coord.AttemptID, err error) coord.Failed {
	class, rec := FailureOf(err)
	return coord.Failed{Attempt: a, Class: class, Err: err, Record: rec, LostMaps: CorruptMaps(err)}
}

// SkipOffsets turns the records a map attempt must skip into its spec's
// ascending offsets.
func SkipOffsets(skip []coord.Record) []int64 {
	var out []int64
	for _, r := range skip {
		out = append(out, r.Offset)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}
