// Command flood is a hostile module for tests: every input record makes it
// emit 64 GiB of output, far past any sane output limit.
package main

import wmr "github.com/wmr-dev/wmr/sdk/go"

var big = make([]byte, 1<<20)

func init() {
	wmr.Register(wmr.Job{
		Map: func(_, _ []byte, emit *wmr.Emitter) error {
			for i := 0; i < 64<<10; i++ {
				emit.Emit([]byte("flood"), big)
			}
			return nil
		},
		Reduce: func([]byte, *wmr.Values, *wmr.Emitter) error { return nil },
	})
}

func main() {}
