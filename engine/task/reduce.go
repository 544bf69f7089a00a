package task

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// outputSink writes reduce output as key<TAB>value lines; a record with
// an empty value is the key alone (key<LF>), as Hadoop's text output
// writes a key without a value, so a job can write lines back as they
// were (the sort example).
type outputSink struct {
	w     *bufio.Writer
	stats *Stats
}

func (o *outputSink) Emit(key, value []byte, _ int) error {
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

func runReduce(ctx context.Context, inst *wasmhost.Instance, spec *Spec, progress Progress) (*Result, error) {
	var stats Stats
	streams := make([]runs.Stream, 0, len(spec.Inputs))
	for _, seg := range spec.Inputs {
		if seg.Length == 0 {
			continue
		}
		r, err := runs.OpenSegment(seg)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		streams = append(streams, r)
		stats.BytesIn += seg.Length
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
	sink := &outputSink{w: bufio.NewWriterSize(f, 256<<10), stats: &stats}
	var g grouper
	calls := 0
	_, values, err := g.run(runs.NewMerger(streams), func(chunk []byte, src wasmhost.ValueSource) error {
		if err := inst.Reduce(ctx, chunk, src, sink); err != nil {
			var me *wasmhost.ModuleError
			if errors.As(err, &me) {
				if k, ok := g.groupKey(me.Record); ok {
					return fmt.Errorf("reducing key %q: %w", truncKey(k), err)
				}
			}
			return err
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
	if err := sink.w.Flush(); err != nil {
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
