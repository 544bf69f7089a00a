package wmr

import (
	"iter"
	"unicode"
	"unicode/utf8"
)

// isASCIILetter is unicode.IsLetter for the ASCII range, the common case.
var isASCIILetter = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = unicode.IsLetter(rune(c))
	}
	return t
}()

// IsLetter reports whether r is a letter: unicode.IsLetter, the
// definition every wmr SDK shares (the Rust, C and AssemblyScript SDKs
// carry a table generated from it), so word-based jobs agree across
// languages.
func IsLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0 && isASCIILetter[r]
	}
	return unicode.IsLetter(r)
}

// Words yields the words of line, maximal runs of letters (IsLetter), as
// subslices of line. Invalid UTF-8 separates words, decoded as
// utf8.DecodeRune does.
//
//	for word := range wmr.Words(line) {
//		emit.Emit(word, one)
//	}
func Words(line []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		// Two tight loops, over separators and over letters, with ASCII
		// decided by one table lookup per byte: Go's wasm code runs this
		// loop for every byte of a word count's input.
		i, n := 0, len(line)
		for i < n {
			for i < n && line[i] < utf8.RuneSelf && !isASCIILetter[line[i]] {
				i++
			}
			start := i
			for i < n {
				if c := line[i]; c < utf8.RuneSelf {
					if !isASCIILetter[c] {
						break
					}
					i++
					continue
				}
				r, size := utf8.DecodeRune(line[i:])
				if !unicode.IsLetter(r) {
					break
				}
				i += size
			}
			if i > start {
				if !yield(line[start:i]) {
					return
				}
			} else if i < n { // a separator outside ASCII
				_, size := utf8.DecodeRune(line[i:])
				i += size
			}
		}
	}
}
