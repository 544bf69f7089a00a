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
		// nextWord finds each word as far as ASCII goes, eight bytes at a
		// time (in a module, in hand-written WebAssembly: text_wasm.s).
		// Only where a byte outside ASCII matters are runes decoded one at
		// a time.
		n := len(line)
		if n == 0 {
			return
		}
		// The bytes past the line that may be read: within the host's
		// batch (readableFrom), or the line's capacity.
		p, readable := unsafe.Pointer(unsafe.SliceData(line)), readableFrom(line)
		bounds := uint64(n) | uint64(readable)<<32 // both below 4 GiB: wasm32
		for i := 0; ; {
			// The common case, an ASCII word, is the one path without a
			// branch taken: in Go's wasm code each branch taken goes
			// through the function's dispatch table (br_table).
			start, end := nextWord(p, i, bounds)
			if start < end { // the common case first: the compiler lays it out next
				if !yield(line[start:end]) {
					return
				}
				i = end
				continue
			}
			if start == n { // the line's end
				return
			}
			if start == end { // a rune outside ASCII first
				if start, end = runeWord(line, start); start == end {
					i = end // not a letter
					continue
				}
			} else { // ASCII letters from end, then a rune outside ASCII at start
				start, end = end, wordEnd(line, start)
			}
			if !yield(line[start:end]) {
				return
			}
			i = end
		}
	}
}

// asciiWordGo is nextWord in Go. From i, it skips the ASCII bytes that
// are not letters, and returns
//   - at the first letter, the run of ASCII letters from there (start <
//     end) when the byte after it is ASCII or the line's end;
//   - when the byte after it is outside ASCII, that byte's offset and the
//     run's start (start > end: Words goes on rune by rune);
//   - at a byte outside ASCII first, start == end there;
//   - at n, (n, n).
//
// readable (at least n) is how many bytes from p may be read: 8 at a
// time, masking off those past n.
func asciiWordGo(p unsafe.Pointer, i, n, readable int) (start, end int) {
	whole := unsafe.Slice((*byte)(p), readable)
	for ; i < n; i += 8 {
		x := load8(whole, i)
		m, high := letters8(x, n-i)
		first := m | high
		if first == 0 {
			continue
		}
		first &= -first // the high bit of the first letter or byte outside ASCII
		if high&first != 0 {
			at := i + bits.TrailingZeros64(first)/8
			return at, at
		}
		start = i + bits.TrailingZeros64(first)/8
		// The word's end: the first byte that is not an ASCII letter. The
		// bytes past the line are not letters, so there is one, at most n.
		for before := first - 1; ; before = 0 {
			if ends := ^m & (0x80 * ones8) &^ before; ends != 0 {
				ends &= -ends
				end = i + bits.TrailingZeros64(ends)/8
				if ends&x != 0 && end < n { // outside ASCII (x is not masked past n)
					return end, start
				}
				return start, end
			}
			if i += 8; i >= n {
				return start, n
			}
			x = load8(whole, i)
			m, _ = letters8(x, n-i)
		}
	}
	return n, n
}

// load8 reads 8 bytes of whole from i, zero-padded past its end.
func load8(whole []byte, i int) uint64 {
	if i+8 <= len(whole) {
		return binary.LittleEndian.Uint64(whole[i:])
	}
	return load8Padded(whole, i)
}

const ones8 = 0x0101010101010101

// letters8 returns, for x (8 bytes of a line, the first at the lowest
// address) of which left are the line's, a mask with the high bit set in
// each byte that is an ASCII letter, and one with it set in each byte
// outside ASCII. Bytes past the line count as neither.
func letters8(x uint64, left int) (m, high uint64) {
	if left < 8 {
		x &= uint64(1)<<(8*left) - 1 // past the line: a NUL, no letter
	}
	t := x&^(0x80*ones8) | 0x20*ones8 // lower case; 0x20..0x7f, no carry below
	return (t + (0x80-'a')*ones8) &^ (t + (0x80-'z'-1)*ones8) &^ x & (0x80 * ones8), x & (0x80 * ones8)
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

// indexNewline is bytes.IndexByte(b, '\n') for a block of text lines,
// reading past b where readableFrom allows.
func indexNewline(b []byte) int {
	return newlineIn(unsafe.Pointer(unsafe.SliceData(b)), len(b), readableFrom(b))
}
