// Command indexer builds an inverted index: for every word (a maximal run
// of Unicode letters), the input files that contain it. Output:
// word<TAB>n doc1,doc2,... where the docs are the input files' base names,
// sorted, each once, and n is how many.
package main

import (
	"bytes"
	"slices"
	"strconv"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

func init() {
	wmr.Register(wmr.Job{Map: mapWords, Reduce: reduceDocs, Combine: combineDocs})
}

func main() {}

func mapWords(_, line []byte, emit *wmr.Emitter) error {
	doc := []byte(wmr.Task().InputFile)
	for word := range wmr.Words(line) {
		emit.Emit(word, doc)
	}
	return nil
}

// docs collects the distinct document names among values, each of which
// is a comma-separated list of names (a combiner's output) or one name.
func docs(values *wmr.Values) [][]byte {
	var out [][]byte
	for values.Next() {
		for _, d := range bytes.Split(values.Value(), []byte(",")) {
			out = append(out, bytes.Clone(d))
		}
		// Keep memory bounded by the number of distinct docs.
		if len(out) > 4096 {
			out = uniq(out)
		}
	}
	return uniq(out)
}

func uniq(ds [][]byte) [][]byte {
	slices.SortFunc(ds, bytes.Compare)
	return slices.CompactFunc(ds, bytes.Equal)
}

func combineDocs(word []byte, values *wmr.Values, emit *wmr.Emitter) error {
	emit.Emit(word, bytes.Join(docs(values), []byte(",")))
	return nil
}

func reduceDocs(word []byte, values *wmr.Values, emit *wmr.Emitter) error {
	ds := docs(values)
	out := strconv.AppendInt(nil, int64(len(ds)), 10)
	out = append(out, ' ')
	out = append(out, bytes.Join(ds, []byte(","))...)
	emit.Emit(word, out)
	return nil
}
