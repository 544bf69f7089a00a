// Command teragen writes the sort benchmark's records (the same bytes as
// Hadoop's TeraGen for the same rows; package gensort). Its input is text
// lines "FIRST COUNT" (rows FIRST to FIRST+COUNT-1; one map task per split
// of them), --param rows=N is the total, and with --output-format
// fixed:100 the part files read in order are rows 0..N-1 in row order:
// each row goes to partition row*R/N. The key of each record is its row
// number (8 bytes big-endian), its value the 100-byte record.
package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/wmr-dev/wmr/examples-wasm/teragen/go/gensort"
	wmr "github.com/wmr-dev/wmr/sdk/go"
)

var rows uint64

func init() {
	wmr.Register(wmr.Job{
		Init: func(t *wmr.TaskContext) error {
			n, err := strconv.ParseUint(t.Param("rows"), 10, 64)
			if err != nil || n == 0 {
				return fmt.Errorf("teragen needs --param rows=N, the number of rows in all")
			}
			rows = n
			return nil
		},
		Map:       generate,
		Reduce:    writeRecord,
		Partition: byRow,
	})
}

func main() {}

func generate(_, line []byte, emit *wmr.Emitter) error {
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return nil
	}
	first, err1 := strconv.ParseUint(f[0], 10, 64)
	count, err2 := uint64(1), error(nil)
	if len(f) > 1 {
		count, err2 = strconv.ParseUint(f[1], 10, 64)
	}
	if err1 != nil || err2 != nil || len(f) > 2 || first+count > rows {
		return fmt.Errorf("want a line \"FIRST COUNT\" of rows below rows=%d, not %q", rows, line)
	}
	g := gensort.New(first)
	var key [8]byte
	rec := make([]byte, gensort.RecordSize)
	for r := first; r < first+count; r++ {
		g.Next(rec)
		binary.BigEndian.PutUint64(key[:], r)
		emit.Emit(key[:], rec)
	}
	return nil
}

func byRow(key []byte, n int) int {
	return int(binary.BigEndian.Uint64(key) * uint64(n) / rows)
}

func writeRecord(key []byte, values *wmr.Values, emit *wmr.Emitter) error {
	for values.Next() {
		emit.Emit(key, values.Value())
	}
	return values.Err()
}
