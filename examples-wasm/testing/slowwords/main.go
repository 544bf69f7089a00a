// Command slowwords is word count made deliberately slow for cluster
// tests that kill nodes mid-phase: --param spin=N burns N loop iterations
// per input line in map, --param reduce_spin=N per key in reduce,
// --param combine_spin=N per key in a combine task of the reduce tree (modules
// have no clock, so the delay is work, and deterministic). Counters "lines"
// (map input lines) and "keys" (reduce groups) let tests check that only
// committed work is counted.
package main

import (
	"strconv"
	"unicode"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

var sink uint64

func spin(param string) {
	n, _ := strconv.Atoi(wmr.Task().Param(param))
	for i := 0; i < n; i++ {
		sink = sink*31 + uint64(i)
	}
}

func init() {
	wmr.Register(wmr.Job{
		Map: func(_, line []byte, emit *wmr.Emitter) error {
			spin("spin")
			wmr.Counter("lines", 1)
			start := -1
			for i, r := range string(line) {
				if unicode.IsLetter(r) {
					if start < 0 {
						start = i
					}
				} else if start >= 0 {
					emit.Emit(line[start:i], []byte("1"))
					start = -1
				}
			}
			if start >= 0 {
				emit.Emit(line[start:], []byte("1"))
			}
			return nil
		},
		Reduce: func(key []byte, values *wmr.Values, emit *wmr.Emitter) error {
			spin("reduce_spin")
			wmr.Counter("keys", 1)
			n, err := values.SumInts()
			emit.EmitInt(key, n)
			return err
		},
		Combine: func(key []byte, values *wmr.Values, emit *wmr.Emitter) error {
			if wmr.Task().TaskKind == "combine" {
				spin("combine_spin")
			}
			n, err := values.SumInts()
			emit.EmitInt(key, n)
			return err
		},
	})
}

func main() {}
