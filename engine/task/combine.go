package task

import (
	"context"
	"errors"
	"fmt"

	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// runCombine runs a combine task of the reduce tree. For each partition
// it merges that partition's segment of every input, in input order (so a
// key's values keep the order of the maps they came from), and passes each
// key's values through the module's combiner; the result is one run file
// shaped like a map task's output, which the next level or the reduce
// reads in its place.
func runCombine(ctx context.Context, inst *wasmhost.Instance, spec *Spec, progress Progress) (*Result, error) {
	if !inst.HasCombiner() {
		return nil, errors.New("a combine task needs a module with a combiner (wmr_combine)")
	}
	parts := spec.Partitions
	if parts < 1 || len(spec.Inputs)%parts != 0 {
		return nil, fmt.Errorf("combine task: %d input segments for %d partitions", len(spec.Inputs), parts)
	}
	inputs := len(spec.Inputs) / parts
	var stats Stats
	for _, seg := range spec.Inputs {
		stats.BytesIn += seg.Length
	}
	w, err := runs.Create(spec.OutputPath, parts)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			w.Abort()
		}
	}()
	var g grouper
	part := spec.partitioner()
	calls := 0
	for p := range parts {
		w.BeginPartition(p)
		err := func() error {
			streams := make([]runs.Stream, 0, inputs)
			for i := range inputs {
				seg := spec.Inputs[i*parts+p]
				if seg.Length == 0 {
					continue
				}
				r, err := runs.OpenSegment(seg)
				if err != nil {
					return err
				}
				defer r.Close()
				streams = append(streams, r)
			}
			sink := &combineSink{w: w, part: p, partOf: part, records: &stats.RecordsOut}
			_, values, err := g.run(runs.NewMerger(streams), func(chunk []byte, src wasmhost.ValueSource) error {
				if err := inst.Combine(ctx, chunk, src, sink); err != nil {
					return g.keyed("combining", err)
				}
				if calls++; calls%16 == 0 {
					progress(stats)
				}
				return ctx.Err()
			})
			stats.RecordsIn += values
			return err
		}()
		if err != nil {
			return nil, err
		}
	}
	index, err := w.Close(parts)
	if err != nil {
		return nil, err
	}
	ok = true
	if n := len(index.Offsets); n > 0 {
		stats.BytesOut = index.Offsets[n-1]
	}
	progress(stats)
	return &Result{Stats: stats, Index: index}, nil
}
