// Command manyvalues is a test job without a combiner: every line maps to
// the key "k" (or to the line's first field with --param split=1), and the
// reducer emits how many values it saw and their total length, so a key's
// values all cross the boundary, streamed.
package main

import (
	"bytes"
	"strconv"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

var k = []byte("k")

func init() {
	wmr.Register(wmr.Job{
		Map: func(_, line []byte, emit *wmr.Emitter) error {
			key := k
			if wmr.Task().Param("split") == "1" {
				if i := bytes.IndexByte(line, ' '); i >= 0 {
					key = line[:i]
				}
			}
			emit.Emit(key, line)
			return nil
		},
		Reduce: func(key []byte, values *wmr.Values, emit *wmr.Emitter) error {
			var n, total int64
			for values.Next() {
				n++
				total += int64(len(values.Value()))
			}
			emit.Emit(key, []byte(strconv.FormatInt(n, 10)+" "+strconv.FormatInt(total, 10)))
			return nil
		},
	})
}

func main() {}
