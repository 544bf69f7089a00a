package nodes

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// Shard checksums, as HDFS keeps them: every stored shard has a CRC-32C
// per 1 MiB block and one over the whole shard, written when the shard is
// stored and verified on every read, block by block before any byte of a
// block is handed on, so damaged data is never served.

// shardBlock is the span one block checksum covers.
const shardBlock = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a replica whose bytes do not match its checksums.
var errCorrupt = errors.New("corrupt")

// shardSum is a stored shard's checksums (the .crc file beside it, or the
// link of a shard published in place).
type shardSum struct {
	Length int64    `json:"length"`
	CRC    uint32   `json:"crc32c"`
	Block  int      `json:"block"`
	Blocks []uint32 `json:"blocks"`
	// Verified is when the scrubber (or a full read) last found the
	// replica intact; zero if never since it was written.
	Verified time.Time `json:"verified,omitzero"`
}

// summer computes a shardSum over the bytes written to it.
type summer struct {
	sum      shardSum
	block    uint32
	blockLen int
}

func newSummer() *summer { return &summer{sum: shardSum{Block: shardBlock}} }

func (s *summer) Write(p []byte) (int, error) {
	n := len(p)
	s.sum.CRC = crc32.Update(s.sum.CRC, castagnoli, p)
	s.sum.Length += int64(n)
	for len(p) > 0 {
		k := min(len(p), shardBlock-s.blockLen)
		s.block = crc32.Update(s.block, castagnoli, p[:k])
		s.blockLen += k
		p = p[k:]
		if s.blockLen == shardBlock {
			s.sum.Blocks = append(s.sum.Blocks, s.block)
			s.block, s.blockLen = 0, 0
		}
	}
	return n, nil
}

// result returns the checksums of everything written.
func (s *summer) result() shardSum {
	out := s.sum
	out.Blocks = append([]uint32(nil), s.sum.Blocks...)
	if s.blockLen > 0 {
		out.Blocks = append(out.Blocks, s.block)
	}
	return out
}

// sumOf computes the checksums of r's bytes.
func sumOf(r io.Reader) (shardSum, error) {
	s := newSummer()
	if _, err := io.Copy(s, r); err != nil {
		return shardSum{}, err
	}
	return s.result(), nil
}

// corruptError says which replica is damaged where.
type corruptError struct {
	what   string // "shard default/books/f00000-s00001 on node n2"
	offset int64
	reason string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("replica of %s is corrupt at byte %d: %s", e.what, e.offset, e.reason)
}

func (e *corruptError) Unwrap() error { return errCorrupt }

// verifiedReader reads a replica from byte offset start, handing on only
// blocks that match their checksums, and fails if the replica ends short
// or runs long. The first block may be entered part way (a resumed read).
type verifiedReader struct {
	src  io.Reader // positioned at the start of the block holding start
	sum  shardSum
	what string
	buf  []byte
	pos  int
	off  int64 // offset of the next block to read
	skip int   // bytes of the first block before start
	err  error
}

// newVerifiedReader reads src, which holds the whole replica, from start;
// src must be seekable to the block holding start (an io.ReaderAt does).
func newVerifiedReader(src io.ReaderAt, sum shardSum, what string, start int64) *verifiedReader {
	block := int64(sum.Block)
	if block <= 0 {
		block = shardBlock
	}
	first := start / block * block
	return &verifiedReader{src: io.NewSectionReader(src, first, sum.Length-first+1), sum: sum, what: what,
		buf: make([]byte, 0, min(block, max(sum.Length-first, 0)+1)), off: first, skip: int(start - first)}
}

func (v *verifiedReader) fail(off int64, reason string) error {
	v.err = &corruptError{what: v.what, offset: off, reason: reason}
	return v.err
}

func (v *verifiedReader) fill() error {
	if v.err != nil {
		return v.err
	}
	block := int64(v.sum.Block)
	if block <= 0 {
		block = shardBlock
	}
	want := min(block, v.sum.Length-v.off)
	if want <= 0 {
		// The replica must end where its checksums say.
		var extra [1]byte
		if n, _ := v.src.Read(extra[:]); n > 0 {
			return v.fail(v.off, fmt.Sprintf("longer than its %d bytes", v.sum.Length))
		}
		v.err = io.EOF
		return v.err
	}
	v.buf = v.buf[:want]
	if n, err := io.ReadFull(v.src, v.buf); err != nil {
		return v.fail(v.off+int64(n), fmt.Sprintf("ends after %d of %d bytes", v.off+int64(n), v.sum.Length))
	}
	i := int(v.off / block)
	if i >= len(v.sum.Blocks) {
		return v.fail(v.off, "more blocks than checksums")
	}
	if got := crc32.Checksum(v.buf, castagnoli); got != v.sum.Blocks[i] {
		return v.fail(v.off, fmt.Sprintf("CRC-32C %08x, expected %08x", got, v.sum.Blocks[i]))
	}
	v.off += want
	v.pos = min(v.skip, len(v.buf))
	v.skip = 0
	return nil
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	for v.pos == len(v.buf) {
		if err := v.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, v.buf[v.pos:])
	v.pos += n
	return n, nil
}

// verifyAll reads a replica through its checksums to the end.
func verifyAll(src io.ReaderAt, sum shardSum, what string) error {
	_, err := io.Copy(io.Discard, newVerifiedReader(src, sum, what, 0))
	return err
}
