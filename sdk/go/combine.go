package wmr

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/wmr-dev/wmr/abi"
)

// In-module combining (the in-mapper combining Hadoop users write by
// hand): in a map task of a job with a combiner, what Map emits is kept in
// a hash table inside the module, combined per key, and crosses to the host
// only when the table passes its budget and at the end of the task
// (wmr_finish). A word count then moves one pair per distinct word and
// flush instead of one per word. Keys live in one arena and values in
// another, so the table allocates nothing per key; with the ready-made
// Sum as the combiner it keeps one int64 per key and never formats or
// parses a value twice. The host still combines what arrives from several
// flushes, so the output is the same bytes as without the table.

// combineBudgetParam overrides the table's budget in bytes (tests use a
// tiny one to make it flush often).
const combineBudgetParam = "wmr.combine_bytes"

// combineTable is a map task's output, combined per key.
type combineTable struct {
	g      *guest
	sum    bool           // the combiner is Sum: values are counted in entry.sum
	slots  []combineEntry // open addressing; used == 0: empty
	base   unsafe.Pointer // &slots[0]
	mask   uint64         // len(slots) - 1
	order  []int32        // the slot of each key, in the order keys first came
	chains []valueChain   // each key's values, by its place in order (not Sum)
	keys   []byte         // every entry's key, back to back
	vals   []byte         // values (not Sum): per value [next uint32][len uint32][bytes]
	budget int
	err    error // a value Sum could not read: reported after the map call
	chunk  []byte
}

// An entry holds its key's first 16 bytes (zero-padded) and length, so a
// lookup of a key of up to 16 bytes (nearly every word) compares two words
// in the entry instead of hashing and comparing bytes: Go's wasm code pays
// dearly for every byte loop. Entries sit in the slots themselves, so a
// lookup misses the cache once, not twice (slot, then entry): with the
// entries apart, the table took 80 ns a word in a Go word count. 32 bytes:
// two to a cache line, and a table of 20,000 words at three quarters full
// in 1 MiB.
type combineEntry struct {
	k0, k1 uint64 // the key's bytes 0-7 and 8-15, zero-padded
	sum    int64  // Sum: the key's sum; else its place in order
	used   uint32 // the key's length + 1; 0: an empty slot
	koff   uint32
}

// valueChain is a key's values in vals (offsets + 1, 0 for none).
type valueChain struct {
	first, last, n uint32
}

// valueHeader is the bytes before each value in vals.
const valueHeader = 8

var sumPointer = reflect.ValueOf(Sum).Pointer()

// newCombineTable makes the table for a map task of job, or returns nil
// when the job has no combiner.
func newCombineTable(g *guest, job *Job, memoryLimit int64) *combineTable {
	if job.Combine == nil {
		return nil
	}
	// An eighth of the task's memory cap, within [1 MiB, 64 MiB]: the
	// table must leave the module room for its own work.
	budget := int64(16 << 20)
	if memoryLimit > 0 {
		budget = min(max(memoryLimit/8, 1<<20), 64<<20)
	}
	if s := g.task.Params[combineBudgetParam]; s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			budget = n
		}
	}
	t := &combineTable{g: g, budget: int(budget)}
	t.setSlots(make([]combineEntry, 1024))
	t.sum = reflect.ValueOf(job.Combine).Pointer() == sumPointer
	return t
}

// bytes is the memory the table holds.
func (t *combineTable) bytes() int {
	return len(t.keys) + len(t.vals) + len(t.slots)*int(unsafe.Sizeof(combineEntry{})) +
		cap(t.order)*4 + cap(t.chains)*int(unsafe.Sizeof(valueChain{}))
}

