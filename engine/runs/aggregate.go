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
	// slots is an open-addressing hash table of group index+1 (0 = empty),
	// probed linearly from the key's hash; len(slots) is a power of two.
	slots  []int32
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
	hash uint64
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

// slot mixes a key hash into a table position (FNV's low bits alone are
// weak for a power-of-two table).
func (a *Aggregator) slot(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h & uint64(len(a.slots)-1)
}

// find returns key's group, or -1 and the empty slot where it would go.
func (a *Aggregator) find(h uint64, key []byte) (int32, uint64) {
	i := a.slot(h)
	for {
		s := a.slots[i]
		if s == 0 {
			return -1, i
		}
		if g := &a.groups[s-1]; g.hash == h && g.key == string(key) {
			return s - 1, i
		}
		i = (i + 1) & uint64(len(a.slots)-1)
	}
}

func (a *Aggregator) grow() {
	n := 1024
	if len(a.slots) > 0 {
		n = 2 * len(a.slots)
	}
	a.slots = make([]int32, n)
	for g := range a.groups {
		i := a.slot(a.groups[g].hash)
		for a.slots[i] != 0 {
			i = (i + 1) & uint64(n-1)
		}
		a.slots[i] = int32(g) + 1
	}
}

// Add appends value to key's values. hash is abi.Hash(key), which the
// caller has computed anyway to choose the partition.
func (a *Aggregator) Add(hash uint64, part int, key, value []byte) {
	if 2*(len(a.groups)+1) > len(a.slots) {
		a.grow()
	}
	g, i := a.find(hash, key)
	if g < 0 {
		g = int32(len(a.groups))
		a.groups = append(a.groups, aggGroup{hash: hash, key: string(key), part: uint32(part)})
		a.slots[i] = g + 1
	}
	a.cur.add(g, value)
	a.groups[g].n++
	a.pending++
}

// Bytes approximates the memory the aggregator holds.
func (a *Aggregator) Bytes() int {
	return len(a.cur.arena) + len(a.cur.vals)*16 + len(a.next.arena) + len(a.next.vals)*16 +
		len(a.order)*4 + len(a.groups)*groupOverhead + len(a.slots)*4
}

// Pending is the number of values added since the last combine pass.
func (a *Aggregator) Pending() int { return a.pending }

// Keys is the number of distinct keys.
func (a *Aggregator) Keys() int { return len(a.groups) }

// Reset empties the aggregator, keeping its memory.
func (a *Aggregator) Reset() {
	clear(a.slots)
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

// CombineEmit records a combiner's output value for key (hash is
// abi.Hash(key)). ok is false when key is not in the aggregator (a
// combiner that changed keys).
func (a *Aggregator) CombineEmit(hash uint64, key, value []byte) (ok bool) {
	if !a.combining || len(a.slots) == 0 {
		return false
	}
	g, _ := a.find(hash, key)
	if g < 0 {
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
