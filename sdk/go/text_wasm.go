package wmr

import "unsafe"

// nextWord is asciiWordGo (text.go) in hand-written WebAssembly
// (text_wasm.s): Go's wasm code for the same loop spent a word count's
// time going through its function's dispatch loop at every branch.
func nextWord(p unsafe.Pointer, i int, bounds uint64) (start, end int) {
	w := asciiWord(uint64(uintptr(p))|uint64(i)<<32, bounds)
	return int(uint32(w)), int(w >> 32)
}

// asciiWord is nextWord with its arguments and results packed two to a
// word: a call from Go's wasm code stores each argument to memory and
// the callee loads it, as it does the results.
//
//go:noescape
func asciiWord(at, bounds uint64) (word uint64)

// newlineIn is the offset of the first '\n' in the n bytes at p, or -1,
// in hand-written WebAssembly (text_wasm.s), 8 bytes at a time where
// readable (at least n) bytes from p allow: the Go runtime's IndexByte
// for wasm looks at 4.
//
//go:noescape
func newlineIn(p unsafe.Pointer, n, readable int) int
