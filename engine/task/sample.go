package task

import (
	"context"

	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// sampleSink keeps the keys a sample task's map emits, up to a byte budget
// per window so that every window is represented.
type sampleSink struct {
	arena []byte
	ends  []int // end offset in arena of each key
	room  int64 // key bytes this window may still add
	stats *Stats
}

func (s *sampleSink) Emit(key, _ []byte, partition int) error {
	s.stats.RecordsOut++
	if partition >= 0 || s.room < int64(len(key)) {
		// A module that chooses its own partitions does not use the
		// sample; a full window stops being fed.
		s.room = 0
		return nil
	}
	s.arena = append(s.arena, key...)
	s.ends = append(s.ends, len(s.arena))
	s.room -= int64(len(key))
	return nil
}

func (s *sampleSink) keys() [][]byte {
	out := make([][]byte, len(s.ends))
	start := 0
	for i, end := range s.ends {
		out[i] = s.arena[start:end:end]
		start = end
	}
	return out
}

// runSample runs the module's map over each window of the input and
// returns the keys it emitted (with those it emits in its end-of-task
// call, for a module that combines in itself).
func runSample(ctx context.Context, inst *wasmhost.Instance, spec *Spec, progress Progress) (*Result, error) {
	budget := spec.SampleBytes
	if budget <= 0 {
		budget = DefaultSampleBytes
	}
	var stats Stats
	sink := &sampleSink{stats: &stats}
	format, err := input.ParseFormat(spec.InputFormat)
	if err != nil {
		return nil, err
	}
	file := spec.inputFile(format)
	windows := spec.Windows
	if !format.Splittable() && len(windows) > 1 {
		// A compressed file is read from its start: one window, as far as
		// the budget of all of them goes.
		windows = windows[:1]
	}
	perWindow := budget / int64(max(len(windows), 1))
	for _, w := range windows {
		sink.room = perWindow
		err := feedSplit(ctx, spec, input.Split{File: file, Offset: w.Offset, Length: w.Length}, nil, &stats, func(batch []byte) error {
			if err := inst.Map(ctx, batch, sink); err != nil {
				return err
			}
			progress(stats)
			if sink.room <= 0 {
				return errStopFeed
			}
			return ctx.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	sink.room = max(budget-int64(len(sink.arena)), 0)
	if err := inst.Finish(ctx, sink); err != nil {
		return nil, err
	}
	progress(stats)
	return &Result{Stats: stats, Sample: sink.keys()}, nil
}
