package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/wmr-dev/wmr/abi"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// mapTask is the state of one map attempt.
type mapTask struct {
	ctx  context.Context
	inst *wasmhost.Instance
	spec *Spec
	part partitioner
	buf  runs.Buffer
	// agg replaces buf when the module has a combiner it does not run
	// itself (no end-of-task call, so no in-module combining).
	agg    *runs.Aggregator
	budget int64
	spills []spill
	stats  Stats
	group  grouper
	// inGuest is set while wmr_map runs: a spill then cannot call the
	// combiner (the guest is not re-entrant).
	inGuest bool
	err     error
	// inModule: the module has a combiner and the end-of-task call, so it
	// combines its own output (ABI.md 2.6) and emits each key once per
	// flush of its table. Its output goes to buf as it comes: what the
	// aggregator would do again is hashing, copying and sorting keys that
	// are distinct already. repeats says a key may still come twice (the
	// module emitted before wmr_finish: its table flushed mid-task), so
	// the output is combined when written.
	inModule, repeats bool
}

type spill struct {
	path  string
	index runs.Index
}

// Emit implements wasmhost.Sink for map output.
func (m *mapTask) Emit(key, value []byte, partition int) error {
	// The hash is for the aggregator's table and hash partitioning; a
	// sort job with the range partitioner needs neither.
	var h uint64
	if m.agg != nil || (partition < 0 && !m.part.byRange) {
		h = abi.Hash(key)
	}
	if partition < 0 {
		partition = m.part.of(key, h)
	} else if partition >= m.spec.Partitions {
		return fmt.Errorf("partition %d out of range: the job has %d reducers", partition, m.spec.Partitions)
	}
	if m.agg != nil {
		m.agg.Add(h, partition, key, value)
	} else {
		// The arena grows by doubling, but never past the budget: a
		// guest emitting more in one call than the budget holds spills
		// (without the combiner) instead, so memory stays within it.
		if need := len(key) + len(value); m.buf.Room() < need {
			used := m.buf.Bytes()
			if used > 0 && int64(used+need) > m.budget {
				if err := m.spill(false); err != nil {
					return err
				}
			}
			if m.buf.Room() < need {
				grow := max(m.buf.Cap(), need)
				grow = int(min(int64(grow), m.budget-int64(m.buf.Bytes())))
				m.buf.Reserve(max(grow, need))
			}
		}
		m.buf.Add(partition, key, value)
	}
	m.stats.RecordsOut++
	m.stats.BytesOut += int64(len(key) + len(value))
	// The same for the aggregator, whose growth is its own.
	if int64(m.held()) >= 2*m.budget {
		return m.spill(false)
	}
	return nil
}

// held is the memory the map output in memory takes.
func (m *mapTask) held() int {
	if m.agg != nil {
		return m.agg.Bytes()
	}
	return m.buf.Bytes()
}

// combineEvery is how many values the aggregator takes between combine
// passes: enough to amortise a pass, few enough to stay in cache.
const combineEvery = 1 << 18

// afterBatch combines and spills as the budget requires, between guest
// calls.
func (m *mapTask) afterBatch() error {
	if m.agg == nil {
		if int64(m.buf.Bytes()) >= m.budget {
			return m.spill(true)
		}
		return nil
	}
	if m.agg.Pending() >= combineEvery || int64(m.agg.Bytes()) >= m.budget/2 {
		if err := m.combinePass(); err != nil {
			return err
		}
		if int64(m.agg.Bytes()) >= m.budget*3/4 {
			return m.spill(false)
		}
	}
	return nil
}

// combinePass runs the combiner over every key with several values.
func (m *mapTask) combinePass() error {
	if m.agg.Pending() == 0 {
		return nil
	}
	sink := aggSink{m.agg}
	_, _, err := m.group.run(m.agg.CombineStream(), func(chunk []byte, src wasmhost.ValueSource) error {
		return m.keyed(m.inst.Combine(m.ctx, chunk, src, sink))
	})
	if err != nil {
		return err
	}
	m.agg.FinishCombine()
	return nil
}

