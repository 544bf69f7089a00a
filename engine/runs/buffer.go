package runs

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"unsafe"
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
// concurrent use. A Buffer given regions (Map) must be Released when done
// with, and not copied while in use.
type Buffer struct {
	arena   []byte
	entries []entry
	sorted  bool
	// arenaMem and entriesMem, when set, are where arena and entries grow
	// in place (mapped_unix.go); past them, or without them, they grow
	// in the Go heap.
	arenaMem, entriesMem *region
}

// Map reserves room for the buffer to grow in place: up to max bytes of
// records and max bytes of entries, address space only until used. It
// does nothing to a buffer that has records or regions, or where the
// system has no way to reserve.
func (b *Buffer) Map(max int) {
	if b.arenaMem != nil || len(b.entries) > 0 || len(b.arena) > 0 {
		return
	}
	a := newRegion(max)
	if a == nil {
		return
	}
	e := newRegion(max)
	if e == nil {
		a.free()
		return
	}
	b.arenaMem, b.entriesMem = a, e
	b.arena, b.entries = nil, nil
}

// Reach is how many bytes of records the buffer can hold without moving
// them (0 without regions).
func (b *Buffer) Reach() int {
	if b.arenaMem == nil {
		return 0
	}
	return len(b.arenaMem.mem)
}

// Reserve makes room for n more bytes of records, so that the next
// records up to n never copy the arena (growth the caller bounds; append's
// own doubling could take a buffer near its budget to twice it).
func (b *Buffer) Reserve(n int) {
	if cap(b.arena)-len(b.arena) >= n {
		return
	}
	if r := b.arenaMem; r != nil && r.grow(len(b.arena)+n) {
		b.arena = r.mem[:len(b.arena):r.accessible]
		return
	}
	b.arena = slices.Grow(b.arena, n) // into the Go heap: past the region
}

// growEntries makes room for one more entry.
func (b *Buffer) growEntries() {
	n := len(b.entries)
	if r := b.entriesMem; r != nil && r.grow((n+1)*entrySize) {
		b.entries = entriesIn(r)[:n]
		return
	}
	b.entries = slices.Grow(b.entries, 1)
}

// entriesIn is r's accessible memory as entries.
func entriesIn(r *region) []entry {
	return unsafe.Slice((*entry)(unsafe.Pointer(unsafe.SliceData(r.mem))), r.accessible/entrySize)
}

// Room is how many record bytes fit before the arena must grow.
func (b *Buffer) Room() int { return cap(b.arena) - len(b.arena) }

// Cap is the arena's size.
func (b *Buffer) Cap() int { return cap(b.arena) }

// Footprint is the memory the buffer holds, used or not.
func (b *Buffer) Footprint() int { return cap(b.arena) + cap(b.entries)*entrySize }

