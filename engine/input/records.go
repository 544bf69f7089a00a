package input

import (
	"bufio"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/wmr-dev/wmr/abi/kv"
)

// Records reads the records a split owns, in order.
type Records interface {
	// Next returns the next record: its offset (in the file, or in the
	// uncompressed stream of a compressed file), which names it in errors
	// and skip lists, and its key and value, valid until the next call.
	// It returns io.EOF at the end of the split.
	Next() (offset int64, key, value []byte, err error)
	Close() error
}

// OpenRecords opens a reader of split's records in the split's file
// format. maxRecord bounds a text line (<= 0: DefaultMaxLine).
func OpenRecords(split Split, maxRecord int) (Records, error) {
	f := split.File.Format
	if f.Kind == "" {
		f.Kind = Text
	}
	var stream io.ReadCloser
	if f.Compression != "" {
		s, err := decompress(split.File.Path, f.Compression)
		if err != nil {
			return nil, err
		}
		stream = s
	}
	switch f.Kind {
	case Text:
		var lr *LineReader
		if stream != nil {
			lr = openLines(split, stream, f.Compression, maxRecord)
		} else {
			var err error
			if lr, err = Open(split, maxRecord); err != nil {
				return nil, err
			}
		}
		return &textRecords{lr: lr}, nil
	case Fixed:
		return openFixed(split, f, stream)
	case KV:
		return openKV(split, f, stream)
	}
	if stream != nil {
		stream.Close()
	}
	return nil, fmt.Errorf("unknown record format %q", f.Kind)
}

// textRecords: key = the line's offset, 8 bytes big-endian.
type textRecords struct {
	lr  *LineReader
	key [8]byte
}

func (t *textRecords) Next() (int64, []byte, []byte, error) {
	off, line, err := t.lr.Next()
	if err != nil {
		return 0, nil, nil, err
	}
	binary.BigEndian.PutUint64(t.key[:], uint64(off))
	return off, t.key[:], line, nil
}

func (t *textRecords) Close() error { return t.lr.Close() }

// decompress opens the whole file behind a decompressor.
func decompress(path, compression string) (io.ReadCloser, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	rc, err := newDecompressor(bufio.NewReaderSize(fh, 1<<20), compression, path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	return readCloser{rc, func() error { rc.Close(); return fh.Close() }}, nil
}

// newDecompressor decompresses r (called name in errors).
func newDecompressor(r io.Reader, compression, name string) (io.ReadCloser, error) {
	switch compression {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, badInput("input %s: not a gzip stream: %v", name, err)
		}
		return zr, nil
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, badInput("input %s: not a zstd stream: %v", name, err)
		}
		return readCloser{zr, func() error { zr.Close(); return nil }}, nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	}
	return nil, fmt.Errorf("unknown compression %q", compression)
}

// ReadStream reads every record of a stream in format f (one whole file or
// shard, decompressed here if f says so), as OpenRecords reads a split.
// name names the stream in errors. Close does not close r.
func ReadStream(r io.Reader, name string, f Format, maxRecord int) (Records, error) {
	stream := io.NopCloser(r)
	if f.Compression != "" {
		d, err := newDecompressor(r, f.Compression, name)
		if err != nil {
			return nil, err
		}
		stream = d
	}
	split := Split{File: File{Path: name, Name: name, Format: f}}
	switch f.Kind {
	case "", Text:
		return &textRecords{lr: openLines(split, stream, f.Compression, maxRecord)}, nil
	case Fixed:
		return openFixed(split, f, stream)
	case KV:
		return openKV(split, f, stream)
	}
	return nil, fmt.Errorf("unknown record format %q", f.Kind)
}

type readCloser struct {
	io.Reader
	close func() error
}

func (rc readCloser) Close() error { return rc.close() }

