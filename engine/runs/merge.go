package runs

import (
	"bytes"
	"container/heap"
)

// Merger merges sorted Streams into one sorted Stream. Equal keys come out
// in the order of the streams given to NewMerger. It is not safe for
// concurrent use.
type Merger struct {
	h   mergeHeap
	err error
}

// NewMerger merges streams. Streams that are already exhausted are dropped.
func NewMerger(streams []Stream) *Merger {
	m := &Merger{}
	for i, s := range streams {
		k, _, ok, err := s.Peek()
		if err != nil {
			m.err = err
			continue
		}
		if ok {
			m.h = append(m.h, mergeItem{s: s, key: k, idx: i})
		}
	}
	heap.Init(&m.h)
	return m
}

// Peek implements Stream.
func (m *Merger) Peek() (key, value []byte, ok bool, err error) {
	if m.err != nil {
		return nil, nil, false, m.err
	}
	if len(m.h) == 0 {
		return nil, nil, false, nil
	}
	return m.h[0].s.Peek()
}

// Advance implements Stream.
func (m *Merger) Advance() {
	if len(m.h) == 0 {
		return
	}
	top := &m.h[0]
	top.s.Advance()
	k, _, ok, err := top.s.Peek()
	switch {
	case err != nil:
		m.err = err
		heap.Pop(&m.h)
	case ok:
		top.key = k
		heap.Fix(&m.h, 0)
	default:
		heap.Pop(&m.h)
	}
}

type mergeItem struct {
	s   Stream
	key []byte
	idx int
}

type mergeHeap []mergeItem

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].key, h[j].key); c != 0 {
		return c < 0
	}
	return h[i].idx < h[j].idx
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
