package input

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultBlockSize is the default split size: files larger than this are
// read by several map tasks.
const DefaultBlockSize = 64 << 20

// DefaultMaxLine is the longest line a reader accepts by default.
const DefaultMaxLine = 64 << 20

// ErrNoInput is returned when the inputs name no files.
var ErrNoInput = errors.New("no input files")

// File is one input file.
type File struct {
	Path string // as found (relative paths stay relative)
	Name string // base name, reported to the module as its input file
	Size int64
	// Format is how the file is read (Resolve); the zero Format reads
	// it as uncompressed text.
	Format Format
	// Display and Base, when Display is set, name the file in errors as
	// the user knows it: Path is a cluster node's shard of the file
	// Display, whose byte 0 is byte Base of that file.
	Display string
	Base    int64
}

// Shown is how errors name the file; At is an offset in Path as an offset
// in that file.
func (f File) Shown() string {
	if f.Display != "" {
		return f.Display
	}
	return f.Path
}

func (f File) At(off int64) int64 { return f.Base + off }

// Expand resolves input arguments to regular files, sorted by path and
// without duplicates. An argument is a file, a directory (every regular
// file below it, recursively, skipping names that start with "." or "_"
// such as _SUCCESS), or a glob pattern. Each argument must match something.
func Expand(args []string) ([]File, error) {
	seen := map[string]bool{}
	var files []File
	add := func(path string, info fs.FileInfo) {
		if !seen[path] {
			seen[path] = true
			files = append(files, File{Path: path, Name: filepath.Base(path), Size: info.Size()})
		}
	}
	for _, arg := range args {
		matches := []string{arg}
		if strings.ContainsAny(arg, "*?[") {
			m, err := filepath.Glob(arg)
			if err != nil {
				return nil, fmt.Errorf("input pattern %q: %w", arg, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("input pattern %q matches no files", arg)
			}
			matches = m
		}
		for _, path := range matches {
			info, err := os.Stat(path)
			if err != nil {
				return nil, fmt.Errorf("input %s: %w", path, err)
			}
			if info.Mode().IsRegular() {
				add(path, info)
				continue
			}
			if !info.IsDir() {
				return nil, fmt.Errorf("input %s is not a regular file or directory", path)
			}
			err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if p != path && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.Type().IsRegular() {
					info, err := d.Info()
					if err != nil {
						return err
					}
					add(p, info)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("input directory %s: %w", path, err)
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoInput, strings.Join(args, ", "))
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// Split is a byte range [Offset, Offset+Length) of one file.
type Split struct {
	File   File
	Offset int64
	Length int64
}

// String names the split for people: path[offset:end].
func (s Split) String() string {
	return fmt.Sprintf("%s[%d:%d]", s.File.Path, s.Offset, s.Offset+s.Length)
}

// Plan cuts files into splits of at most blockSize bytes (the last split
// of a file may be up to 10% longer rather than leave a sliver, as Hadoop
// does; for fixed-size records, a multiple of the record size). An empty
// file gets one empty split so it still counts as input, and a compressed
// file one split of all of it.
func Plan(files []File, blockSize int64) []Split {
	if blockSize <= 0 {
		blockSize = DefaultBlockSize
	}
	var splits []Split
	for _, f := range files {
		if f.Size == 0 || !f.Format.Splittable() {
			splits = append(splits, Split{File: f, Length: f.Size})
			continue
		}
		bs := blockSize
		if f.Format.Kind == Fixed { // splits end at record boundaries
			n := int64(f.Format.RecordSize)
			bs = max(bs/n, 1) * n
		}
		for off := int64(0); off < f.Size; {
			n := min(bs, f.Size-off)
			if rest := f.Size - off - n; rest > 0 && rest < bs/10 {
				n += rest
			}
			splits = append(splits, Split{File: f, Offset: off, Length: n})
			off += n
		}
	}
	return splits
}

// LineReader reads the lines a split owns. It is not safe for concurrent
// use.
type LineReader struct {
	closer  io.Closer
	r       *bufio.Reader
	split   Split
	pos     int64 // offset of the next unread byte (in the uncompressed stream)
	maxLine int
	long    []byte
	done    bool
	// compression names the stream's compression, for errors.
	compression string
}

// Open opens a reader for split of an uncompressed text file. maxLine <= 0
// means DefaultMaxLine.
func Open(split Split, maxLine int) (*LineReader, error) {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	f, err := os.Open(split.File.Path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	lr := &LineReader{closer: f, split: split, maxLine: maxLine}
	start := split.Offset
	if start > 0 {
		// Step back one byte: if it is a newline, a line starts exactly at
		// Offset and belongs to this split.
		start--
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek input %s: %w", split.File.Path, err)
	}
	lr.r = bufio.NewReaderSize(f, 1<<20)
	lr.pos = start
	if split.Offset > 0 {
		if _, err := lr.readLine(); err != nil && err != io.EOF {
			f.Close()
			return nil, err
		}
	}
	return lr, nil
}

// openLines reads every line of a decompressed stream (the split of a
// compressed file is all of it).
func openLines(split Split, stream io.ReadCloser, compression string, maxLine int) *LineReader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	split.Offset, split.Length = 0, math.MaxInt64
	return &LineReader{closer: stream, r: bufio.NewReaderSize(stream, 1<<20), split: split, maxLine: maxLine, compression: compression}
}

// Close closes the file.
func (lr *LineReader) Close() error { return lr.closer.Close() }

// Next returns the next line's file offset and content without its line
// ending ("\n" or "\r\n"). The slice is valid until the next call. At the
// end of the split it returns io.EOF.
func (lr *LineReader) Next() (offset int64, line []byte, err error) {
	if lr.done || lr.pos >= lr.split.Offset+lr.split.Length {
		lr.done = true
		return 0, nil, io.EOF
	}
	offset = lr.pos
	line, err = lr.readLine()
	if err == io.EOF {
		lr.done = true
		if len(line) == 0 {
			return 0, nil, io.EOF
		}
		err = nil
	}
	if err != nil {
		return 0, nil, err
	}
	return offset, line, nil
}

// readLine reads through the next newline and returns the line without it.
func (lr *LineReader) readLine() ([]byte, error) {
	b, err := lr.r.ReadSlice('\n')
	lr.pos += int64(len(b))
	if err == bufio.ErrBufferFull {
		lr.long = append(lr.long[:0], b...)
		for err == bufio.ErrBufferFull {
			if len(lr.long) > lr.maxLine {
				return nil, LineTooLong(lr.split.File, lr.pos-int64(len(lr.long)), lr.maxLine)
			}
			b, err = lr.r.ReadSlice('\n')
			lr.pos += int64(len(b))
			lr.long = append(lr.long, b...)
		}
		b = lr.long
	}
	if err != nil && err != io.EOF {
		if lr.compression != "" {
			return nil, badInput("input %s: the %s stream is damaged after %d uncompressed bytes: %v", lr.split.File.Shown(), lr.compression, lr.pos, err)
		}
		return nil, fmt.Errorf("read input %s: %w", lr.split.File.Path, err)
	}
	if len(b) > lr.maxLine {
		return nil, LineTooLong(lr.split.File, lr.pos-int64(len(b)), lr.maxLine)
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	} else if err == nil {
		panic("bufio.ReadSlice returned a line without newline and no error")
	}
	return b, err
}

// LineTooLong is the error for a line of f, at offset at in f's Path,
// longer than limit bytes.
func LineTooLong(f File, at int64, limit int) error {
	return fmt.Errorf("input %s: the line at byte %d is longer than the %d MiB limit", f.Shown(), f.At(at), limit>>20)
}