// fixedRecords: N-byte records; key = the record's offset. A split owns
// the records that start in it.
type fixedRecords struct {
	closer    io.Closer
	r         *bufio.Reader
	name      string
	base      int64 // of the file's byte 0 in the file name names
	size      int
	pos, end  int64
	rec       []byte
	key       [8]byte
	streaming bool // compressed: no size known in advance
}

func openFixed(split Split, f Format, stream io.ReadCloser) (Records, error) {
	n := int64(f.RecordSize)
	fr := &fixedRecords{name: split.File.Shown(), base: split.File.Base, size: f.RecordSize, rec: make([]byte, f.RecordSize)}
	if stream != nil {
		fr.closer, fr.r, fr.end, fr.streaming = stream, bufio.NewReaderSize(stream, 1<<20), math.MaxInt64, true
		return fr, nil
	}
	fh, err := os.Open(split.File.Path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	fr.pos = (split.Offset + n - 1) / n * n // the first record starting in the split
	fr.end = split.Offset + split.Length
	if _, err := fh.Seek(fr.pos, io.SeekStart); err != nil {
		fh.Close()
		return nil, fmt.Errorf("seek input %s: %w", split.File.Path, err)
	}
	fr.closer, fr.r = fh, bufio.NewReaderSize(fh, 1<<20)
	return fr, nil
}

func (fr *fixedRecords) Next() (int64, []byte, []byte, error) {
	if fr.pos >= fr.end {
		return 0, nil, nil, io.EOF
	}
	n, err := io.ReadFull(fr.r, fr.rec)
	switch {
	case err == io.EOF:
		return 0, nil, nil, io.EOF
	case err == io.ErrUnexpectedEOF:
		return 0, nil, nil, badInput("input %s ends inside a record: the record at byte %d has %d of its %d bytes (the input's length is not a multiple of the record size; check --input-format fixed:%d)", fr.name, fr.base+fr.pos, n, fr.size, fr.size)
	case err != nil && fr.streaming:
		return 0, nil, nil, badInput("input %s: the compressed stream is damaged after %d uncompressed bytes: %v", fr.name, fr.pos, err)
	case err != nil:
		return 0, nil, nil, fmt.Errorf("read input %s: %w", fr.name, err)
	}
	off := fr.pos
	fr.pos += int64(fr.size)
	binary.BigEndian.PutUint64(fr.key[:], uint64(off))
	return off, fr.key[:], fr.rec, nil
}

func (fr *fixedRecords) Close() error { return fr.closer.Close() }

// kvRecords: the records of the kv blocks that start in the split.
type kvRecords struct {
	closer io.Closer
	r      *kv.Reader
	file   File
}

func openKV(split Split, _ Format, stream io.ReadCloser) (Records, error) {
	if stream != nil {
		return &kvRecords{closer: stream, r: kv.NewReader(stream, 0, -1), file: split.File}, nil
	}
	fh, err := os.Open(split.File.Path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	start, err := kv.BlockStart(fh, split.Offset)
	if err == nil {
		_, err = fh.Seek(start, io.SeekStart)
	}
	if err != nil {
		fh.Close()
		return nil, badKV(split.File, err)
	}
	return &kvRecords{closer: fh, r: kv.NewReader(fh, start, split.Offset+split.Length), file: split.File}, nil
}

func (k *kvRecords) Next() (int64, []byte, []byte, error) {
	key, value, err := k.r.Next()
	if err != nil {
		if err == io.EOF {
			return 0, nil, nil, err
		}
		return 0, nil, nil, badKV(k.file, err)
	}
	return k.r.Offset(), key, value, nil
}

func (k *kvRecords) Close() error { return k.closer.Close() }

func badKV(f File, err error) error {
	var ce *kv.CorruptError
	if errors.As(err, &ce) {
		return badInput("input %s: kv block at byte %d: %s", f.Shown(), f.At(ce.Offset), ce.Reason)
	}
	return fmt.Errorf("read input %s: %w", f.Shown(), err)
}
