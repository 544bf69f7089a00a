// Command sumsquares adds up the squares of the integers in its input, one
// per line. Output: the single line sum_of_squares<TAB>N.
//
// It is the reduce-tree example: every record maps to the one key, and the
// combiner adds partial sums inside each map task, so the reducer sees one
// value per map task instead of one per record.
package main

import (
	"bytes"
	"fmt"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

func init() {
	wmr.Register(wmr.Job{Map: square, Reduce: wmr.Sum, Combine: wmr.Sum})
}

func main() {}

var key = []byte("sum_of_squares")

func square(_, line []byte, emit *wmr.Emitter) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	n, err := wmr.ParseInt(line)
	if err != nil {
		return fmt.Errorf("line is not an integer: %w", err)
	}
	emit.EmitInt(key, n*n)
	return nil
}
