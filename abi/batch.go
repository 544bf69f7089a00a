package abi

import (
	"encoding/binary"
	"fmt"
)

// Record is one key/value pair of a batch. Partition is the partition the
// guest chose for an emitted record, or -1 when it left the choice to the
// host's default hash.
type Record struct {
	Key, Value []byte
	Partition  int
}

// BatchWriter builds a batch: an array32 header followed by records. The
// header is fixed-width so the count can be written when the batch is done,
// which lets producers stream records in without counting first.
// A BatchWriter is not safe for concurrent use.
type BatchWriter struct {
	buf []byte
	n   int
}

// Reset empties the batch, keeping its buffer.
func (w *BatchWriter) Reset() {
	w.buf = append(w.buf[:0], 0, 0, 0, 0, 0)
	w.n = 0
}

// Len is the number of records in the batch.
func (w *BatchWriter) Len() int { return w.n }

// Size is the encoded size of the batch so far.
func (w *BatchWriter) Size() int {
	if len(w.buf) == 0 {
		return ArrayHeaderSize
	}
	return len(w.buf)
}

// Add appends a [key, value] record.
func (w *BatchWriter) Add(key, value []byte) {
	if len(w.buf) == 0 {
		w.Reset()
	}
	w.buf = AppendRecord(w.buf, key, value)
	w.n++
}

// AddPartitioned appends a [key, value, partition] record.
func (w *BatchWriter) AddPartitioned(key, value []byte, partition int) {
	if len(w.buf) == 0 {
		w.Reset()
	}
	w.buf = append(w.buf, mpFixArray|3)
	w.buf = AppendBin(w.buf, key)
	w.buf = AppendBin(w.buf, value)
	w.buf = AppendUint(w.buf, uint64(partition))
	w.n++
}

// Bytes finishes the batch and returns its encoding, valid until the next
// call that changes w.
func (w *BatchWriter) Bytes() []byte {
	if len(w.buf) == 0 {
		w.Reset()
	}
	PutArray32Header(w.buf, w.n)
	return w.buf
}

// BatchReader reads the records of a batch one at a time without
// allocating. A BatchReader is not safe for concurrent use.
type BatchReader struct {
	d    Decoder
	left int
	read int
}

// Reset starts reading batch b.
func (r *BatchReader) Reset(b []byte) error {
	r.d.Reset(b)
	r.read = 0
	n, err := r.d.ArrayLen()
	if err != nil {
		r.left = 0
		return fmt.Errorf("batch header: %w", err)
	}
	r.left = n
	if n == 0 {
		return r.d.End()
	}
	return nil
}

// Len is the number of records not yet read.
func (r *BatchReader) Len() int { return r.left }

// Next returns the next record. ok is false after the last record; err is
// set when the batch is malformed (including trailing bytes after the last
// record).
func (r *BatchReader) Next() (rec Record, ok bool, err error) {
	if r.left == 0 {
		return Record{}, false, nil
	}
	n, err := r.d.ArrayLen()
	if err != nil {
		return Record{}, false, r.recordErr(err)
	}
	if n != 2 && n != 3 {
		return Record{}, false, r.recordErr(fmt.Errorf("%w: a record is an array of 2 or 3 items, found %d", ErrMalformed, n))
	}
	if rec.Key, err = r.d.Bytes(); err != nil {
		return Record{}, false, r.recordErr(fmt.Errorf("key: %w", err))
	}
	if rec.Value, err = r.d.Bytes(); err != nil {
		return Record{}, false, r.recordErr(fmt.Errorf("value: %w", err))
	}
	rec.Partition = -1
	if n == 3 {
		p, err := r.d.Int()
		if err != nil {
			return Record{}, false, r.recordErr(fmt.Errorf("partition: %w", err))
		}
		if p < 0 || p > 1<<31-1 {
			return Record{}, false, r.recordErr(fmt.Errorf("%w: partition %d out of range", ErrMalformed, p))
		}
		rec.Partition = int(p)
	}
	r.left--
	r.read++
	if r.left == 0 {
		if err := r.d.End(); err != nil {
			return Record{}, false, err
		}
	}
	return rec, true, nil
}

