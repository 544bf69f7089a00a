// Package kv reads and writes wmr's kv record files (abi/KV.md) in your
// own programs, outside any module: the part files of a job run with
// --output-format kv, or input for one. It is abi/kv under the SDK's
// name, with the standard library as its only dependency.
//
//	r := kv.NewReader(f, 0, -1)
//	for {
//		key, value, err := r.Next()
//		if err == io.EOF {
//			break
//		}
//		...
//	}
package kv

import (
	"io"

	abikv "github.com/wmr-dev/wmr/abi/kv"
)

// Reader reads records, verifying each block's checksum first.
type Reader = abikv.Reader

// Writer writes records in checksummed blocks.
type Writer = abikv.Writer

// ErrCorrupt is wrapped by every error about damaged or truncated data.
var ErrCorrupt = abikv.ErrCorrupt

// NewReader reads the kv stream r (which starts at offset off, a block
// boundary) up to the first block at or after end (end < 0: all of it).
func NewReader(r io.Reader, off, end int64) *Reader { return abikv.NewReader(r, off, end) }

// NewWriter writes a kv stream to w; Close flushes its last block.
func NewWriter(w io.Writer) *Writer { return abikv.NewWriter(w) }
