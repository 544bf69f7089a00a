package runs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync/atomic"
)

// ErrOutOfOrder is returned by Writer.Add for a record that would break
// the run's order.
var ErrOutOfOrder = errors.New("record out of order")

// ErrCorrupt is returned by a Reader for bytes that do not match their
// checksum or do not parse as records.
var ErrCorrupt = errors.New("corrupt")

// BlockSize is the span one checksum covers: each partition's segment is
// cut into blocks of BlockSize bytes from its start (the last one
// shorter), each with its CRC-32C, so a reader verifies a block before it
// parses a byte of it and never hands on damaged records.
const BlockSize = 32 << 10

// castagnoli is CRC-32C, the checksum HDFS and ext4 use; amd64 and arm64
// compute it in hardware.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Index gives the segment of each partition in a run file: partition p is
// bytes [Offsets[p], Offsets[p+1]), and Sums[p] the CRC-32C of each of its
// blocks.
type Index struct {
	Offsets []int64    `msgpack:"offsets"`
	Records []int64    `msgpack:"records"`
	Sums    [][]uint32 `msgpack:"sums"`
}

// Segment returns partition p's byte range.
func (ix Index) Segment(p int) (off, n int64) {
	return ix.Offsets[p], ix.Offsets[p+1] - ix.Offsets[p]
}

// Checksums returns the block checksums of partition p (nil for an index
// written before runs carried them: such a segment is read unverified).
func (ix Index) Checksums(p int) []uint32 {
	if p < len(ix.Sums) {
		return ix.Sums[p]
	}
	return nil
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
	// The current partition's open block: its CRC so far and length.
	blockSum uint32
	blockLen int
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
	w.index.Sums = make([][]uint32, 0, parts)
	return w, nil
}

// BeginPartition starts partition p; partitions must be begun in order
// 0, 1, ... with none skipped.
func (w *Writer) BeginPartition(p int) {
	if p != w.part+1 {
		panic(fmt.Sprintf("runs: BeginPartition(%d) after %d", p, w.part))
	}
	w.endBlock()
	w.part = p
	w.index.Offsets = append(w.index.Offsets, w.off)
	w.index.Records = append(w.index.Records, 0)
	w.index.Sums = append(w.index.Sums, nil)
	w.hasLast = false
}

// sum adds p to the current partition's block checksums.
func (w *Writer) sum(p []byte) {
	for len(p) > 0 {
		n := min(len(p), BlockSize-w.blockLen)
		w.blockSum = crc32.Update(w.blockSum, castagnoli, p[:n])
		w.blockLen += n
		p = p[n:]
		if w.blockLen == BlockSize {
			w.endBlock()
		}
	}
}