// NextKV is Next for the records map input is made of, a key and a value.
// It decodes the usual encoding ([key, value] with a bin8 key and a bin8,
// bin16 or bin32 value) in one call, with no call per field: guest SDKs
// compiled to WebAssembly by Go pay more for a call than for the decoding
// (five calls a record took a third of a Go word count's time). Anything
// else, and the batch's last record, go through Next, so errors are the
// same; a record's partition, if any, is dropped.
func (r *BatchReader) NextKV() (key, value []byte, ok bool, err error) {
	if b, off := r.d.buf, r.d.off; r.left > 1 && off+3 <= len(b) && b[off] == 0x92 && b[off+1] == mpBin8 {
		kend := off + 3 + int(b[off+2])
		vstart, vlen := 0, 0
		if kend+2 <= len(b) {
			switch b[kend] {
			case mpBin8:
				vstart, vlen = kend+2, int(b[kend+1])
			case mpBin16:
				if kend+3 <= len(b) {
					vstart, vlen = kend+3, int(b[kend+1])<<8|int(b[kend+2])
				}
			case mpBin32:
				if kend+5 <= len(b) {
					vstart, vlen = kend+5, int(binary.BigEndian.Uint32(b[kend+1:]))
				}
			}
		}
		if vend := vstart + vlen; vstart > 0 && vend <= len(b) && vend >= vstart {
			r.d.off = vend
			r.left--
			r.read++
			return b[off+3 : kend : kend], b[vstart:vend:vend], true, nil
		}
	}
	rec, ok, err := r.Next()
	return rec.Key, rec.Value, ok, err
}

func (r *BatchReader) recordErr(err error) error {
	r.left = 0
	return fmt.Errorf("record %d: %w", r.read, err)
}

// ChunkWriter builds a reduce chunk: an array32 header followed by groups
// [key, more, values], where values is an array32 of bins. A group is opened
// with BeginGroup, filled with AddValue and closed with EndGroup.
// A ChunkWriter is not safe for concurrent use.
type ChunkWriter struct {
	buf     []byte
	groups  int
	moreAt  int // offset of the open group's more flag
	valsAt  int // offset of the open group's values header
	nvalues int
}

// Reset empties the chunk, keeping its buffer.
func (w *ChunkWriter) Reset() {
	w.buf = append(w.buf[:0], 0, 0, 0, 0, 0)
	w.groups = 0
}

// Groups is the number of groups begun so far.
func (w *ChunkWriter) Groups() int { return w.groups }

// Size is the encoded size so far.
func (w *ChunkWriter) Size() int { return len(w.buf) }

// GroupOverhead is the encoded size of a group with an empty value list,
// not counting the key's bytes.
func GroupOverhead(keyLen int) int { return 1 + BinHeaderSize(keyLen) + 1 + ArrayHeaderSize }

// ValueSize is the encoded size of one value in a values array.
func ValueSize(valueLen int) int { return BinHeaderSize(valueLen) + valueLen }

// BeginGroup opens a group for key.
func (w *ChunkWriter) BeginGroup(key []byte) {
	if len(w.buf) == 0 {
		w.Reset()
	}
	w.buf = append(w.buf, mpFixArray|3)
	w.buf = AppendBin(w.buf, key)
	w.moreAt = len(w.buf)
	w.buf = append(w.buf, mpFalse, 0, 0, 0, 0, 0)
	w.valsAt = w.moreAt + 1
	w.nvalues = 0
	w.groups++
}

// AddValue appends a value to the open group.
func (w *ChunkWriter) AddValue(v []byte) {
	w.buf = AppendBin(w.buf, v)
	w.nvalues++
}

// EndGroup closes the open group; more says its values continue beyond
// this chunk (only the last group of a chunk may say so).
func (w *ChunkWriter) EndGroup(more bool) {
	if more {
		w.buf[w.moreAt] = mpTrue
	}
	PutArray32Header(w.buf[w.valsAt:], w.nvalues)
}

// Bytes finishes the chunk and returns its encoding.
func (w *ChunkWriter) Bytes() []byte {
	if len(w.buf) == 0 {
		w.Reset()
	}
	PutArray32Header(w.buf, w.groups)
	return w.buf
}

// ContinuationWriter builds the answer to next_values: [more, values].
// It is not safe for concurrent use.
type ContinuationWriter struct {
	buf     []byte
	nvalues int
}

// Reset starts an empty continuation.
func (w *ContinuationWriter) Reset() {
	w.buf = append(w.buf[:0], mpFixArray|2, mpFalse, 0, 0, 0, 0, 0)
	w.nvalues = 0
}

