package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Magic starts every block.
const Magic = "WMRKVB01"

// HeaderSize is a block header's size: Magic, then the payload's length,
// its record count and the CRC-32C of those two fields and the payload,
// each a little-endian uint32.
const HeaderSize = len(Magic) + 12

// Limits.
const (
	// BlockBytes is the payload size a Writer closes a block at (a block
	// holding one larger record is larger).
	BlockBytes = 1 << 20
	// MaxBlock bounds a block's payload: a larger length is damage.
	MaxBlock = 1 << 30
)

// ErrCorrupt is returned for bytes that are not a valid kv file: a bad
// magic, a checksum mismatch, a truncated block or a record that does not
// parse.
var ErrCorrupt = errors.New("corrupt kv data")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CorruptError says where a kv file is damaged.
type CorruptError struct {
	Offset int64 // of the block, in the stream
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("kv block at byte %d: %s", e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Writer writes records in blocks. It is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	payload []byte
	records int
	n       int64 // bytes written
	err     error
}

// NewWriter writes a kv stream to w; Close flushes its last block.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Add appends one record. Its bytes are copied.
func (w *Writer) Add(key, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(key)+len(value)+2*binary.MaxVarintLen64 > MaxBlock {
		return fmt.Errorf("a record of %d bytes is larger than a kv block may be", len(key)+len(value))
	}
	if len(w.payload) > 0 && len(w.payload)+len(key)+len(value)+2*binary.MaxVarintLen64 > MaxBlock {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	w.payload = binary.AppendUvarint(w.payload, uint64(len(key)))
	w.payload = binary.AppendUvarint(w.payload, uint64(len(value)))
	w.payload = append(w.payload, key...)
	w.payload = append(w.payload, value...)
	w.records++
	if len(w.payload) >= BlockBytes {
		return w.Flush()
	}
	return nil
}

// Flush writes the open block, if it holds records.
func (w *Writer) Flush() error {
	if w.err != nil || w.records == 0 {
		return w.err
	}
	var hdr [HeaderSize]byte
	copy(hdr[:], Magic)
	binary.LittleEndian.PutUint32(hdr[8:], uint32(len(w.payload)))
	binary.LittleEndian.PutUint32(hdr[12:], uint32(w.records))
	sum := crc32.Update(0, castagnoli, hdr[8:16])
	binary.LittleEndian.PutUint32(hdr[16:], crc32.Update(sum, castagnoli, w.payload))
	if _, err := w.w.Write(hdr[:]); err != nil {
		w.err = err
		return err
	}
	if _, err := w.w.Write(w.payload); err != nil {
		w.err = err
		return err
	}
	w.n += int64(HeaderSize + len(w.payload))
	w.payload, w.records = w.payload[:0], 0
	return nil
}

// Close flushes the last block. It does not close the underlying writer.
func (w *Writer) Close() error { return w.Flush() }

// Written is how many bytes the writer has written so far.
func (w *Writer) Written() int64 { return w.n }

// Reader reads records from a kv stream, verifying each block before it
// returns any record of it. It is not safe for concurrent use.
type Reader struct {
	r       *bufio.Reader
	off     int64 // stream offset of the next unread byte
	block   []byte
	pos     int   // in block
	left    int   // records left in block
	start   int64 // stream offset of the current block's payload
	end     int64 // stop at the first block starting at or after end
	recOff  int64
	started bool
}

// NewReader reads the kv stream r, which starts at stream offset off (a
// block boundary), up to the first block that starts at or after end (end
// < 0: to the end of the stream).
func NewReader(r io.Reader, off, end int64) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<20)
	}
	return &Reader{r: br, off: off, end: end}
}

