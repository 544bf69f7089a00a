package runs

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// entry locates one record in a Buffer's arena. prefix holds the key's
// first 8 bytes big-endian (zero-padded) so most comparisons never touch
// the arena.
type entry struct {
	prefix uint64
	off    int // arena offset of key; value follows it
	part   uint32
	klen   uint32
	vlen   uint32
}

// entrySize is the memory an entry takes, for budget accounting.
const entrySize = 32

// Buffer collects records in memory and sorts them. It is not safe for
// concurrent use.
type Buffer struct {
	arena   []byte
	entries []entry
	sorted  bool
}

// Reserve makes room for n more bytes of records, so that the next
// records up to n never copy the arena (growth the caller bounds; append's
// own doubling could take a buffer near its budget to twice it).
func (b *Buffer) Reserve(n int) {
	if cap(b.arena)-len(b.arena) < n {
		b.arena = slices.Grow(b.arena, n)
	}
}

// Room is how many record bytes fit before the arena must grow.
func (b *Buffer) Room() int { return cap(b.arena) - len(b.arena) }

// Cap is the arena's size.
func (b *Buffer) Cap() int { return cap(b.arena) }

// Add copies a record into the buffer.
func (b *Buffer) Add(part int, key, value []byte) {
	off := len(b.arena)
	b.arena = append(b.arena, key...)
	b.arena = append(b.arena, value...)
	b.entries = append(b.entries, entry{prefix: keyPrefix(key), off: off, part: uint32(part), klen: uint32(len(key)), vlen: uint32(len(value))})
	b.sorted = false
}

func keyPrefix(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.BigEndian.Uint64(key)
	}
	var p [8]byte
	copy(p[:], key)
	return binary.BigEndian.Uint64(p[:])
}

// Len is the number of records.
func (b *Buffer) Len() int { return len(b.entries) }

// Bytes is the memory the buffer's records take.
func (b *Buffer) Bytes() int { return len(b.arena) + len(b.entries)*entrySize }

// Reset empties the buffer, keeping its memory.
func (b *Buffer) Reset() {
	b.arena = b.arena[:0]
	b.entries = b.entries[:0]
	b.sorted = false
}

// Release empties the buffer and frees its memory.
func (b *Buffer) Release() { *b = Buffer{} }

func (b *Buffer) key(e *entry) []byte { return b.arena[e.off : e.off+int(e.klen)] }

// Sort orders the records by partition, key, arrival.
func (b *Buffer) Sort() {
	if b.sorted {
		return
	}
	slices.SortFunc(b.entries, func(x, y entry) int {
		if x.part != y.part {
			if x.part < y.part {
				return -1
			}
			return 1
		}
		if x.prefix != y.prefix {
			if x.prefix < y.prefix {
				return -1
			}
			return 1
		}
		if x.klen > 8 || y.klen > 8 || x.klen != y.klen {
			if c := bytes.Compare(b.key(&x), b.key(&y)); c != 0 {
				return c
			}
		}
		return x.off - y.off
	})
	b.sorted = true
}

// Partition returns a Stream over the records of partition part, in order.
// The buffer must be sorted and unchanged while the stream is used.
func (b *Buffer) Partition(part int) *BufferStream {
	lo, _ := slices.BinarySearchFunc(b.entries, uint32(part), func(e entry, p uint32) int { return int(e.part) - int(p) })
	hi, _ := slices.BinarySearchFunc(b.entries, uint32(part)+1, func(e entry, p uint32) int { return int(e.part) - int(p) })
	return &BufferStream{b: b, i: lo, end: hi}
}

// BufferStream reads one partition of a sorted Buffer.
type BufferStream struct {
	b      *Buffer
	i, end int
}

// Peek implements Stream.
func (s *BufferStream) Peek() (key, value []byte, ok bool, err error) {
	if s.i >= s.end {
		return nil, nil, false, nil
	}
	e := &s.b.entries[s.i]
	k := s.b.arena[e.off : e.off+int(e.klen)]
	v := s.b.arena[e.off+int(e.klen) : e.off+int(e.klen)+int(e.vlen)]
	return k, v, true, nil
}

// Advance implements Stream.
func (s *BufferStream) Advance() { s.i++ }

// Stream is a sorted sequence of records read one at a time. The slices
// Peek returns are valid until Advance.
type Stream interface {
	// Peek returns the current record without consuming it; ok is false
	// at the end.
	Peek() (key, value []byte, ok bool, err error)
	// Advance moves past the current record.
	Advance()
}