// aggSink takes a combiner's output back into the aggregator.
type aggSink struct{ agg *runs.Aggregator }

func (s aggSink) Emit(key, value []byte, _ int) error {
	if !s.agg.CombineEmit(abi.Hash(key), key, value) {
		return fmt.Errorf("the combiner emitted key %q, which it was not given: a combiner must emit the keys it is given", truncKey(key))
	}
	return nil
}

func runMap(ctx context.Context, inst *wasmhost.Instance, spec *Spec, progress Progress) (*Result, error) {
	m := &mapTask{ctx: ctx, inst: inst, spec: spec, budget: spec.SortBufferBytes, part: spec.partitioner()}
	if m.budget <= 0 {
		m.budget = DefaultSortBufferBytes
	}
	if inst.HasCombiner() {
		if m.inModule = inst.HasFinish(); !m.inModule {
			m.agg = &runs.Aggregator{}
		}
	}
	m.buf = takeBuffer(m.budget)
	defer func() { keepBuffer(m.buf) }()
	defer m.removeSpills()
	format, err := input.ParseFormat(spec.InputFormat)
	if err != nil {
		return nil, err
	}
	split := input.Split{File: spec.inputFile(format), Offset: spec.SplitOffset, Length: spec.SplitLength}
	called := func(err error) error {
		m.inGuest = false
		if err != nil {
			return err
		}
		if err := m.afterBatch(); err != nil {
			return err
		}
		progress(m.stats)
		return ctx.Err()
	}
	if inst.TakesTextBlocks() { // offered by Run's init (offersTextBlocks)
		err = feedTextBlocks(ctx, spec, split, &m.stats, func(room int, fill func([]byte) (int, int64, error)) error {
			m.inGuest = true
			return called(inst.MapText(ctx, room, fill, m))
		})
	} else {
		err = feedSplit(ctx, spec, split, spec.SkipOffsets, &m.stats, func(batch []byte) error {
			m.inGuest = true
			return called(inst.Map(ctx, batch, m))
		})
	}
	if err != nil {
		return nil, err
	}
	// The end-of-task call: a module that combines in itself emits what
	// it holds now.
	if inst.HasFinish() {
		m.repeats = m.stats.RecordsOut > 0 // its table flushed before the end
		m.inGuest = true
		err := inst.Finish(ctx, m)
		m.inGuest = false
		if err == nil {
			err = m.afterBatch()
		}
		if err != nil {
			return nil, err
		}
	}
	index, err := m.finish()
	if err != nil {
		return nil, err
	}
	m.stats.Spills = len(m.spills)
	progress(m.stats)
	return &Result{Stats: m.stats, Index: index, Combiner: inst.HasCombiner()}, nil
}

// recordCost says what a record of format f takes in its input, for
// progress (decided once per split, not per record): its value, plus its
// key's length if withKey, plus extra bytes (a line's newline, a kv
// record's length prefixes).
func recordCost(f input.Format) (withKey bool, extra int64) {
	switch f.Kind {
	case input.Fixed:
		return false, 0
	case input.KV:
		return true, 2
	}
	return false, 1
}

// errStopFeed, returned by a feedSplit call, ends the split early
// without error.
var errStopFeed = errors.New("stop feeding")

