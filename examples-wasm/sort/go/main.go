// Command sort sorts text lines: run it with --partitioner range, and the
// part-r-* files read in order are every input line once, in bytewise
// order (LC_ALL=C sort). Each line is a key with an empty value, which the
// text output writes as the line alone.
package main

import wmr "github.com/wmr-dev/wmr/sdk/go"

func init() {
	wmr.Register(wmr.Job{Map: mapLine, Reduce: reduceLines})
}

func main() {}

func mapLine(_, line []byte, emit *wmr.Emitter) error {
	emit.Emit(line, nil)
	return nil
}

// reduceLines writes the line once per time it occurred.
func reduceLines(line []byte, values *wmr.Values, emit *wmr.Emitter) error {
	for values.Next() {
		emit.Emit(line, nil)
	}
	return values.Err()
}
