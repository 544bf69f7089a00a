package runs

import (
	"slices"
	"strings"
)

// Aggregator collects map output by key in a hash table, for modules with
// a combiner: the combiner shrinks each key's values now and then
// (combine passes), and only the distinct keys are sorted when the
// aggregator is written out. For jobs like word count, where a few
// thousand keys receive millions of values, this replaces sorting every
// record with one hash lookup per record.
//
// Values are stored in arrival order; a pass orders them by key with a
// stable counting sort, so each key's values keep their arrival order and
// output stays deterministic. An Aggregator is not safe for concurrent use.
type Aggregator struct {
	index  map[string]int32
	groups []aggGroup
	cur    aggStore // values since the last pass, plus the last pass's output
	next   aggStore // what a combine pass writes
	order  []int32  // value indices of cur, grouped by key
	// pending counts values added since the last combine pass.
	pending int
	// combining is set during a combine pass.
	combining bool
}

type aggGroup struct {
	key  string
	part uint32
	n    int32 // values in cur
	nn   int32 // values in next
	// start is the group's first position in order.
	start int32
}

type aggValue struct {
	group int32
	len   uint32
	off   int
}

type aggStore struct {
	arena []byte
	vals  []aggValue
}

func (s *aggStore) add(group int32, v []byte) {
	s.vals = append(s.vals, aggValue{group: group, len: uint32(len(v)), off: len(s.arena)})
	s.arena = append(s.arena, v...)
}

func (s *aggStore) reset() {
	s.arena = s.arena[:0]
	s.vals = s.vals[:0]
}

// groupOverhead approximates the memory of one key beyond its bytes: the
// map entry, the string header and the group record.
const groupOverhead = 96

// Add appends value to key's values.
func (a *Aggregator) Add(part int, key, value []byte) {
	if a.index == nil {
		a.index = map[string]int32{}
	}
	g, ok := a.index[string(key)]
	if !ok {
		g = int32(len(a.groups))
		k := string(key)
		a.index[k] = g
		a.groups = append(a.groups, aggGroup{key: k, part: uint32(part)})
	}
	a.cur.add(g, value)
	a.groups[g].n++
	a.pending++
}

// Bytes approximates the memory the aggregator holds.
func (a *Aggregator) Bytes() int {
	return len(a.cur.arena) + len(a.cur.vals)*16 + len(a.next.arena) + len(a.next.vals)*16 +
		len(a.order)*4 + len(a.groups)*groupOverhead
}

// Pending is the number of values added since the last combine pass.
func (a *Aggregator) Pending() int { return a.pending }

// Keys is the number of distinct keys.
func (a *Aggregator) Keys() int { return len(a.groups) }

// Reset empties the aggregator, keeping its memory.
func (a *Aggregator) Reset() {
	clear(a.index)
	a.groups = a.groups[:0]
	a.cur.reset()
	a.next.reset()
	a.order = a.order[:0]
	a.pending = 0
}

// groupValues orders cur's values by group (stable), setting each group's
// start.
func (a *Aggregator) groupValues() {
	pos := int32(0)
	for i := range a.groups {
		a.groups[i].start = pos
		pos += a.groups[i].n
	}
	a.order = slices.Grow(a.order[:0], len(a.cur.vals))[:len(a.cur.vals)]
	fill := make([]int32, len(a.groups))
	for i, v := range a.cur.vals {
		g := v.group
		a.order[a.groups[g].start+fill[g]] = int32(i)
		fill[g]++
	}
}

// CombineStream returns the values of every key with two or more values,
// key by key, for a combine pass; the combiner's output for a key goes to
// CombineEmit. Keys come in table order (not sorted): the combiner only
// needs each key's values together. Call FinishCombine after the pass.
func (a *Aggregator) CombineStream() *AggStream {
	a.groupValues()
	a.combining = true
	s := &AggStream{a: a, minValues: 2, groups: make([]int32, 0, len(a.groups))}
	for g := range a.groups {
		if a.groups[g].n >= 2 {
			s.groups = append(s.groups, int32(g))
		}
	}
	return s
}

// CombineEmit records a combiner's output value for key. ok is false when
// key is not in the aggregator (a combiner that changed keys).
func (a *Aggregator) CombineEmit(key, value []byte) (ok bool) {
	g, found := a.index[string(key)]
	if !found || !a.combining {
		return false
	}
	a.next.add(g, value)
	a.groups[g].nn++
	return true
}

// FinishCombine replaces each combined key's values with what the combiner
// emitted for it (keys with a single value keep it).
func (a *Aggregator) FinishCombine() {
	for g := range a.groups {
		gr := &a.groups[g]
		if gr.n < 2 {
			for _, vi := range a.order[gr.start : gr.start+gr.n] {
				v := a.cur.vals[vi]
				a.next.add(int32(g), a.cur.arena[v.off:v.off+int(v.len)])
				gr.nn++
			}
		}
		gr.n, gr.nn = gr.nn, 0
	}
	a.cur, a.next = a.next, a.cur
	a.next.reset()
	a.pending = 0
	a.combining = false
}

// Sorted returns one stream per partition over all values, keys in
// bytewise order and each key's values in order. The aggregator must not
// change while the streams are read.
func (a *Aggregator) Sorted(parts int) []Stream {
	a.groupValues()
	order := make([]int32, len(a.groups))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int {
		gx, gy := &a.groups[x], &a.groups[y]
		if gx.part != gy.part {
			if gx.part < gy.part {
				return -1
			}
			return 1
		}
		return strings.Compare(gx.key, gy.key)
	})
	streams := make([]Stream, parts)
	start := 0
	for p := 0; p < parts; p++ {
		end := start
		for end < len(order) && int(a.groups[order[end]].part) == p {
			end++
		}
		streams[p] = &AggStream{a: a, groups: order[start:end], minValues: 1}
		start = end
	}
	return streams
}

// AggStream reads an Aggregator's values as records, group by group. It
// implements Stream.
type AggStream struct {
	a         *Aggregator
	groups    []int32
	minValues int32
	gi        int   // index in groups
	vi        int32 // index within the group's values
	keyBuf    []byte
	started   bool
}

func (s *AggStream) settle() {
	for s.gi < len(s.groups) {
		gr := &s.a.groups[s.groups[s.gi]]
		if gr.n >= s.minValues && s.vi < gr.n {
			if s.vi == 0 {
				s.keyBuf = append(s.keyBuf[:0], gr.key...)
			}
			return
		}
		s.gi++
		s.vi = 0
	}
}

// Peek implements Stream.
func (s *AggStream) Peek() (key, value []byte, ok bool, err error) {
	if !s.started {
		s.started = true
		s.settle()
	}
	if s.gi >= len(s.groups) {
		return nil, nil, false, nil
	}
	gr := &s.a.groups[s.groups[s.gi]]
	v := s.a.cur.vals[s.a.order[gr.start+s.vi]]
	return s.keyBuf, s.a.cur.arena[v.off : v.off+int(v.len)], true, nil
}

// Advance implements Stream.
func (s *AggStream) Advance() {
	if !s.started {
		s.Peek()
	}
	if s.gi >= len(s.groups) {
		return
	}
	s.vi++
	if s.vi >= s.a.groups[s.groups[s.gi]].n {
		s.gi++
		s.vi = 0
		s.settle()
	}
}
