package task

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// Text blocks (ABI.md 4.5): for a module that splits lines itself
// (CapTextBlocks), a map task's text goes to the module as the file's
// bytes, whole lines at a time, read straight into the module's buffer.
// Framing each line as a record was most of a worker's host time in a
// word count (about a tenth of all its CPU): finding every line's end,
// then copying the line twice (into the batch, then into the module).

// offersTextBlocks says whether a map task of spec, reading format, may
// get its text as blocks: uncompressed text, no records to skip (the
// record path passes over them), and a line limit well above a block (a
// line within one block is not measured).
func offersTextBlocks(spec *Spec, format input.Format) bool {
	if (format.Kind != "" && format.Kind != input.Text) || format.Compression != "" || len(spec.SkipOffsets) > 0 {
		return false
	}
	return maxLine(spec) >= 4*blockBytes(spec)
}

func blockBytes(spec *Spec) int {
	if spec.BatchBytes > 0 {
		return spec.BatchBytes
	}
	return DefaultBatchBytes
}

func maxLine(spec *Spec) int {
	if spec.MaxLineBytes > 0 {
		return spec.MaxLineBytes
	}
	return input.DefaultMaxLine
}

// mapTextFunc runs the module's map on one text block (Instance.MapText).
type mapTextFunc func(room int, fill func(lines []byte) (n int, offset int64, err error)) error

// feedTextBlocks reads the lines split owns into blocks of about
// spec.BatchBytes and hands each to call. It keeps the record path's
// semantics: a split owns the lines that start in it, a line ends at "\n"
// (the module drops a "\r" before it), a last line without one is a line,
// and RecordsIn and BytesIn count as they would for records. A module
// error on one line comes back as a RecordError naming it.
func feedTextBlocks(ctx context.Context, spec *Spec, split input.Split, stats *Stats, call mapTextFunc) error {
	f, err := os.Open(split.File.Path)
	if err != nil {
		return fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	limit := maxLine(spec)
	end := split.Offset + split.Length
	start, err := firstLine(f, split, limit)
	if err != nil || start >= end {
		return err
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("seek input %s: %w", split.File.Path, err)
	}
	var carry []byte // the start of a line read past the last block's end
	at := start      // the file offset of carry[0]
	for done := false; !done; {
		room := blockBytes(spec)
		if len(carry)*2 > room {
			room = len(carry) * 2
		}
		var blockAt int64
		var lines int
		fill := func(buf []byte) (int, int64, error) {
			n := copy(buf, carry)
			r, err := io.ReadFull(f, buf[n:])
			eof := err == io.EOF || err == io.ErrUnexpectedEOF
			if err != nil && !eof {
				return 0, 0, fmt.Errorf("read input %s: %w", split.File.Path, err)
			}
			data := buf[:n+r]
			cut := -1 // the block's length; -1: no whole line yet
			if at+int64(len(data)) >= end {
				// The last line the split owns holds byte end-1.
				from := max(end-1-at, 0)
				if i := bytes.IndexByte(data[from:], '\n'); i >= 0 {
					cut, done = int(from)+i+1, true
				}
			}
			if cut < 0 {
				if eof {
					cut, done = len(data), true
				} else if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
					cut = i + 1
				}
			}
			if cut < 0 { // one line fills the buffer: read on in a larger one
				if len(data) > limit {
					return 0, 0, input.LineTooLong(split.File, at, limit)
				}
				carry = append(carry[:0], data...)
				return -1, 0, nil
			}
			if n > room/4 && firstLineLen(data, n) > limit { // the long line ends here
				return 0, 0, input.LineTooLong(split.File, at, limit)
			}
			if cut == 0 { // the split's end: nothing left
				return -1, 0, nil
			}
			// Taken before the call: the module may change its buffer.
			carry = append(carry[:0], data[cut:]...)
			lines = countLines(data[:cut], stats)
			blockAt, at = at, at+int64(cut)
			return cut, blockAt, nil
		}
		if err := call(room, fill); err != nil {
			if err == errStopFeed {
				return nil
			}
			var me *wasmhost.ModuleError
			if errors.As(err, &me) && me.Record >= 0 && me.Record < lines {
				if off, ok := nthLine(f, blockAt, me.Record); ok {
					return &RecordError{Input: split.File.Shown(), Offset: split.File.At(off), Err: err}
				}
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// firstLine returns the offset of the first line split owns: its start
// if the byte before it ends a line, else just past the next newline (a
// line that starts in the split before it belongs to the one before).
func firstLine(f *os.File, split input.Split, limit int) (int64, error) {
	if split.Offset == 0 {
		return 0, nil
	}
	buf := make([]byte, 64<<10)
	for at := split.Offset - 1; ; {
		n, err := f.ReadAt(buf, at)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return at + int64(i) + 1, nil
		}
		if err == io.EOF {
			return at + int64(n), nil // no line starts in the split
		}
		if err != nil {
			return 0, fmt.Errorf("read input %s: %w", split.File.Path, err)
		}
		at += int64(n)
		if at-split.Offset > int64(limit) {
			return 0, input.LineTooLong(split.File, split.Offset, limit)
		}
	}
}

// firstLineLen is the length of data's first line, newline included,
// knowing its first n bytes hold none.
func firstLineLen(data []byte, n int) int {
	if i := bytes.IndexByte(data[n:], '\n'); i >= 0 {
		return n + i + 1
	}
	return len(data)
}

// countLines counts block's lines into stats as the record path does:
// one record per line, its bytes without "\r\n" or "\n" plus one.
func countLines(block []byte, stats *Stats) int {
	n := bytes.Count(block, []byte{'\n'})
	size := int64(len(block)) - int64(bytes.Count(block, []byte("\r\n")))
	if len(block) > 0 && block[len(block)-1] != '\n' {
		n++ // the file's last line, without a newline
		size++
	}
	stats.RecordsIn += int64(n)
	stats.BytesIn += size
	return n
}

// nthLine finds the offset of line k of the block at offset at, reading
// the file again (the module's buffer is the module's).
func nthLine(f *os.File, at int64, k int) (int64, bool) {
	buf := make([]byte, 64<<10)
	off := at
	for k > 0 {
		n, err := f.ReadAt(buf, at)
		for i := range buf[:n] {
			if buf[i] == '\n' {
				if k--; k == 0 {
					return at + int64(i) + 1, true
				}
			}
		}
		if err != nil {
			return 0, false
		}
		at += int64(n)
	}
	return off, true
}