// keyWords reads key's first 16 bytes (n of them its own, n <= 16) as
// two zero-padded little-endian words, when the 16 bytes from its start
// may be read at once: within its capacity, or within the host's batch
// (a word from Words, a subslice of a line, usually is). ok is false
// otherwise, and keyWordsCopied reads it. Small enough to inline.
func keyWords(key []byte, n int) (k0, k1 uint64, ok bool) {
	p := unsafe.Pointer(unsafe.SliceData(key))
	if cap(key) < 16 && uintptr(p)-batchLo >= batchReach {
		return 0, 0, false
	}
	s := uint(8 * n) // shifts of 64 or more give 0 in Go
	return *(*uint64)(p) & (1<<s - 1), *(*uint64)(unsafe.Add(p, 8)) & (^uint64(0) >> (128 - s)), true
}

// batchLo and batchLen bound the module's input buffer (guest.alloc),
// which holds the host's batch and at least readSlack bytes past it:
// Words and keyWords read whole words past a line's or a key's end
// there, and mask off what is not theirs. A line's slice cannot offer
// those bytes as capacity: the next record lies there, and a map that
// appends to its line would overwrite it.
var batchLo, batchLen uintptr

// batchReach is batchLen less 16: a key starting below batchLo+batchReach
// has 16 bytes to read in the buffer.
var batchReach uintptr

// readSlack is the room past a batch in the input buffer.
const readSlack = 16

// readableFrom is how many bytes from the start of b may be read:
// to the input buffer's end when b lies in it, else its capacity.
func readableFrom(b []byte) int {
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(b))) - batchLo; p < batchLen {
		return int(batchLen - p)
	}
	return cap(b)
}

// keyWordsCopied is keyWords through a copy, for a key with less capacity.
func keyWordsCopied(key []byte) (k0, k1 uint64) {
	var b [16]byte
	copy(b[:], key)
	return binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
}

// keyHash spreads the table only (the partition hash is the host's).
func keyHash(k0, k1 uint64, key []byte) uint64 {
	h := (k0^uint64(len(key)))*0x9e3779b97f4a7c15 ^ (k1+0x94d049bb133111eb)*0xbf58476d1ce4e5b9
	if len(key) > 16 {
		h ^= abi.Hash(key[16:])
	}
	// The slot is the hash's low bits, and a product's low bits see only
	// its factors' low bits: fold the high half down and mix once more, or
	// keys that differ only late (user_000123, user_000124) share slots.
	h ^= h >> 32
	h *= 0xd6e8feb86659fd93
	return h ^ h>>32
}

// entry finds or adds (added) key's entry.
func (t *combineTable) entry(key []byte) (e *combineEntry, added bool) {
	k0, k1, ok := keyWords(key, min(len(key), 16))
	if !ok {
		k0, k1 = keyWordsCopied(key)
	}
	mask := t.mask
	for i := keyHash(k0, k1, key) & mask; ; i = (i + 1) & mask {
		e := &t.slots[i]
		if e.used == 0 {
			*e = combineEntry{k0: k0, k1: k1, used: uint32(len(key)) + 1, koff: uint32(len(t.keys))}
			t.keys = append(t.keys, key...)
			t.order = append(t.order, int32(i))
			if len(t.order) > len(t.slots)/4*3 {
				t.grow()
				e = &t.slots[t.order[len(t.order)-1]]
			}
			return e, true
		}
		if e.k0 == k0 && e.k1 == k1 && int(e.used) == len(key)+1 &&
			(len(key) <= 16 || string(t.keys[e.koff+16:e.koff+e.used-1]) == string(key[16:])) {
			return e, false
		}
	}
}

func (t *combineTable) setSlots(s []combineEntry) {
	t.slots, t.base, t.mask = s, unsafe.Pointer(&s[0]), uint64(len(s)-1)
}

// grow doubles the table, moving the entries in the order keys first came.
func (t *combineTable) grow() {
	old := t.slots
	t.setSlots(make([]combineEntry, len(old)*2))
	mask := t.mask
	for k, at := range t.order {
		e := &old[at]
		i := keyHash(e.k0, e.k1, t.keys[e.koff:e.koff+e.used-1]) & mask
		for t.slots[i].used != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = *e
		t.order[k] = int32(i)
	}
}

