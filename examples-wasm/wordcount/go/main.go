// Command wordcount counts words: maximal runs of Unicode letters
// (unicode.IsLetter), case-sensitive. Output: word<TAB>count.
package main

import wmr "github.com/wmr-dev/wmr/sdk/go"

func init() {
	wmr.Register(wmr.Job{Map: mapWords, Reduce: wmr.Sum, Combine: wmr.Sum})
}

func main() {}

var one = []byte("1")

func mapWords(_, line []byte, emit *wmr.Emitter) error {
	for word := range wmr.Words(line) {
		emit.Emit(word, one)
	}
	return nil
}
