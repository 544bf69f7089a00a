//go:build !wasm

package wmr

import "unsafe"

// nextWord is asciiWordGo natively.
func nextWord(p unsafe.Pointer, i int, bounds uint64) (start, end int) {
	return asciiWordGo(p, i, int(uint32(bounds)), int(bounds>>32))
}

// newlineIn is indexNewlineGo natively.
func newlineIn(p unsafe.Pointer, n, readable int) int { return indexNewlineGo(p, n, readable) }
