package task

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/wmr-dev/wmr/abi/kv"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// Output formats of a reduce task.
const (
	OutputText = "text"
	OutputKV   = "kv"
)

// outputFixed is the prefix of "fixed:N": each record's value alone,
// which must be N bytes, nothing between (jobs whose values are binary
// records, such as TeraSort's), so the output reads back as
// --input-format fixed:N.
const outputFixed = "fixed:"

// CheckOutputFormat says whether name is an output format ("" is text).
func CheckOutputFormat(name string) error {
	_, err := fixedOutput(name)
	return err
}

// fixedOutput returns N for "fixed:N" (0 for text and kv).
func fixedOutput(name string) (int, error) {
	switch name {
	case "", OutputText, OutputKV:
		return 0, nil
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(name, outputFixed)); err == nil && strings.HasPrefix(name, outputFixed) && n >= 1 && n <= input.MaxRecordSize {
		return n, nil
	}
	return 0, fmt.Errorf("unknown output format %q: use %q (the default), %q or fixed:N (values of N bytes)", name, OutputText, OutputKV)
}

// textSink writes reduce output as key<TAB>value lines; a record with an
// empty value is the key alone (key<LF>), as Hadoop's text output writes
// a key without a value, so a job can write lines back as they were (the
// sort example). It never writes what cannot be read back line by line:
// a key or value holding a newline, or a key holding a tab while the
// record has a value (where the key would end is lost), fail the task.
type textSink struct {
	w     *bufio.Writer
	stats *Stats
}

func (o *textSink) Emit(key, value []byte, _ int) error {
	if err := checkText(key, value); err != nil {
		return err
	}
	o.w.Write(key)
	n := len(key) + 1
	if len(value) > 0 {
		o.w.WriteByte('\t')
		o.w.Write(value)
		n += 1 + len(value)
	}
	if err := o.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	o.stats.RecordsOut++
	o.stats.BytesOut += int64(n)
	return nil
}

// checkText refuses a record text output would write ambiguously.
func checkText(key, value []byte) error {
	var what string
	switch {
	case bytes.IndexByte(key, '\n') >= 0:
		what = "its key holds a newline"
	case bytes.IndexByte(value, '\n') >= 0:
		what = "its value holds a newline"
	case len(value) > 0 && bytes.IndexByte(key, '\t') >= 0:
		what = "its key holds a tab"
	default:
		return nil
	}
	return unwritable("key %q, which text output cannot write (%s, so its line would not read back as the record): use --output-format kv, which keeps any bytes",
		truncKey(key), what)
}

// ErrUnwritable is a record the job's output format cannot hold; the
// module emitted it, so it is the module's fault (retrying cannot help).
var ErrUnwritable = errors.New("record cannot be written")

type unwritableError struct{ msg string }

func (e *unwritableError) Error() string { return e.msg }
func (e *unwritableError) Unwrap() error { return ErrUnwritable }

func unwritable(format string, args ...any) error {
	return &unwritableError{fmt.Sprintf(format, args...)}
}

// valuesSink writes each record's value alone (fixed:N).
type valuesSink struct {
	w     *bufio.Writer
	size  int
	stats *Stats
}

func (o *valuesSink) Emit(key, value []byte, _ int) error {
	if len(value) != o.size {
		return unwritable("a value of %d bytes under key %q, but --output-format fixed:%d writes values of %d bytes", len(value), truncKey(key), o.size, o.size)
	}
	if _, err := o.w.Write(value); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	o.stats.RecordsOut++
	o.stats.BytesOut += int64(len(value))
	return nil
}

// kvSink writes reduce output as a kv file (abi/kv): any bytes.
type kvSink struct {
	w     *kv.Writer
	stats *Stats
}

func (o *kvSink) Emit(key, value []byte, _ int) error {
	if err := o.w.Add(key, value); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	o.stats.RecordsOut++
	return nil
}

func runReduce(ctx context.Context, inst *wasmhost.Instance, spec *Spec, progress Progress) (*Result, error) {
	var stats Stats
	for _, seg := range spec.Inputs {
		stats.BytesIn += seg.Length
	}
	// Thousands of map outputs are merged in passes of at most the fan-in,
	// so open files and read buffers stay bounded (Hadoop's
	// io.sort.factor); the records and their order are the same.
	inputs, removeMerged, err := runs.ReduceFanIn(spec.Inputs, spec.MergeFanIn, spec.WorkDir, fmt.Sprintf("%s.a%d", spec.TaskID, spec.Attempt))
	if err != nil {
		return nil, err
	}
	defer removeMerged()
	streams := make([]runs.Stream, 0, len(inputs))
	for _, seg := range inputs {
		if seg.Length == 0 {
			continue
		}
		r, err := runs.OpenSegment(seg)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		streams = append(streams, r)
	}
	f, err := os.Create(spec.OutputPath)
	if err != nil {
		return nil, fmt.Errorf("create output: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(spec.OutputPath)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	var sink wasmhost.Sink = &textSink{w: bw, stats: &stats}
	var kvw *kv.Writer
	size, err := fixedOutput(spec.OutputFormat)
	if err != nil {
		return nil, err
	}
	switch {
	case spec.OutputFormat == OutputKV:
		kvw = kv.NewWriter(bw)
		sink = &kvSink{w: kvw, stats: &stats}
	case size > 0:
		sink = &valuesSink{w: bw, size: size, stats: &stats}
	}
	var g grouper
	calls := 0
	_, values, err := g.run(runs.NewMerger(streams), func(chunk []byte, src wasmhost.ValueSource) error {
		if err := inst.Reduce(ctx, chunk, src, sink); err != nil {
			return g.keyed("reducing", err)
		}
		if calls++; calls%16 == 0 {
			progress(stats)
		}
		return ctx.Err()
	})
	stats.RecordsIn = values
	if err != nil {
		return nil, err
	}
	if err := inst.Finish(ctx, sink); err != nil { // the end-of-task call, if the module asked for it
		return nil, err
	}
	if kvw != nil {
		if err := kvw.Close(); err != nil {
			return nil, fmt.Errorf("write output: %w", err)
		}
		stats.BytesOut = kvw.Written()
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write output: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync output: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close output: %w", err)
	}
	ok = true
	progress(stats)
	return &Result{Stats: stats}, nil
}
