package input

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/wmr-dev/wmr/abi/kv"
)

// Record kinds: what one record of an input is.
const (
	Text  = "text"  // a line; key = its byte offset (8 bytes big-endian)
	Fixed = "fixed" // N bytes; key = its byte offset
	KV    = "kv"    // a key/value pair of a kv file (abi/kv)
)

// Compressions an input may have. A compressed file is one split: it is
// read from its start, and offsets count uncompressed bytes.
const (
	Gzip  = "gzip"
	Zstd  = "zstd"
	Bzip2 = "bzip2"
)

// MaxRecordSize bounds fixed:N.
const MaxRecordSize = 64 << 20

// ErrBadInput is wrapped by every error about input that does not hold
// the records its format says (a corrupt stream, a truncated record, a
// binary file read as text): retrying cannot help.
var ErrBadInput = errors.New("bad input")

// inputError is a bad-input error worded for people; it is ErrBadInput.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }
func (e *inputError) Unwrap() error { return ErrBadInput }

func badInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// Format is how a file is read: its record kind and its compression.
// The zero Format is "auto": decided per file by Resolve.
type Format struct {
	Kind        string // Text, Fixed or KV; "" for auto
	RecordSize  int    // Fixed
	Compression string // "", Gzip, Zstd or Bzip2
}

// Formats lists what ParseFormat accepts, for help texts.
const Formats = "auto (by file name and content), text, gzip, zstd, bzip2 (compressed text), fixed:N (N-byte records), kv"

// ParseFormat reads an --input-format value: "" or "auto", "text",
// "gzip", "zstd", "bzip2", "fixed:N", "kv", and for any kind a
// compression after a plus ("fixed:100+gzip"), as String writes them.
func ParseFormat(s string) (Format, error) {
	kind, comp, _ := strings.Cut(s, "+")
	var f Format
	switch {
	case kind == "" || kind == "auto":
		if comp != "" {
			return f, fmt.Errorf("input format %q: auto takes no compression", s)
		}
		return f, nil
	case kind == Text || kind == KV:
		f.Kind = kind
	case kind == Gzip || kind == Zstd || kind == Bzip2:
		f.Kind, f.Compression = Text, kind
	case strings.HasPrefix(kind, "fixed:"):
		n, err := strconv.Atoi(kind[len("fixed:"):])
		if err != nil || n < 1 || n > MaxRecordSize {
			return f, fmt.Errorf("input format %q: fixed:N needs a record size N from 1 to %d bytes", s, MaxRecordSize)
		}
		f.Kind, f.RecordSize = Fixed, n
	default:
		return f, fmt.Errorf("unknown input format %q: use %s", s, Formats)
	}
	switch comp {
	case "":
	case Gzip, Zstd, Bzip2:
		if f.Compression != "" {
			return f, fmt.Errorf("input format %q names two compressions", s)
		}
		f.Compression = comp
	default:
		return f, fmt.Errorf("input format %q: unknown compression %q (gzip, zstd or bzip2)", s, comp)
	}
	return f, nil
}

// String writes f as ParseFormat reads it.
func (f Format) String() string {
	var s string
	switch f.Kind {
	case "":
		return "auto"
	case Fixed:
		s = "fixed:" + strconv.Itoa(f.RecordSize)
	case Text:
		if f.Compression != "" {
			return f.Compression
		}
		s = Text
	default:
		s = f.Kind
	}
	if f.Compression != "" {
		s += "+" + f.Compression
	}
	return s
}

// RecordKind is the format without its compression: what a dataset
// records as its format ("text", "fixed:100", "kv").
func (f Format) RecordKind() Format { return Format{Kind: f.Kind, RecordSize: f.RecordSize} }

// Splittable says whether the file can be read in several splits.
func (f Format) Splittable() bool { return f.Compression == "" }

var extensions = map[string]string{".gz": Gzip, ".zst": Zstd, ".bz2": Bzip2}

var magics = []struct{ compression, magic string }{{Gzip, "\x1f\x8b"}, {Zstd, "\x28\xb5\x2f\xfd"}, {Bzip2, "BZh"}}

// sniffBytes is how much of a file Resolve looks at.
const sniffBytes = 4096

// Resolve decides how to read the file at path (called name for people)
// under the format the user asked for (auto when zero), looking at its name
// and first bytes: a .gz, .zst or .bz2 file is decompressed (unless the
// format names its compression), an auto file that starts with a kv block
// is kv, and a text file that looks compressed or binary is refused with
// a message naming --input-format, never read as garbage lines.
func Resolve(path, name string, asked Format) (Format, error) {
	f := asked
	head, err := readHead(path)
	if err != nil {
		return f, err
	}
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		ext = strings.ToLower(name[i:])
	}
	if f.Compression == "" {
		f.Compression = extensions[ext]
	}
	if f.Compression != "" {
		for _, m := range magics {
			if m.compression == f.Compression && !bytes.HasPrefix(head, []byte(m.magic)) && len(head) > 0 {
				return f, badInput("input %s is not %s data (it does not start with a %s header)", name, f.Compression, f.Compression)
			}
		}
		if f.Kind == "" {
			f.Kind = Text
		}
		return f, nil
	}
	if f.Kind == "" {
		f.Kind = Text
		if ext == ".kv" || bytes.HasPrefix(head, []byte(kv.Magic)) {
			f.Kind = KV
		}
	}
	if f.Kind == Text {
		for _, m := range magics {
			if bytes.HasPrefix(head, []byte(m.magic)) && (m.compression != Bzip2 || len(head) > 3 && head[3] >= '1' && head[3] <= '9') {
				return f, badInput("input %s looks like %s-compressed data, not text: name it with its extension (%s) or pass --input-format %s", name, m.compression, extOf(m.compression), m.compression)
			}
		}
		if bytes.HasPrefix(head, []byte(kv.Magic)) {
			return f, badInput("input %s is a kv file, not text: pass --input-format kv (or leave it auto)", name)
		}
		if i := bytes.IndexByte(head, 0); i >= 0 {
			return f, badInput("input %s has a NUL byte at offset %d, so it is binary, not text: pass --input-format fixed:N for fixed-size records or kv for a kv file", name, i)
		}
	}
	return f, nil
}

func extOf(compression string) string {
	for ext, c := range extensions {
		if c == compression {
			return ext
		}
	}
	return ""
}

func readHead(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	defer fh.Close()
	head := make([]byte, sniffBytes)
	n, err := io.ReadFull(fh, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("read input %s: %w", path, err)
	}
	return head[:n], nil
}
