package worker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/task"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// Frame types.
const (
	frameRun      byte = 'R' // parent → worker: a task.Spec
	frameLoad     byte = 'L' // parent → worker: a task.Spec whose module to load now; no reply
	frameProgress byte = 'P' // worker → parent: task.Stats so far
	frameDone     byte = 'D' // worker → parent: a task.Result
	frameError    byte = 'E' // worker → parent: a TaskError
)

// maxFrame bounds a frame's body; a larger length means a broken stream.
const maxFrame = 64 << 20

// TaskError is a failed attempt as reported by a worker. Kind names the
// wasmhost sentinel for module errors ("" for errors of the machine: I/O,
// a missing file), so the parent can tell deterministic module failures
// from retryable ones.
type TaskError struct {
	Msg  string `msgpack:"msg"`
	Kind string `msgpack:"kind"`
	// The input record the module failed on, if any (task.RecordError).
	HasRecord bool   `msgpack:"has_record"`
	Input     string `msgpack:"input"`
	Offset    int64  `msgpack:"offset"`
	RecordMsg string `msgpack:"record_msg"`
	// Source is the task whose output was found corrupt (Kind "corrupt").
	Source string `msgpack:"source"`
	// Logs are the module's log lines before it failed.
	Logs []task.LogLine `msgpack:"logs"`
}

// ModuleLogs returns the module's log lines (see task.ModuleLogs).
func (e *TaskError) ModuleLogs() []task.LogLine { return e.Logs }

// CorruptSource names the task whose output the attempt found damaged.
func (e *TaskError) CorruptSource() string { return e.Source }

// FailedRecord reports the record the module failed on (see
// task.FailedRecord); ok is false when the error names none.
func (e *TaskError) FailedRecord() (string, int64, string, bool) {
	return e.Input, e.Offset, e.RecordMsg, e.HasRecord
}

var kinds = map[string]error{
	"invalid":     wasmhost.ErrInvalidModule,
	"abi":         wasmhost.ErrABIVersion,
	"trap":        wasmhost.ErrTrap,
	"failed":      wasmhost.ErrModuleFailed,
	"malformed":   wasmhost.ErrMalformedOutput,
	"memory":      wasmhost.ErrMemoryLimit,
	"output":      wasmhost.ErrOutputLimit,
	"interrupted": wasmhost.ErrInterrupted,
	"corrupt":     runs.ErrCorrupt,
	"badinput":    input.ErrBadInput,
	"unwritable":  task.ErrUnwritable,
}

// kindOrder is the order newTaskError tries kinds in.
var kindOrder = []string{"unwritable", "badinput", "corrupt", "invalid", "abi", "memory", "output", "interrupted", "malformed", "trap", "failed"}

func (e *TaskError) Error() string { return e.Msg }

// Unwrap returns the wasmhost sentinel the error was made from, if any.
func (e *TaskError) Unwrap() error { return kinds[e.Kind] }

// newTaskError captures err for the wire.
func newTaskError(err error) *TaskError {
	te := &TaskError{Msg: err.Error()}
	if input, off, msg, ok := task.FailedRecord(err); ok {
		te.HasRecord, te.Input, te.Offset, te.RecordMsg = true, input, off, msg
	}
	// The most telling kind first: an error can wrap several (a record
	// the output cannot hold is also a malformed emit), and the parent
	// classifies by this one.
	for _, name := range kindOrder {
		if errors.Is(err, kinds[name]) {
			te.Kind = name
			break
		}
	}
	te.Source = runs.CorruptSource(err)
	te.Logs = task.ModuleLogs(err)
	return te
}

func writeFrame(w *bufio.Writer, typ byte, body any) error {
	b, err := msgpack.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(b)))
	hdr[4] = typ
	w.Write(hdr[:])
	w.Write(b)
	return w.Flush()
}

func readFrame(r *bufio.Reader) (typ byte, body []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds %d", n, maxFrame)
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, fmt.Errorf("read frame body: %w", err)
	}
	return hdr[4], body, nil
}
