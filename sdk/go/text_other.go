//go:build !wasm

package wmr

import (
	"bytes"
	"unsafe"
)

// nextWord is asciiWordGo natively.
func nextWord(p unsafe.Pointer, i int, bounds uint64) (start, end int) {
	return asciiWordGo(p, i, int(uint32(bounds)), int(bounds>>32))
}

// newlineIn is the offset of the first '\n' in the n bytes at p, or -1
// (natively the runtime's IndexByte; no bytes past n are read).
func newlineIn(p unsafe.Pointer, n, _ int) int {
	return bytes.IndexByte(unsafe.Slice((*byte)(p), n), '\n')
}