// feedSplit reads the records of split (passing over those at the offsets
// in skip, ascending) into batches of about spec.BatchBytes and hands each
// to call, which runs the module's map on it. A module error on one record
// comes back as a RecordError naming it.
func feedSplit(ctx context.Context, spec *Spec, split input.Split, skip []int64, stats *Stats, call func(batch []byte) error) error {
	batchBytes := spec.BatchBytes
	if batchBytes <= 0 {
		batchBytes = DefaultBatchBytes
	}
	recs, err := input.OpenRecords(split, spec.MaxLineBytes)
	if err != nil {
		return err
	}
	defer recs.Close()
	withKey, extra := recordCost(split.File.Format)
	var batch abi.BatchWriter
	batch.Reset()
	var offsets []int64 // offset of each record in the batch, for errors
	send := func() error {
		if batch.Len() == 0 {
			return nil
		}
		if err := call(batch.Bytes()); err != nil {
			var me *wasmhost.ModuleError
			if errors.As(err, &me) && me.Record >= 0 && me.Record < len(offsets) {
				// Named as the user knows the file (on a cluster, not the
				// node's shard path); skip offsets stay the shard's own.
				return &RecordError{Input: split.File.Shown(), Offset: split.File.At(offsets[me.Record]), Err: err}
			}
			return err
		}
		batch.Reset()
		offsets = offsets[:0]
		return nil
	}
	for {
		off, key, value, err := recs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		for len(skip) > 0 && skip[0] < off {
			skip = skip[1:]
		}
		if len(skip) > 0 && skip[0] == off {
			continue
		}
		batch.Add(key, value)
		offsets = append(offsets, off)
		stats.RecordsIn++
		stats.BytesIn += int64(len(value)) + extra
		if withKey {
			stats.BytesIn += int64(len(key))
		}
		if batch.Size() >= batchBytes {
			if err := send(); err != nil {
				if err == errStopFeed {
					return nil
				}
				return err
			}
		}
	}
	if err := send(); err != nil && err != errStopFeed {
		return err
	}
	return ctx.Err()
}

// spareBuffer keeps the last map task's sort buffer for the next one (a
// worker runs one task at a time, so one is enough): growing a buffer to
// its budget again would fault in every page of it anew. A worker holds
// at most its sort budget this way between tasks.
var spareBuffer struct {
	sync.Mutex
	buf runs.Buffer
}

// takeBuffer returns the spare buffer, empty, if it fits budget, or a new
// one; either grows in place up to budget where the system allows
// (runs.Buffer.Map).
func takeBuffer(budget int64) runs.Buffer {
	spareBuffer.Lock()
	b := spareBuffer.buf
	spareBuffer.buf = runs.Buffer{}
	spareBuffer.Unlock()
	if int64(b.Cap()) > budget { // kept under a larger budget
		b.Release()
	}
	b.Reset()
	if int64(b.Reach()) < budget {
		var fresh runs.Buffer
		if fresh.Map(int(budget)); fresh.Reach() > 0 {
			b.Release()
			b = fresh
		}
	}
	return b
}

// keepBuffer makes b the spare buffer if it is larger than the one kept,
// and releases the other.
func keepBuffer(b runs.Buffer) {
	b.Reset()
	spareBuffer.Lock()
	if b.Footprint() > spareBuffer.buf.Footprint() {
		b, spareBuffer.buf = spareBuffer.buf, b
	}
	spareBuffer.Unlock()
	b.Release()
}

// spill sorts the buffer and writes it to a new run file, combining when
// allowed and the module has a combiner.
func (m *mapTask) spill(combine bool) error {
	path := filepath.Join(m.spec.WorkDir, m.spec.TaskID+".a"+strconv.Itoa(m.spec.Attempt)+".spill"+strconv.Itoa(len(m.spills)))
	index, err := m.writeBuffer(path, combine && !m.inGuest)
	if err != nil {
		return err
	}
	m.spills = append(m.spills, spill{path, index})
	if m.agg != nil {
		m.agg.Reset()
	} else {
		m.buf.Reset()
	}
	return nil
}

// writeBuffer writes what is in memory, sorted, to a run file. The
// aggregator's values were combined by the last pass; combine=false then
// skips running the combiner again.
func (m *mapTask) writeBuffer(path string, combine bool) (runs.Index, error) {
	if m.agg != nil {
		return m.writeRun(path, m.agg.Sorted(m.spec.Partitions), false)
	}
	m.buf.Sort()
	streams := make([]runs.Stream, m.spec.Partitions)
	for p := range streams {
		streams[p] = m.buf.Partition(p)
	}
	return m.writeRun(path, streams, combine && (!m.inModule || m.repeats))
}

