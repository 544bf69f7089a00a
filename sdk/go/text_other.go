//go:build !wasm

package wmr

import "unsafe"

// asciiWord is asciiWordGo natively.
func asciiWord(p unsafe.Pointer, i, n, readable int) (start, end int) {
	return asciiWordGo(p, i, n, readable)
}

// newlineIn is indexNewlineGo natively.
func newlineIn(p unsafe.Pointer, n, readable int) int { return indexNewlineGo(p, n, readable) }