// Next returns the next record, valid until the next call, or io.EOF.
func (r *Reader) Next() (key, value []byte, err error) {
	for r.left == 0 {
		if err := r.nextBlock(); err != nil {
			return nil, nil, err
		}
	}
	r.recOff = r.start + int64(r.pos)
	kl, n1 := binary.Uvarint(r.block[r.pos:])
	vl, n2 := uint64(0), 0
	if n1 > 0 {
		vl, n2 = binary.Uvarint(r.block[r.pos+n1:])
	}
	rest := uint64(len(r.block) - r.pos - n1 - max(n2, 0))
	if n1 <= 0 || n2 <= 0 || kl > rest || vl > rest-kl {
		return nil, nil, &CorruptError{Offset: r.start - int64(HeaderSize), Reason: fmt.Sprintf("record at byte %d does not parse", r.recOff)}
	}
	p := r.pos + n1 + n2
	key, value = r.block[p:p+int(kl)], r.block[p+int(kl):p+int(kl)+int(vl)]
	r.pos = p + int(kl) + int(vl)
	r.left--
	if r.left == 0 && r.pos != len(r.block) {
		return nil, nil, &CorruptError{Offset: r.start - int64(HeaderSize), Reason: "its records do not fill its payload"}
	}
	return key, value, nil
}

// Offset is the stream offset of the record Next returned last: records
// are numbered by it (for error messages and skipped records).
func (r *Reader) Offset() int64 { return r.recOff }

func (r *Reader) nextBlock() error {
	if r.end >= 0 && r.off >= r.end {
		return io.EOF
	}
	var hdr [HeaderSize]byte
	at := r.off
	n, err := io.ReadFull(r.r, hdr[:])
	r.off += int64(n)
	switch {
	case err == io.EOF:
		return io.EOF
	case err == io.ErrUnexpectedEOF:
		return &CorruptError{Offset: at, Reason: fmt.Sprintf("truncated: the stream ends %d bytes into its header", n)}
	case err != nil:
		return err
	}
	if string(hdr[:len(Magic)]) != Magic {
		return &CorruptError{Offset: at, Reason: "no block starts here (bad magic): not a kv file, or damaged"}
	}
	size := binary.LittleEndian.Uint32(hdr[8:])
	records := binary.LittleEndian.Uint32(hdr[12:])
	if size > MaxBlock {
		return &CorruptError{Offset: at, Reason: fmt.Sprintf("payload length %d is impossible", size)}
	}
	if cap(r.block) < int(size) {
		r.block = make([]byte, size)
	}
	r.block = r.block[:size]
	n, err = io.ReadFull(r.r, r.block)
	r.off += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &CorruptError{Offset: at, Reason: fmt.Sprintf("truncated: %d of its %d payload bytes are there", n, size)}
	} else if err != nil {
		return err
	}
	sum := crc32.Update(0, castagnoli, hdr[8:16])
	if crc32.Update(sum, castagnoli, r.block) != binary.LittleEndian.Uint32(hdr[16:]) {
		return &CorruptError{Offset: at, Reason: "checksum mismatch"}
	}
	r.start, r.pos, r.left = at+int64(HeaderSize), 0, int(records)
	if records == 0 && size != 0 {
		return &CorruptError{Offset: at, Reason: "payload without records"}
	}
	return nil
}

// BlockStart returns the offset of the first block that starts at or after
// off in the kv file f, walking block headers from the file's start (a
// split that does not start at a block boundary begins there).
func BlockStart(f io.ReaderAt, off int64) (int64, error) {
	var pos int64
	var hdr [HeaderSize]byte
	for pos < off {
		n, err := f.ReadAt(hdr[:], pos)
		if n == 0 && err == io.EOF {
			return pos, nil
		}
		if n < HeaderSize {
			return 0, &CorruptError{Offset: pos, Reason: "truncated header"}
		}
		if string(hdr[:len(Magic)]) != Magic {
			return 0, &CorruptError{Offset: pos, Reason: "no block starts here (bad magic): not a kv file, or damaged"}
		}
		pos += int64(HeaderSize) + int64(binary.LittleEndian.Uint32(hdr[8:]))
	}
	return pos, nil
}