// Add copies a record into the buffer.
func (b *Buffer) Add(part int, key, value []byte) {
	off := len(b.arena)
	if len(b.entries) == cap(b.entries) {
		b.growEntries()
	}
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

// Reset empties the buffer, keeping its memory: its regions, where it
// has them (records that grew past them into the heap are let go).
func (b *Buffer) Reset() {
	b.arena = b.arena[:0]
	b.entries = b.entries[:0]
	if b.arenaMem != nil {
		b.arena = b.arenaMem.mem[:0:b.arenaMem.accessible]
		b.entries = entriesIn(b.entriesMem)[:0]
	}
	b.sorted = false
}

// Release empties the buffer and frees its memory: its regions at once.
func (b *Buffer) Release() {
	if b.arenaMem != nil {
		b.arenaMem.free()
		b.entriesMem.free()
	}
	*b = Buffer{}
}

func (b *Buffer) key(e *entry) []byte { return b.arena[e.off : e.off+int(e.klen)] }

// Sort orders the records by partition, key, arrival: a radix sort on
// the partition and then on the key prefixes' bytes (in place, as
// American flag sort does it, so it needs no memory beyond the entries),
// and a comparison sort for small buckets and for keys whose first 8 bytes
// are equal. The order is total (arrival breaks ties), so the result does
// not depend on the sort's own stability.
func (b *Buffer) Sort() {
	if b.sorted {
		return
	}
	es := b.entries
	parts := 0
	for i := range es {
		parts = max(parts, int(es[i].part)+1)
	}
	cmp := b.compare
	if parts > 1 && len(es) >= radixMin {
		counts := make([]int, 2*parts)
		for i := range es {
			counts[es[i].part]++
		}
		permuteParts(es, counts[:parts], counts[parts:])
		start := 0
		for _, n := range counts[:parts] {
			b.radix(es[start:start+n], 0, cmp)
			start += n
		}
	} else {
		b.radix(es, 0, cmp)
	}
	b.sorted = true
}

// radixMin is the bucket size below which a comparison sort is faster.
const radixMin = 64

// radix sorts es, whose entries share a partition and their prefixes'
// first depth bytes.
func (b *Buffer) radix(es []entry, depth int, cmp func(x, y entry) int) {
	if len(es) >= radixMin {
		// Skip the bytes every prefix shares (words with a common stem,
		// lines with a common field) in one pass.
		var diff uint64
		for i := range es {
			diff |= es[i].prefix ^ es[0].prefix
		}
		depth = max(depth, bits.LeadingZeros64(diff)/8)
	}
	if len(es) >= radixMin && depth < 8 {
		shift := 56 - 8*uint(depth)
		var count [256]int
		for i := range es {
			count[byte(es[i].prefix>>shift)]++
		}
		permuteByte(es, &count, shift)
		start := 0
		for _, n := range count {
			if n > 1 {
				b.radix(es[start:start+n], depth+1, cmp)
			}
			start += n
		}
		return
	}
	if len(es) < radixMin {
		b.insertionSort(es)
	} else {
		slices.SortFunc(es, cmp)
	}
}

func (b *Buffer) insertionSort(es []entry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && b.compare(es[j], es[j-1]) < 0; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// permuteByte moves each entry to the bucket of its prefix byte at shift
// in place, given each bucket's size.
func permuteByte(es []entry, count *[256]int, shift uint) {
	var next, end [256]int
	sum := 0
	for d, n := range count {
		next[d] = sum
		sum += n
		end[d] = sum
	}
	for d := range count {
		for next[d] < end[d] {
			e := es[next[d]]
			for dd := byte(e.prefix >> shift); int(dd) != d; dd = byte(e.prefix >> shift) {
				es[next[dd]], e = e, es[next[dd]]
				next[dd]++
			}
			es[next[d]] = e
			next[d]++
		}
	}
}

// permuteParts is permuteByte for the partition (next is scratch).
func permuteParts(es []entry, count, next []int) {
	sum := 0
	for d, n := range count {
		next[d] = sum
		sum += n
	}
	end := 0
	for d, n := range count {
		end += n
		for next[d] < end {
			e := es[next[d]]
			for dd := int(e.part); dd != d; dd = int(e.part) {
				es[next[dd]], e = e, es[next[dd]]
				next[dd]++
			}
			es[next[d]] = e
			next[d]++
		}
	}
}

// compare orders entries by partition, key, arrival.
func (b *Buffer) compare(x, y entry) int {
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

// prefetchAhead is how many records ahead a BufferStream prefetches:
// enough to cover a memory access while the records between are copied.
const prefetchAhead = 16

// Advance implements Stream.
func (s *BufferStream) Advance() {
	s.i++
	if j := s.i + prefetchAhead; j < s.end {
		if off := s.b.entries[j].off; off < len(s.b.arena) { // not an empty record at the end
			prefetch(&s.b.arena[off])
		}
	}
}

// Stream is a sorted sequence of records read one at a time. The slices
// Peek returns are valid until Advance.
type Stream interface {
	// Peek returns the current record without consuming it; ok is false
	// at the end.
	Peek() (key, value []byte, ok bool, err error)
	// Advance moves past the current record.
	Advance()
}
