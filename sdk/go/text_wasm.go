package wmr

import "unsafe"

// asciiWord is asciiWordGo (text.go) in hand-written WebAssembly
// (text_wasm.s): Go's wasm code for the same loop spent a word count's
// time going through its function's dispatch loop at every branch.
//
//go:noescape
func asciiWord(p unsafe.Pointer, i, n, readable int) (start, end int)

// newlineIn is indexNewlineGo in hand-written WebAssembly (text_wasm.s),
// 8 bytes at a time: the Go runtime's IndexByte for wasm looks at 4.
//
//go:noescape
func newlineIn(p unsafe.Pointer, n, readable int) int