// addSum adds x to key's sum (the combiner is Sum: Emit's "1", EmitInt's
// n, a parsed value).
func (t *combineTable) addSum(key []byte, x int64) {
	e, added := t.entry(key)
	e.sum += x
	if added && t.bytes() > t.budget { // a sum grows the table only with a new key
		t.flush()
	}
}

// add takes one emitted pair.
func (t *combineTable) add(key, value []byte) {
	if t.sum {
		if n, err := ParseInt(value); err == nil {
			t.addSum(key, n)
		} else if t.err == nil {
			t.err = fmt.Errorf("combining key %q: %v", truncKey(key), err)
		}
		return
	}
	e, added := t.entry(key)
	if added {
		e.sum = int64(len(t.order) - 1)
		t.chains = append(t.chains, valueChain{})
	}
	c := &t.chains[e.sum]
	off := uint32(len(t.vals))
	var hdr [valueHeader]byte
	putU32(hdr[4:], uint32(len(value)))
	t.vals = append(t.vals, hdr[:]...)
	t.vals = append(t.vals, value...)
	if c.last != 0 {
		putU32(t.vals[c.last-1:], off+1)
	} else {
		c.first = off + 1
	}
	c.last = off + 1
	c.n++
	if t.bytes() > t.budget {
		t.flush()
	}
}

// flush emits every key's combined values, in the order the keys first
// came, and empties the table.
func (t *combineTable) flush() {
	if len(t.order) == 0 {
		return
	}
	em := &t.g.emitter
	em.table = nil // what the combiner emits goes to the host
	defer func() { em.table = t }()
	var num [20]byte
	for k, at := range t.order {
		e := &t.slots[at]
		key := t.keys[e.koff : e.koff+e.used-1]
		if t.sum {
			em.Emit(key, strconv.AppendInt(num[:0], e.sum, 10))
			continue
		}
		c := &t.chains[k]
		if c.n == 1 { // nothing to combine
			em.Emit(key, t.value(c.first))
			continue
		}
		if err := t.combine(key, c); err != nil && t.err == nil {
			t.err = err
		}
	}
	t.order = t.order[:0]
	t.chains = t.chains[:0]
	t.keys = t.keys[:0]
	t.vals = t.vals[:0]
	clear(t.slots)
}

func (t *combineTable) value(ref uint32) []byte {
	off := ref - 1
	n := getU32(t.vals[off+4:])
	return t.vals[off+valueHeader : off+valueHeader+n]
}

// combine runs the job's combiner over key's values, handing them over
// as a reduce chunk of one group (the wire format Values reads).
func (t *combineTable) combine(key []byte, e *valueChain) error {
	b := append(t.chunk[:0], 0xdd, 0, 0, 0, 1, 0x93)
	b = abi.AppendBin(b, key)
	b = append(b, 0xc2, 0xdd, byte(e.n>>24), byte(e.n>>16), byte(e.n>>8), byte(e.n))
	for ref := e.first; ref != 0; ref = getU32(t.vals[ref-1:]) {
		b = abi.AppendBin(b, t.value(ref))
	}
	t.chunk = b
	g := t.g
	if err := g.groups.ResetChunk(b); err != nil {
		return err
	}
	if _, ok, err := g.groups.NextGroup(); err != nil || !ok {
		return fmt.Errorf("combining key %q: %v", truncKey(key), err)
	}
	g.values.reset()
	if err := g.job.Combine(key, &g.values, &g.emitter); err != nil {
		return fmt.Errorf("combining key %q: %w", truncKey(key), err)
	}
	return g.values.err
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
func getU32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func truncKey(k []byte) []byte {
	if len(k) > 40 {
		return k[:40]
	}
	return k
}