// writeRun writes one run file from one sorted stream per partition.
func (m *mapTask) writeRun(path string, streams []runs.Stream, combine bool) (runs.Index, error) {
	w, err := runs.Create(path, m.spec.Partitions)
	if err != nil {
		return runs.Index{}, err
	}
	combine = combine && m.inst.HasCombiner()
	for p, s := range streams {
		w.BeginPartition(p)
		if combine {
			sink := &combineSink{w: w, part: p, partOf: m.part}
			_, _, err = m.group.run(s, func(chunk []byte, src wasmhost.ValueSource) error {
				return m.keyed(m.inst.Combine(m.ctx, chunk, src, sink))
			})
		} else {
			err = copyStream(s, w)
		}
		if err != nil {
			w.Abort()
			return runs.Index{}, err
		}
	}
	return w.Close(m.spec.Partitions)
}

// keyed adds the failing key to a combiner's error.
func (m *mapTask) keyed(err error) error { return m.group.keyed("combining", err) }

func copyStream(s runs.Stream, w *runs.Writer) error {
	for {
		k, v, ok, err := s.Peek()
		if err != nil || !ok {
			return err
		}
		if err := w.Add(k, v); err != nil {
			return err
		}
		s.Advance()
	}
}

// finish writes the map output: the buffer alone when nothing spilled,
// otherwise the merge of every spill.
func (m *mapTask) finish() (runs.Index, error) {
	if m.agg != nil {
		if err := m.combinePass(); err != nil {
			return runs.Index{}, err
		}
	}
	if len(m.spills) == 0 {
		return m.writeBuffer(m.spec.OutputPath, true)
	}
	if m.buf.Len() > 0 || (m.agg != nil && m.agg.Keys() > 0) {
		if err := m.spill(true); err != nil {
			return runs.Index{}, err
		}
	}
	m.buf.Release()
	m.agg = nil
	var readers []*runs.Reader
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	streams := make([]runs.Stream, m.spec.Partitions)
	for p := range streams {
		parts := make([]runs.Stream, 0, len(m.spills))
		for _, s := range m.spills {
			off, n := s.index.Segment(p)
			r, err := runs.OpenSegment(runs.Segment{Path: s.path, Offset: off, Length: n, Sums: s.index.Checksums(p)})
			if err != nil {
				return runs.Index{}, err
			}
			readers = append(readers, r)
			parts = append(parts, r)
		}
		streams[p] = runs.NewMerger(parts)
	}
	return m.writeRun(m.spec.OutputPath, streams, true)
}

func (m *mapTask) removeSpills() {
	for _, s := range m.spills {
		os.Remove(s.path)
	}
}

// combineSink writes a combiner's output to the run being written. A
// combiner must keep keys (and so order and partition).
type combineSink struct {
	w       *runs.Writer
	part    int
	partOf  partitioner
	records *int64 // if set, counts what the combiner emitted
}

func (c *combineSink) Emit(key, value []byte, partition int) error {
	if partition < 0 {
		partition = c.partOf.of(key, abi.Hash(key))
	}
	if partition != c.part {
		return fmt.Errorf("the combiner emitted key %q, which belongs to another partition: a combiner must emit the keys it is given", truncKey(key))
	}
	if err := c.w.Add(key, value); err != nil {
		return fmt.Errorf("the combiner emitted keys out of order (a combiner must emit the keys it is given): %w", err)
	}
	if c.records != nil {
		*c.records++
	}
	return nil
}

func truncKey(k []byte) string {
	if len(k) > 60 {
		return string(k[:60]) + "..."
	}
	return string(k)
}
