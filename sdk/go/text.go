package wmr

import (
	"encoding/binary"
	"iter"
	"math/bits"
	"unicode"
	"unicode/utf8"
	"unsafe"
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
		// Eight bytes at a time: a mask of the ASCII letters among them and
		// one of the bytes outside ASCII, from a few 64-bit operations
		// (Go's wasm code pays for every byte a loop touches). Only where a
		// byte outside ASCII matters are runes decoded one at a time.
		i, n := 0, len(line)
		if n == 0 {
			return
		}
		// The bytes past the line that may be read: within the host's
		// batch (readableFrom), or the line's capacity.
		whole := unsafe.Slice(unsafe.SliceData(line), readableFrom(line))
		for i < n {
			var x uint64
			if i+8 <= len(whole) {
				x = binary.LittleEndian.Uint64(whole[i:])
			} else {
				x = load8Padded(whole, i)
			}
			m, high := letters8(x, n-i)
			// The word's first letter: among the bytes before the first
			// one outside ASCII (all 8 when there is none).
			before := high&-high - 1
			if m&before == 0 {
				if high == 0 {
					i += 8
					continue
				}
				start, end := runeWord(line, i+bits.TrailingZeros64(high)/8)
				if i = end; start < end && !yield(line[start:end]) {
					return
				}
				continue
			}
			start := i + bits.TrailingZeros64(m&before)/8
			// Its end: the first non-letter after start. The bytes past the
			// line are not letters, so there is one.
			from := uint64(1)<<(8*(start-i)) - 1 // the window's bytes before start
			for {
				if ends := ^m & 0x8080808080808080 &^ from; ends != 0 {
					i = min(i+bits.TrailingZeros64(ends)/8, n)
					break
				}
				i += 8
				if i+8 <= len(whole) {
					x = binary.LittleEndian.Uint64(whole[i:])
				} else {
					x = load8Padded(whole, i)
				}
				m, _ = letters8(x, n-i)
				from = 0
			}
			if i < n && line[i] >= utf8.RuneSelf {
				i = wordEnd(line, i)
			}
			if !yield(line[start:i]) {
				return
			}
			if i < n && line[i] < utf8.RuneSelf {
				i++ // the separator
			}
		}
	}
}

// letters8 returns, for x (8 bytes of a line, the first at the lowest
// address) of which left are the line's, a mask with the high bit set in
// each byte that is an ASCII letter, and one with it set in each byte
// outside ASCII. Bytes past the line count as neither. It is small enough
// to inline: a call per 8 bytes cost more than its work in Go's wasm code.
func letters8(x uint64, left int) (m, high uint64) {
	const ones = 0x0101010101010101
	if left < 8 {
		x &= uint64(1)<<(8*left) - 1 // past the line: a NUL, no letter
	}
	t := x&^(0x80*ones) | 0x20*ones // lower case; 0x20..0x7f, no carry below
	return (t + (0x80-'a')*ones) &^ (t + (0x80-'z'-1)*ones) &^ x & (0x80 * ones), x & (0x80 * ones)
}

// load8Padded reads 8 bytes of whole from i, zero-padded past its end
// (rare: kept out of line).
//
//go:noinline
func load8Padded(whole []byte, i int) uint64 {
	var b [8]byte
	copy(b[:], whole[i:])
	return binary.LittleEndian.Uint64(b[:])
}

// runeWord looks at the rune at i, outside ASCII: the word it begins
// (start < end), or the separator it is (start == end, past it).
func runeWord(line []byte, i int) (start, end int) {
	r, size := utf8.DecodeRune(line[i:])
	if !unicode.IsLetter(r) {
		return i + size, i + size
	}
	return i, wordEnd(line, i)
}

// wordEnd returns where the word that goes on at i ends, one rune at a
// time.
func wordEnd(line []byte, i int) int {
	for i < len(line) {
		if c := line[i]; c < utf8.RuneSelf {
			if !isASCIILetter[c] {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(line[i:])
		if !unicode.IsLetter(r) {
			return i
		}
		i += size
	}
	return i
}
