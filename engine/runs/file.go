package runs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrOutOfOrder is returned by Writer.Add for a record that would break
// the run's order.
var ErrOutOfOrder = errors.New("record out of order")

// Index gives the segment of each partition in a run file: partition p is
// bytes [Offsets[p], Offsets[p+1]).
type Index struct {
	Offsets []int64 `msgpack:"offsets"`
	Records []int64 `msgpack:"records"`
}

// Segment returns partition p's byte range.
func (ix Index) Segment(p int) (off, n int64) {
	return ix.Offsets[p], ix.Offsets[p+1] - ix.Offsets[p]
}

// Partitions is the number of partitions.
func (ix Index) Partitions() int { return len(ix.Records) }

// Writer writes a run file, partition after partition. It is not safe for
// concurrent use.
type Writer struct {
	f       *os.File
	w       *bufio.Writer
	path    string
	index   Index
	part    int
	off     int64
	lastKey []byte
	hasLast bool
	scratch [2 * binary.MaxVarintLen64]byte
}

// Create starts a run file with parts partitions at path.
func Create(path string, parts int) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create run file: %w", err)
	}
	w := &Writer{f: f, w: bufio.NewWriterSize(f, 256<<10), path: path, part: -1}
	w.index.Offsets = make([]int64, 0, parts+1)
	w.index.Records = make([]int64, 0, parts)
	return w, nil
}

// BeginPartition starts partition p; partitions must be begun in order
// 0, 1, ... with none skipped.
func (w *Writer) BeginPartition(p int) {
	if p != w.part+1 {
		panic(fmt.Sprintf("runs: BeginPartition(%d) after %d", p, w.part))
	}
	w.part = p
	w.index.Offsets = append(w.index.Offsets, w.off)
	w.index.Records = append(w.index.Records, 0)
	w.hasLast = false
}

// Add appends a record to the current partition. Keys must not decrease.
func (w *Writer) Add(key, value []byte) error {
	if w.hasLast && bytes.Compare(key, w.lastKey) < 0 {
		return fmt.Errorf("%w: key %q after %q", ErrOutOfOrder, trunc(key), trunc(w.lastKey))
	}
	w.lastKey = append(w.lastKey[:0], key...)
	w.hasLast = true
	n := binary.PutUvarint(w.scratch[:], uint64(len(key)))
	n += binary.PutUvarint(w.scratch[n:], uint64(len(value)))
	w.w.Write(w.scratch[:n])
	w.w.Write(key)
	if _, err := w.w.Write(value); err != nil {
		return fmt.Errorf("write run file: %w", err)
	}
	w.off += int64(n + len(key) + len(value))
	w.index.Records[w.part]++
	return nil
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// Close finishes the file (beginning any partitions not yet begun up to
// parts) and returns its index.
func (w *Writer) Close(parts int) (Index, error) {
	for w.part+1 < parts {
		w.BeginPartition(w.part + 1)
	}
	w.index.Offsets = append(w.index.Offsets, w.off)
	if err := w.w.Flush(); err != nil {
		w.f.Close()
		return Index{}, fmt.Errorf("write run file: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return Index{}, fmt.Errorf("close run file: %w", err)
	}
	return w.index, nil
}

// Abort closes and removes an unfinished file.
func (w *Writer) Abort() {
	w.f.Close()
	os.Remove(w.path)
}

// Segment is one partition of one run file.
type Segment struct {
	Path   string `msgpack:"path"`
	Offset int64  `msgpack:"offset"`
	Length int64  `msgpack:"length"`
}

// Reader reads the records of a segment. It implements Stream.
type Reader struct {
	f     *os.File
	r     *bufio.Reader
	left  int64
	key   []byte
	value []byte
	ok    bool
	err   error
	path  string
}

// OpenSegment opens a reader on seg with a read buffer of bufSize bytes.
func OpenSegment(seg Segment, bufSize int) (*Reader, error) {
	f, err := os.Open(seg.Path)
	if err != nil {
		return nil, fmt.Errorf("open run: %w", err)
	}
	r := &Reader{f: f, r: bufio.NewReaderSize(io.NewSectionReader(f, seg.Offset, seg.Length), bufSize), left: seg.Length, path: seg.Path}
	r.Advance()
	return r, nil
}

// Peek implements Stream.
func (r *Reader) Peek() (key, value []byte, ok bool, err error) { return r.key, r.value, r.ok, r.err }

// Advance implements Stream.
func (r *Reader) Advance() {
	if r.err != nil || r.left == 0 {
		r.ok = false
		return
	}
	kl, err := binary.ReadUvarint(r.r)
	if err != nil {
		r.fail(err)
		return
	}
	vl, err := binary.ReadUvarint(r.r)
	if err != nil {
		r.fail(err)
		return
	}
	if int64(kl+vl) > r.left || kl > 1<<32 || vl > 1<<32 {
		r.fail(fmt.Errorf("record of %d+%d bytes overruns its segment", kl, vl))
		return
	}
	if cap(r.key) < int(kl) {
		r.key = make([]byte, kl)
	}
	if cap(r.value) < int(vl) {
		r.value = make([]byte, vl)
	}
	r.key, r.value = r.key[:kl], r.value[:vl]
	if _, err := io.ReadFull(r.r, r.key); err != nil {
		r.fail(err)
		return
	}
	if _, err := io.ReadFull(r.r, r.value); err != nil {
		r.fail(err)
		return
	}
	r.left -= int64(uvarintLen(kl) + uvarintLen(vl) + int(kl+vl))
	r.ok = true
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (r *Reader) fail(err error) {
	r.ok = false
	r.err = fmt.Errorf("run %s is corrupt: %w", r.path, err)
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }
