// Command finish exercises the end-of-task hook (wmr.Job.Finish, the ABI's
// wmr_finish): Map only counts its lines and emits ("lines", n) when the
// map task ends; Reduce sums, and its Finish emits ("keys", number of keys
// the reduce task saw). --param fail=map or fail=reduce makes that task's
// Finish return an error. Each map task also logs its line count and adds
// it to the counter map_lines.
package main

import (
	"errors"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

var lines, keys int64

func init() {
	wmr.Register(wmr.Job{
		Init: func(*wmr.TaskContext) error {
			lines, keys = 0, 0
			return nil
		},
		Map: func(_, _ []byte, _ *wmr.Emitter) error {
			lines++
			return nil
		},
		Reduce: func(key []byte, values *wmr.Values, emit *wmr.Emitter) error {
			keys++
			return wmr.Sum(key, values, emit)
		},
		Finish: func(emit *wmr.Emitter) error {
			t := wmr.Task()
			if t.Param("fail") == t.TaskKind {
				return errors.New("finish refused on purpose")
			}
			if t.TaskKind == "map" {
				wmr.Log(1, "map task %s saw %d lines", t.TaskID, lines) // for the module-log tests
				wmr.Counter("map_lines", lines)                         // for the dashboard test
				emit.EmitInt([]byte("lines"), lines)
			} else {
				emit.EmitInt([]byte("~keys"), keys) // after every key: output stays sorted
			}
			return nil
		},
	})
}

func main() {}