// endBlock closes the current partition's open block, if it has bytes.
func (w *Writer) endBlock() {
	if w.blockLen > 0 {
		w.index.Sums[w.part] = append(w.index.Sums[w.part], w.blockSum)
	}
	w.blockSum, w.blockLen = 0, 0
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
	w.sum(w.scratch[:n])
	w.sum(key)
	w.sum(value)
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
	if w.part >= 0 {
		w.endBlock()
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
	// Sums are the segment's block checksums (Index.Checksums); nil reads
	// it unverified.
	Sums []uint32 `msgpack:"sums"`
	// Source names the task that wrote the segment ("m-00003"), so that
	// damage sends it back to be re-run.
	Source string `msgpack:"source"`
}

// CorruptError is a segment whose bytes fail their checksum or do not
// parse: the data was damaged after it was written (a disk, a copy), never
// the module's doing.
type CorruptError struct {
	Source string // Segment.Source
	Path   string
	Offset int64 // of the damaged block in the file
	Reason string
}

func (e *CorruptError) Error() string {
	what := "run " + e.Path
	if e.Source != "" {
		what = "output of " + e.Source + " (" + e.Path + ")"
	}
	return fmt.Sprintf("%s is corrupt at byte %d: %s", what, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// CorruptSource returns the Source of the corrupt segment err reports
// (also across a worker's wire), or "".
func CorruptSource(err error) string {
	var ce *CorruptError
	if errors.As(err, &ce) {
		return ce.Source
	}
	var src interface{ CorruptSource() string }
	if errors.As(err, &src) {
		return src.CorruptSource()
	}
	return ""
}

// blockReader reads a segment one checksummed block at a time, handing on
// only bytes that passed their check.
type blockReader struct {
	src   io.Reader
	seg   Segment
	buf   []byte
	pos   int
	block int   // the next block's number
	off   int64 // the next block's offset in the segment
	err   error
}

func (b *blockReader) fill() error {
	if b.err != nil {
		return b.err
	}
	n := min(int64(BlockSize), b.seg.Length-b.off)
	if n <= 0 {
		b.err = io.EOF
		return b.err
	}
	b.buf = b.buf[:n]
	b.pos = 0
	if _, err := io.ReadFull(b.src, b.buf); err != nil {
		b.err = b.corrupt(fmt.Sprintf("short read: %v", err))
		return b.err
	}
	if b.seg.Sums != nil {
		if b.block >= len(b.seg.Sums) {
			b.err = b.corrupt("more blocks than checksums")
			return b.err
		}
		if got := crc32.Checksum(b.buf, castagnoli); got != b.seg.Sums[b.block] {
			b.err = b.corrupt(fmt.Sprintf("CRC-32C %08x, expected %08x", got, b.seg.Sums[b.block]))
			return b.err
		}
	}
	b.block++
	b.off += n
	return nil
}

func (b *blockReader) corrupt(reason string) error {
	return &CorruptError{Source: b.seg.Source, Path: b.seg.Path, Offset: b.seg.Offset + b.off, Reason: reason}
}

func (b *blockReader) ReadByte() (byte, error) {
	if b.pos == len(b.buf) {
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	c := b.buf[b.pos]
	b.pos++
	return c, nil
}

func (b *blockReader) Read(p []byte) (int, error) {
	if b.pos == len(b.buf) {
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf[b.pos:])
	b.pos += n
	return n, nil
}

// Reader reads the records of a segment. It implements Stream.
type Reader struct {
	f      *os.File
	r      *blockReader
	left   int64
	key    []byte
	value  []byte
	ok     bool
	err    error
	seg    Segment
	closed bool
}

// OpenSegment opens a reader on seg; it holds one block in memory.
func OpenSegment(seg Segment) (*Reader, error) {
	f, err := os.Open(seg.Path)
	if err != nil {
		return nil, fmt.Errorf("open run: %w", err)
	}
	openReaders.open()
	br := &blockReader{src: io.NewSectionReader(f, seg.Offset, seg.Length), seg: seg, buf: make([]byte, 0, min(int64(BlockSize), seg.Length))}
	r := &Reader{f: f, r: br, left: seg.Length, seg: seg}
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
	var ce *CorruptError
	if errors.As(err, &ce) {
		r.err = ce
		return
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	r.err = &CorruptError{Source: r.seg.Source, Path: r.seg.Path, Offset: r.seg.Offset + r.seg.Length - r.left, Reason: err.Error()}
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	openReaders.close()
	return r.f.Close()
}

// openReaders counts the segment readers open in this process, and the
// most ever open at once: the merge fan-in is a bound on open files, and
// tests check it holds.
var openReaders gauge

type gauge struct{ now, peak atomic.Int64 }

func (g *gauge) open() {
	n := g.now.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
}

func (g *gauge) close() { g.now.Add(-1) }

// OpenReaders returns how many segment readers this process has open now
// and the most it had open at once since ResetOpenReadersPeak.
func OpenReaders() (now, peak int64) { return openReaders.now.Load(), openReaders.peak.Load() }

// ResetOpenReadersPeak starts the peak OpenReaders reports again from now.
func ResetOpenReadersPeak() { openReaders.peak.Store(openReaders.now.Load()) }

// SegmentChecker verifies a segment's bytes against its block checksums as
// they stream past (a shuffle fetch writing them to a file): Write never
// fails; Check reports the first damaged block, or a wrong length.
type SegmentChecker struct {
	seg      Segment
	sum      uint32
	blockLen int
	block    int
	n        int64
	err      error
}

// NewSegmentChecker checks bytes against seg's Sums and Length.
func NewSegmentChecker(seg Segment) *SegmentChecker { return &SegmentChecker{seg: seg} }

func (c *SegmentChecker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && c.err == nil {
		k := min(len(p), BlockSize-c.blockLen)
		c.sum = crc32.Update(c.sum, castagnoli, p[:k])
		c.blockLen += k
		c.n += int64(k)
		p = p[k:]
		if c.blockLen == BlockSize {
			c.endBlock()
		}
	}
	return n, nil
}

func (c *SegmentChecker) endBlock() {
	if c.seg.Sums != nil && c.err == nil {
		off := c.seg.Offset + c.n - int64(c.blockLen)
		switch {
		case c.block >= len(c.seg.Sums):
			c.err = &CorruptError{Source: c.seg.Source, Path: c.seg.Path, Offset: off, Reason: "more blocks than checksums"}
		case c.sum != c.seg.Sums[c.block]:
			c.err = &CorruptError{Source: c.seg.Source, Path: c.seg.Path, Offset: off, Reason: fmt.Sprintf("CRC-32C %08x, expected %08x", c.sum, c.seg.Sums[c.block])}
		}
	}
	c.block++
	c.sum, c.blockLen = 0, 0
}

// Check ends the stream and reports whether it was whole and undamaged.
func (c *SegmentChecker) Check() error {
	if c.err == nil && c.n != c.seg.Length {
		c.err = &CorruptError{Source: c.seg.Source, Path: c.seg.Path, Offset: c.seg.Offset + c.n, Reason: fmt.Sprintf("%d bytes of %d", c.n, c.seg.Length)}
	}
	if c.blockLen > 0 {
		c.endBlock()
	}
	return c.err
}