// Size is the encoded size so far.
func (w *ContinuationWriter) Size() int { return len(w.buf) }

// Len is the number of values added.
func (w *ContinuationWriter) Len() int { return w.nvalues }

// AddValue appends a value.
func (w *ContinuationWriter) AddValue(v []byte) {
	w.buf = AppendBin(w.buf, v)
	w.nvalues++
}

// Bytes finishes the continuation; more says further values follow.
func (w *ContinuationWriter) Bytes(more bool) []byte {
	if more {
		w.buf[1] = mpTrue
	}
	PutArray32Header(w.buf[2:], w.nvalues)
	return w.buf
}

// GroupReader reads reduce chunks and continuations in the guest. Use
// ResetChunk for a chunk, then NextGroup and Value; after a group's values
// are exhausted and More reports true, fetch a continuation from the host
// and pass it to ResetContinuation.
// A GroupReader is not safe for concurrent use.
type GroupReader struct {
	d          Decoder
	groupsLeft int
	valuesLeft int
	more       bool
	group      int
}

// ResetChunk starts reading a chunk.
func (r *GroupReader) ResetChunk(b []byte) error {
	r.d.Reset(b)
	r.valuesLeft, r.more, r.group = 0, false, -1
	n, err := r.d.ArrayLen()
	if err != nil {
		r.groupsLeft = 0
		return fmt.Errorf("chunk header: %w", err)
	}
	r.groupsLeft = n
	return nil
}

// Group is the index of the current group in the chunk.
func (r *GroupReader) Group() int { return r.group }

// NextGroup skips what is left of the current group and starts the next.
// ok is false when the chunk has no more groups.
func (r *GroupReader) NextGroup() (key []byte, ok bool, err error) {
	for r.valuesLeft > 0 {
		if _, err := r.d.Bytes(); err != nil {
			return nil, false, err
		}
		r.valuesLeft--
	}
	if r.groupsLeft == 0 {
		return nil, false, r.d.End()
	}
	r.groupsLeft--
	r.group++
	n, err := r.d.ArrayLen()
	if err != nil {
		return nil, false, err
	}
	if n != 3 {
		return nil, false, fmt.Errorf("%w: a group is an array of 3 items, found %d", ErrMalformed, n)
	}
	if key, err = r.d.Bytes(); err != nil {
		return nil, false, err
	}
	if r.more, err = r.d.Bool(); err != nil {
		return nil, false, err
	}
	if r.more && r.groupsLeft > 0 {
		return nil, false, fmt.Errorf("%w: only the last group of a chunk may continue", ErrMalformed)
	}
	if r.valuesLeft, err = r.d.ArrayLen(); err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// Value returns the next value of the current group from the current
// buffer. ok is false when the buffer holds no more values of the group;
// then More says whether a continuation follows.
func (r *GroupReader) Value() (v []byte, ok bool, err error) {
	if r.valuesLeft == 0 {
		return nil, false, nil
	}
	if v, err = r.d.Bytes(); err != nil {
		r.valuesLeft = 0
		return nil, false, err
	}
	r.valuesLeft--
	return v, true, nil
}

// Pending exposes the unread bytes of the current buffer and how many of
// the current group's values they still hold, for callers that decode
// values in a tight loop (see sdk/go's Values.SumInts). After decoding,
// they report how far they got with Consumed.
func (r *GroupReader) Pending() (buf []byte, off int, values int) {
	return r.d.buf, r.d.off, r.valuesLeft
}

// Consumed records that the caller of Pending decoded n values, ending at
// off.
func (r *GroupReader) Consumed(off, n int) {
	r.d.off = off
	r.valuesLeft -= n
}

// More reports whether the current group's values continue past the
// current buffer.
func (r *GroupReader) More() bool { return r.more }

// ResetContinuation reads a continuation [more, values] for the current
// group. The chunk's remaining groups are gone (a continuing group is always
// the last of its chunk).
func (r *GroupReader) ResetContinuation(b []byte) error {
	r.d.Reset(b)
	r.groupsLeft = 0
	n, err := r.d.ArrayLen()
	if err != nil {
		return err
	}
	if n != 2 {
		return fmt.Errorf("%w: a continuation is an array of 2 items, found %d", ErrMalformed, n)
	}
	if r.more, err = r.d.Bool(); err != nil {
		return err
	}
	r.valuesLeft, err = r.d.ArrayLen()
	return err
}
