// Command wordcount counts words: maximal runs of Unicode letters
// (unicode.IsLetter), case-sensitive. Output: word<TAB>count.
package main

import (
	"unicode"
	"unicode/utf8"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

func init() {
	wmr.Register(wmr.Job{Map: mapWords, Reduce: wmr.Sum, Combine: wmr.Sum})
}

func main() {}

var one = []byte("1")

// isASCIILetter is unicode.IsLetter for the ASCII range.
var isASCIILetter = func() (t [128]bool) {
	for c := 0; c < 128; c++ {
		t[c] = unicode.IsLetter(rune(c))
	}
	return t
}()

func mapWords(_, line []byte, emit *wmr.Emitter) error {
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
			emit.Emit(line[start:i], one)
			start = -1
		}
		i += size
	}
	if start >= 0 {
		emit.Emit(line[start:], one)
	}
	return nil
}
