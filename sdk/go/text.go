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
		start := -1
		for i := 0; i < len(line); {
			c := line[i]
			letter, size := false, 1
			if c < utf8.RuneSelf {
				letter = isASCIILetter[c]
			} else {
				var r rune
				r, size = utf8.DecodeRune(line[i:])
				letter = unicode.IsLetter(r)
			}
			if letter {
				if start < 0 {
					start = i
				}
			} else if start >= 0 {
				if !yield(line[start:i]) {
					return
				}
				start = -1
			}
			i += size
		}
		if start >= 0 {
			yield(line[start:])
		}
	}
}
