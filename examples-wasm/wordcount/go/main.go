// Command wordcount counts words: maximal runs of Unicode letters
// (unicode.IsLetter), case-sensitive. Output: word<TAB>count.
package main

import (
	"unicode"
	"unicode/utf8"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

func init() {
	wmr.Register(wmr.Job{Map: mapWords, Reduce: sum, Combine: sum})
}

func main() {}

var one = []byte("1")

// class says what a byte starts: a separator (0), an ASCII letter (1) or a
// multi-byte UTF-8 sequence to decode (2).
var class = func() (t [256]byte) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= utf8.RuneSelf:
			t[c] = 2
		case unicode.IsLetter(rune(c)):
			t[c] = 1
		}
	}
	return t
}()

// mapWords emits (word, 1) for every maximal run of letters. ASCII is
// scanned a byte at a time; other runes are decoded and tested with
// unicode.IsLetter.
func mapWords(_, line []byte, emit *wmr.Emitter) error {
	i, n := 0, len(line)
	for i < n {
		// Skip separators.
		for i < n && class[line[i]] == 0 {
			i++
		}
		start := i
		for i < n {
			c := class[line[i]]
			if c == 1 {
				i++
				continue
			}
			if c == 0 {
				break
			}
			r, size := utf8.DecodeRune(line[i:])
			if !unicode.IsLetter(r) {
				break
			}
			i += size
		}
		if i > start {
			emit.Emit(line[start:i], one)
		} else if i < n {
			// A non-letter multi-byte rune: skip it.
			_, size := utf8.DecodeRune(line[i:])
			i += size
		}
	}
	return nil
}

func sum(word []byte, counts *wmr.Values, emit *wmr.Emitter) error {
	n, err := counts.SumInts()
	if err != nil {
		return err
	}
	emit.EmitInt(word, n)
	return nil
}
