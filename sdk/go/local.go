package wmr

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/wmr-dev/wmr/abi"
)

// Pair is a key/value pair for RunLocal.
type Pair struct{ Key, Value []byte }

// LocalOptions configure RunLocal.
type LocalOptions struct {
	Params   map[string]string
	Reducers int // default 1
	// InputFile is the base name reported in the task context.
	InputFile string
	// ChunkValues caps how many values of a key go in one reduce chunk
	// before the rest is streamed, to exercise streaming in tests
	// (default 1024).
	ChunkValues int
}

// RunLocal runs job in memory over input, the way the wmr host would (map,
// combine, partition, sort, reduce through the ABI's own wire format), and
// returns the output pairs partition by partition in key order. It is meant
// for unit-testing jobs natively with go test; it is not a substitute for
// the engine (no spilling, no limits). It is not safe for concurrent use:
// Task, Counter and Log refer to the RunLocal in progress.
func RunLocal(job Job, input []Pair, opt LocalOptions) ([]Pair, error) {
	if opt.Reducers <= 0 {
		opt.Reducers = 1
	}
	if opt.ChunkValues <= 0 {
		opt.ChunkValues = 1024
	}
	h := &localHost{}
	g := newGuest(h)
	g.job = &job
	h.g = g
	// Task, Counter and Log reach the running guest through theGuest.
	saved := theGuest
	theGuest = g
	defer func() { theGuest = saved }()
	initMsg := func(kind string, part int) error {
		b, err := abi.EncodeInit(&abi.Init{ABI: abi.Version, JobID: "local", TaskID: kind, TaskKind: kind,
			InputFile: opt.InputFile, Partition: part, NumPartitions: opt.Reducers, Params: opt.Params, Finish: true})
		if err != nil {
			return err
		}
		if g.init(b) < 0 {
			return h.err
		}
		return nil
	}
	if err := initMsg(abi.TaskMap, 0); err != nil {
		return nil, err
	}
	var w abi.BatchWriter
	w.Reset()
	for _, p := range input {
		w.Add(p.Key, p.Value)
	}
	if g.mapBatch(w.Bytes()) != abi.StatusOK {
		return nil, h.err
	}
	if g.finish() != abi.StatusOK {
		return nil, h.err
	}
	mapped := h.take()
	if job.Combine != nil {
		var err error
		if mapped, err = h.group(mapped, opt, job.Combine); err != nil {
			return nil, err
		}
	}
	parts := make([][]Pair, opt.Reducers)
	for _, r := range mapped {
		p := r.part
		if p < 0 {
			p = abi.Partition(r.Key, opt.Reducers)
		}
		if p >= opt.Reducers {
			return nil, fmt.Errorf("partition %d out of range [0,%d)", p, opt.Reducers)
		}
		parts[p] = append(parts[p], r.Pair)
	}
	var out []Pair
	for p, part := range parts {
		if err := initMsg(abi.TaskReduce, p); err != nil {
			return nil, err
		}
		recs := make([]localRecord, len(part))
		for i, r := range part {
			recs[i] = localRecord{Pair: r, part: p}
		}
		reduced, err := h.group(recs, opt, job.Reduce)
		if err != nil {
			return nil, err
		}
		if g.finish() != abi.StatusOK {
			return nil, h.err
		}
		for _, r := range h.take() {
			if r.part < 0 {
				r.part = p
			}
			reduced = append(reduced, r)
		}
		for _, r := range reduced {
			out = append(out, r.Pair)
		}
	}
	return out, nil
}

type localRecord struct {
	Pair
	part int
}

// localHost is the host side of RunLocal.
type localHost struct {
	g       *guest
	emitted []localRecord
	err     error
	pending [][]byte // values of the continuing group not yet handed over
}

func (h *localHost) take() []localRecord {
	r := h.emitted
	h.emitted = nil
	return r
}

func (h *localHost) emit(b []byte) {
	var r abi.BatchReader
	if err := r.Reset(b); err != nil {
		h.err = err
		return
	}
	for {
		rec, ok, err := r.Next()
		if err != nil {
			h.err = err
			return
		}
		if !ok {
			return
		}
		h.emitted = append(h.emitted, localRecord{Pair{bytes.Clone(rec.Key), bytes.Clone(rec.Value)}, rec.Partition})
	}
}

func (h *localHost) nextValues(buf []byte) int32 {
	if len(h.pending) == 0 {
		return 0
	}
	var c abi.ContinuationWriter
	c.Reset()
	for len(h.pending) > 0 && c.Size()+abi.ValueSize(len(h.pending[0])) <= len(buf) {
		c.AddValue(h.pending[0])
		h.pending = h.pending[1:]
	}
	if c.Len() == 0 {
		return -int32(c.Size() + abi.ValueSize(len(h.pending[0])))
	}
	return int32(copy(buf, c.Bytes(len(h.pending) > 0)))
}

func (h *localHost) fail(b []byte) {
	msg, idx, err := abi.DecodeFail(b)
	if err != nil {
		h.err = err
		return
	}
	if idx >= 0 {
		h.err = fmt.Errorf("record %d: %s", idx, msg)
	} else {
		h.err = errors.New(msg)
	}
}

func (h *localHost) log(int32, []byte)     {}
func (h *localHost) counter([]byte, int64) {}

// group sorts recs by key and calls fn through the reduce path, one group
// per chunk, streaming values past opt.ChunkValues.
func (h *localHost) group(recs []localRecord, opt LocalOptions, fn func([]byte, *Values, *Emitter) error) ([]localRecord, error) {
	slices.SortStableFunc(recs, func(a, b localRecord) int { return bytes.Compare(a.Key, b.Key) })
	var out []localRecord
	for i := 0; i < len(recs); {
		j := i
		for j < len(recs) && bytes.Equal(recs[j].Key, recs[i].Key) {
			j++
		}
		var c abi.ChunkWriter
		c.Reset()
		c.BeginGroup(recs[i].Key)
		k := i
		for ; k < j && k-i < opt.ChunkValues; k++ {
			c.AddValue(recs[k].Value)
		}
		h.pending = h.pending[:0]
		for ; k < j; k++ {
			h.pending = append(h.pending, recs[k].Value)
		}
		c.EndGroup(len(h.pending) > 0)
		if h.g.reduceChunk(c.Bytes(), fn) != abi.StatusOK {
			return nil, h.err
		}
		if h.err != nil {
			return nil, h.err
		}
		emitted := h.take()
		for e := range emitted {
			if emitted[e].part < 0 {
				emitted[e].part = recs[i].part
			}
		}
		out = append(out, emitted...)
		i = j
	}
	return out, nil
}
